-- The checkout claim holding a cart, if any.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- ARGV[1]  the cart's public id
-- Returns  {claim id, until ms} | {}
--
-- One script so that 'now' is Redis's clock, the one every write gate reads.
local cart_key = KEYS[1]
local cart_id = ARGV[1]

local owner, claim = unpack(redis.call('HMGET', cart_key, 'id', 'co'))
if owner ~= cart_id or not claim_holds(claim) then
  return {}
end
local id, until_ms = string.match(claim, '^(%S+) (%d+)$')
return {id, until_ms}
