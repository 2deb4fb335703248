#!lua
-- Starts the checkout saga of an order, or finds the one this request already started.
-- One saga per order at a time: its id and position live on the order until it finishes, and the
-- order sits in the pending set (scored by its last move) so that a stalled saga is resumed.
-- KEYS[1] order hash, KEYS[2] idempotency record ('' = none), KEYS[3] pending-checkouts sorted set
-- ARGV[1] new saga id, ARGV[2] now (ms), ARGV[3] record ttl (s), ARGV[4] order id,
-- ARGV[5] the saga's first step, ARGV[6] the replica whose request waits for the outcome
-- Returns {'START', sagaId, userId, items, total}, {'JOIN', sagaId} or {'ERR:<CODE>'}.
if KEYS[2] ~= '' then
  local previous = redis.call('GET', KEYS[2])
  if previous then return {'JOIN', previous} end
end
local order = redis.call('HMGET', KEYS[1], 'paid', 'checkout', 'user_id', 'items', 'total')
if not order[1] then return {'ERR:NOT_FOUND'} end
if order[1] == '1' then return {'ERR:ALREADY_PAID'} end
if order[2] then return {'ERR:CHECKOUT_IN_PROGRESS'} end
redis.call('HSET', KEYS[1], 'checkout', ARGV[1], 'phase', 'forward', 'step', ARGV[5], 'origin', ARGV[6])
redis.call('HDEL', KEYS[1], 'reason')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3]) end
return {'START', ARGV[1], order[3], order[4], order[5]}
