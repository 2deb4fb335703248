-- Records the final outcome of a checkout saga on its order, once per saga.
-- KEYS[1] order hash, KEYS[2] outcome record of the saga, KEYS[3] pending-checkouts sorted set
-- ARGV[1] saga id, ARGV[2] outcome ("paid" or "failed:<REASON>"), ARGV[3] record ttl (s), ARGV[4] order id
-- Returns the outcome recorded; for a repeated command, the first one marked "REPLAY:".
local previous = redis.call('GET', KEYS[2])
if previous then return 'REPLAY:' .. previous end
if redis.call('HGET', KEYS[1], 'checkout') == ARGV[1] then
  if ARGV[2] == 'paid' then redis.call('HSET', KEYS[1], 'paid', '1') end
  redis.call('HDEL', KEYS[1], 'checkout')
  redis.call('ZREM', KEYS[3], ARGV[4])
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return ARGV[2]
