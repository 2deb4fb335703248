#!lua
-- Moves an order's checkout saga to its next step, only from the position the caller saw: a duplicate
-- or late reply, or a second replica handling the same reply, changes nothing.
-- KEYS[1] order hash, KEYS[2] pending-checkouts sorted set
-- ARGV[1] saga id, ARGV[2] expected phase, ARGV[3] expected step, ARGV[4] new phase, ARGV[5] new step,
-- ARGV[6] failure reason ('' = none), ARGV[7] now (ms), ARGV[8] order id
-- Returns 1 when moved, 0 otherwise.
local at = redis.call('HMGET', KEYS[1], 'checkout', 'phase', 'step')
if at[1] ~= ARGV[1] or at[2] ~= ARGV[2] or at[3] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'phase', ARGV[4], 'step', ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[6]) end
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[8])
return 1
