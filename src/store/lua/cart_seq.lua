-- Reserves a block of cart numbers.
--
-- KEYS[1]  the counter                trolley:cart-seq
-- ARGV[1]  block size                 ARGV[2]  the highest number this replica
--                                              has handed out (0 if none)
-- Returns  {last number of the block, 1 if the counter had gone backwards else 0}
--
-- Atomic, so the check and the repair are one step. A counter below numbers this
-- replica already handed out means Redis lost it (a restart with its data lost, a
-- failover that lost the last INCRBY); it is moved past them, so this replica
-- never hands a number out twice. (Other replicas repair it the same way; a
-- number reused anyway is caught by the cart scripts' owner check.)
local counter_key = KEYS[1]
local block, floor = tonumber(ARGV[1]), tonumber(ARGV[2])

local last = redis.call('INCRBY', counter_key, block)
if last - block < floor then
  last = floor + block
  redis.call('SET', counter_key, last)
  return {last, 1}
end
return {last, 0}
