#!lua
-- Creates (or overwrites) an entity hash, once per idempotency key.
-- KEYS[1] entity hash, KEYS[2] idempotency record ('' = none)
-- ARGV[1] record ttl (s), ARGV[2] entity id, ARGV[3..] field/value pairs
if KEYS[2] ~= '' then
  local previous = redis.call('GET', KEYS[2])
  if previous then return previous end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
local result = 'OK:' .. ARGV[2]
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], result, 'EX', ARGV[1]) end
return result
