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
if ARGV[1] ~= '' and redis.call('HSETNX', KEYS[1], 'cart_no', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'cart_id', ARGV[2])
end
local found = redis.call('HMGET', KEYS[1], 'cart_no', 'cart_id')
if not found[1] then
  return {}
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return found
