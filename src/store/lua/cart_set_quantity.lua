-- Sets the quantity of one line of a cart.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the cart's merge tombstone trolley:{cart:<no>}:merged
-- ARGV[1]  line id                    ARGV[2]  new quantity (checked by the caller)
-- ARGV[3]  TTL in milliseconds       ARGV[4]  the session's cart public id
-- Returns  {'ok', line id, product id, quantity, price, added ms}
--          | {'missing'} | {'merged'} | {'foreign'}
--
-- Atomic: the line is found and rewritten in one step, so a concurrent removal or
-- add cannot interleave, and the TTL slides with the change.
local state = cart_state(KEYS[1], KEYS[2], ARGV[4])
if state ~= 'own' then
  return {state}
end
local raw = redis.call('HGET', KEYS[1], 'l:' .. ARGV[1])
if not raw then
  return {'missing'}
end
local product, _, price, added = decode_line(raw)
redis.call('HSET', KEYS[1], 'l:' .. ARGV[1], encode_line(product, ARGV[2], price, added))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return line_reply(ARGV[1], product, ARGV[2], price, added)
