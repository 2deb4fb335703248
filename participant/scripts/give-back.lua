#!lua
-- A compensation: returns what a take-counters step took, once per saga.
-- If the take never ran, it is fenced off so that a late delivery of it cannot take anything.
-- KEYS[1] record of this give-back, KEYS[2] record of the take it undoes, KEYS[3..] entity hashes
-- ARGV[1] field, ARGV[2] record ttl (s), ARGV[3..] amounts, one per entity key (ARGV[i] goes with KEYS[i])
-- Returns "OK", or "REPLAY:OK" for a redelivered command.
local previous = redis.call('GET', KEYS[1])
if previous then return 'REPLAY:' .. previous end
local taken = redis.call('GET', KEYS[2])
if taken == 'OK' then
  for i = 3, #KEYS do redis.call('HINCRBY', KEYS[i], ARGV[1], ARGV[i]) end
elseif not taken then
  redis.call('SET', KEYS[2], 'ERR:CANCELLED', 'EX', ARGV[2])
end
redis.call('SET', KEYS[1], 'OK', 'EX', ARGV[2])
return 'OK'
