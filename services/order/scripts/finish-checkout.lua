#!lua
-- Ends an order's checkout saga from the position the caller saw: marks the order paid (or leaves it
-- unpaid after a refusal), frees it for another checkout, and records the outcome once per saga.
-- KEYS[1] order hash, KEYS[2] outcome record of the saga, KEYS[3] pending-checkouts sorted set
-- ARGV[1] saga id, ARGV[2] expected phase, ARGV[3] expected step, ARGV[4] outcome ("paid" or
-- "failed:<REASON>"), ARGV[5] record ttl (s), ARGV[6] order id
-- Returns {'DONE', origin} when this call finished it (origin: the replica whose request waits),
-- {'REPLAY', outcome} when it was finished before, {'STALE'} when the saga is not where the caller saw it.
local previous = redis.call('GET', KEYS[2])
if previous then return {'REPLAY', previous} end
local at = redis.call('HMGET', KEYS[1], 'checkout', 'phase', 'step', 'origin')
if at[1] ~= ARGV[1] or at[2] ~= ARGV[2] or at[3] ~= ARGV[3] then return {'STALE'} end
if ARGV[4] == 'paid' then redis.call('HSET', KEYS[1], 'paid', '1') end
redis.call('HDEL', KEYS[1], 'checkout', 'phase', 'step', 'reason', 'origin')
redis.call('ZREM', KEYS[3], ARGV[6])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
return {'DONE', at[4] or ''}
