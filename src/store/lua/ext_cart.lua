-- The cart of an owner named by another system (`ext/{id}`, API.md v1.2).
--
-- KEYS[1]  the owner's record         trolley:{ext:<id>}
-- ARGV[1]  candidate cart number ('' to only read)
-- ARGV[2]  candidate cart public id
-- ARGV[3]  how long the record lives after this, ms (as the cart: TROLLEY_USER_CART_TTL)
-- Returns  {cart number, cart public id} | {} (no cart, and only reading)
--
-- Atomic, so two first adds of one owner agree on one cart. Every touch slides
-- the record, as every touch slides the cart, so the record never ends before
-- its cart.
local owner_key = KEYS[1]
local cart_no, cart_id, ttl = ARGV[1], ARGV[2], ARGV[3]

if cart_no ~= '' and redis.call('HSETNX', owner_key, 'cart_no', cart_no) == 1 then
  redis.call('HSET', owner_key, 'cart_id', cart_id)
end
local found = redis.call('HMGET', owner_key, 'cart_no', 'cart_id')
if not found[1] then
  return {}
end
redis.call('PEXPIRE', owner_key, ttl)
return found
