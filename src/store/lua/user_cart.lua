-- Gives a user a cart if the user has none yet.
--
-- KEYS[1]  the user's hash            trolley:{user:<name>}
-- ARGV[1]  candidate cart number      ARGV[2]  candidate cart public id
-- Returns  {cart number, cart public id} of the user's cart, or {} if the user is gone.
--
-- Atomic, so two concurrent first logins of one user agree on one cart.
local user_key = KEYS[1]
local cart_no, cart_id = ARGV[1], ARGV[2]

if redis.call('EXISTS', user_key) == 0 then
  return {}
end
if redis.call('HSETNX', user_key, 'cart_no', cart_no) == 1 then
  redis.call('HSET', user_key, 'cart_id', cart_id)
end
return redis.call('HMGET', user_key, 'cart_no', 'cart_id')
