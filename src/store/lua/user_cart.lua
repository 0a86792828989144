-- Gives a user a cart if the user has none yet.
--
-- KEYS[1]  the user's hash            trolley:{user:<name>}
-- ARGV[1]  candidate cart number      ARGV[2]  candidate cart public id
-- Returns  {cart number, cart public id} of the user's cart, or {} if the user is gone.
--
-- Atomic, so two concurrent first logins of one user agree on one cart.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
if redis.call('HSETNX', KEYS[1], 'cart_no', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'cart_id', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'cart_no', 'cart_id')
