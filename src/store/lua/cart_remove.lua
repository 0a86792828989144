-- Removes one line of a cart.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the cart's merge tombstone trolley:{cart:<no>}:merged
-- ARGV[1]  line id                    ARGV[2]  TTL in milliseconds
-- ARGV[3]  the session's cart public id
-- Returns  {'ok', line id, product id, quantity, price, added ms}
--          | {'missing'} | {'merged'} | {'foreign'}
--
-- Atomic: the line, its product index entry and the line count change together.
local state = cart_state(KEYS[1], KEYS[2], ARGV[3])
if state ~= 'own' then
  return {state}
end
local raw = redis.call('HGET', KEYS[1], 'l:' .. ARGV[1])
if not raw then
  return {'missing'}
end
local product, quantity, price, added = decode_line(raw)
redis.call('HDEL', KEYS[1], 'l:' .. ARGV[1], 'p:' .. product)
redis.call('HINCRBY', KEYS[1], 'n', -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return line_reply(ARGV[1], product, quantity, price, added)
