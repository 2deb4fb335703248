#!lua
-- Adds a signed delta to one counter field of an entity, once per idempotency key.
-- Refuses (and changes nothing) when the entity is missing, the result would be negative or too large.
-- KEYS[1] entity hash, KEYS[2] idempotency record ('' = none)
-- ARGV[1] field, ARGV[2] signed delta, ARGV[3] record ttl (s), ARGV[4] refusal code for "below zero"
-- Returns "OK:<new value>" or "ERR:<CODE>"; a repeated key returns the first answer.
if KEYS[2] ~= '' then
  local previous = redis.call('GET', KEYS[2])
  if previous then return previous end
end
local result
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then
  result = 'ERR:NOT_FOUND'
else
  local updated = tonumber(current) + tonumber(ARGV[2])
  if updated < 0 then
    result = 'ERR:' .. ARGV[4]
  elseif updated > 9007199254740991 then
    result = 'ERR:OVERFLOW'
  else
    result = 'OK:' .. string.format('%.0f', redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2]))
  end
end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], result, 'EX', ARGV[3]) end
return result
