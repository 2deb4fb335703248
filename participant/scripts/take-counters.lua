#!lua
-- A saga step: takes amounts from several counters, all or nothing, once per saga.
-- KEYS[1] record of this take, KEYS[2..] entity hashes (one may repeat: amounts add up)
-- ARGV[1] field, ARGV[2] record ttl (s), ARGV[3] refusal code, ARGV[4..] amounts, one per entity key
-- Returns and stores "OK" or "ERR:<CODE>"; a redelivered command gets the stored answer (marked
-- "REPLAY:" so that replays can be counted), no second effect.
local previous = redis.call('GET', KEYS[1])
if previous then return 'REPLAY:' .. previous end
local need, keys = {}, {}
for i = 2, #KEYS do
  local key = KEYS[i]
  if not need[key] then
    need[key] = 0
    keys[#keys + 1] = key
  end
  need[key] = need[key] + tonumber(ARGV[i + 2])
end
local result = 'OK'
for _, key in ipairs(keys) do
  local current = redis.call('HGET', key, ARGV[1])
  if not current then
    result = 'ERR:NOT_FOUND'
    break
  end
  if tonumber(current) < need[key] then
    result = 'ERR:' .. ARGV[3]
    break
  end
end
if result == 'OK' then
  -- Zero amounts are skipped: Lua would format -0 as "-0", which HINCRBY refuses.
  for _, key in ipairs(keys) do
    if need[key] > 0 then redis.call('HINCRBY', key, ARGV[1], -need[key]) end
  end
end
redis.call('SET', KEYS[1], result, 'EX', ARGV[2])
return result
