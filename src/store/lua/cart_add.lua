-- Adds a product to a cart, or increments the quantity of its existing line.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the cart's merge tombstone trolley:{cart:<no>}:merged
-- ARGV[1]  the cart's public id       ARGV[2]  the cart number
-- ARGV[3]  product id                 ARGV[4]  quantity to add
-- ARGV[5]  today's price (frozen into a new line)
-- ARGV[6]  now, ms since the epoch    ARGV[7]  TTL in milliseconds
-- ARGV[8]  max quantity of a line     ARGV[9]  max lines of a cart
-- Returns  {'ok', line id, product id, quantity, price, added ms}
--          | {'too_many'} | {'full'} | {'merged'} | {'foreign'}
--
-- Atomic, so concurrent adds never lose an increment and the limits hold: the
-- existence check, the limit checks, the write and the TTL slide are one step.
-- A cart merged into a user's cart at login refuses writes (the tombstone), so an
-- add racing the login is either merged or refused, never dropped into a cart that
-- nobody will read again.
--
-- The rules are rules.rs `add`; the line encoding and the refusal are prelude.lua's.
local state = cart_state(KEYS[1], KEYS[2], ARGV[1])
if state ~= 'own' then
  return {state}
end
local quantity = tonumber(ARGV[4])
local max_quantity = tonumber(ARGV[8])
local existing = redis.call('HGET', KEYS[1], 'p:' .. ARGV[3])
if existing then
  local product, old, price, added = decode_line(redis.call('HGET', KEYS[1], 'l:' .. existing))
  local new = old + quantity
  if new > max_quantity then
    return {'too_many'}
  end
  redis.call('HSET', KEYS[1], 'l:' .. existing, encode_line(product, new, price, added))
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
  return line_reply(existing, product, new, price, added)
end
if quantity > max_quantity then
  return {'too_many'}
end
local lines = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if lines >= tonumber(ARGV[9]) then
  return {'full'}
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if seq >= MAX_LINE_SEQ then
  return {'full'}
end
seq = seq + 1
local id = line_id(tonumber(ARGV[2]), seq)
redis.call('HSETNX', KEYS[1], 'id', ARGV[1])
redis.call('HSET', KEYS[1],
  'l:' .. id, encode_line(ARGV[3], quantity, ARGV[5], ARGV[6]),
  'p:' .. ARGV[3], id,
  'n', lines + 1,
  'seq', seq)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return line_reply(id, ARGV[3], quantity, ARGV[5], ARGV[6])
