-- Persists a new saga at its first step, unless a saga with this id exists already.
-- KEYS[1] saga hash, KEYS[2] active-sagas sorted set
-- ARGV[1] saga id, ARGV[2] saga data (JSON), ARGV[3] now (ms)
-- Returns 1 when created, 0 when it existed.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'phase', 'forward', 'step', '0')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
