-- Moves a saga to its next position, only from the position the caller saw: a duplicate or late reply,
-- or a second orchestrator handling the same reply, changes nothing.
-- KEYS[1] saga hash, KEYS[2] active-sagas sorted set
-- ARGV[1] saga id, ARGV[2] expected phase, ARGV[3] expected step, ARGV[4] new phase, ARGV[5] new step,
-- ARGV[6] failure reason ('' = none), ARGV[7] now (ms), ARGV[8] ttl (s) of a finished saga
-- Returns 1 when moved, 0 otherwise.
local current = redis.call('HMGET', KEYS[1], 'phase', 'step')
if current[1] ~= ARGV[2] or current[2] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'phase', ARGV[4], 'step', ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[6]) end
if ARGV[4] == 'done' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[8])
else
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
end
return 1
