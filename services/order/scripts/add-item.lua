#!lua
-- Adds quantity of an item to an open order (merging lines of the same item), once per idempotency key.
-- Lines are stored as "itemId=qty;itemId=qty" (ids never contain '=' or ';').
-- KEYS[1] order hash, KEYS[2] idempotency record ('' = none)
-- ARGV[1] item id, ARGV[2] quantity, ARGV[3] unit price, ARGV[4] record ttl (s)
-- Returns "OK:<new total>" or "ERR:<CODE>".
if KEYS[2] ~= '' then
  local previous = redis.call('GET', KEYS[2])
  if previous then return previous end
end
local MAX = 9007199254740991
local result
local order = redis.call('HMGET', KEYS[1], 'paid', 'checkout', 'total', 'items')
if not order[1] then
  result = 'ERR:NOT_FOUND'
elseif order[1] == '1' then
  result = 'ERR:ALREADY_PAID'
elseif order[2] then
  result = 'ERR:CHECKOUT_IN_PROGRESS'
else
  local quantity = tonumber(ARGV[2])
  local total = tonumber(order[3]) + quantity * tonumber(ARGV[3])
  local lines, merged, overflow = {}, false, total > MAX
  for id, qty in string.gmatch(order[4], '([^=;]+)=(%d+)') do
    qty = tonumber(qty)
    if id == ARGV[1] then
      qty = qty + quantity
      merged = true
      if qty > MAX then overflow = true end
    end
    lines[#lines + 1] = id .. '=' .. string.format('%.0f', qty)
  end
  if not merged then lines[#lines + 1] = ARGV[1] .. '=' .. ARGV[2] end
  if overflow then
    result = 'ERR:OVERFLOW'
  else
    local totalText = string.format('%.0f', total)
    redis.call('HSET', KEYS[1], 'total', totalText, 'items', table.concat(lines, ';'))
    result = 'OK:' .. totalText
  end
end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], result, 'EX', ARGV[4]) end
return result
