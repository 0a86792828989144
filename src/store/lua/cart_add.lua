-- Adds a product to a cart, or increments the quantity of its existing line.
--
-- KEYS, ARGV[1..6]: those of every cart change (write_gate in prelude.lua).
-- ARGV[7]  the cart number            ARGV[8]  product id
-- ARGV[9]  quantity to add            ARGV[10] today's price (frozen into a new line)
-- ARGV[11] now, ms since the epoch    ARGV[12] max quantity of a line
-- ARGV[13] max lines of a cart        ARGV[14] '1': also return the cart's fields
-- Returns  {'ok', version, line id, product id, quantity, price, added ms
--           [, the cart hash as a flat field/value array]}
--          | {'too_many' | 'full' | 'merged' | 'foreign' | 'stale' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply}
--
-- Atomic, so concurrent adds never lose an increment and the limits hold: the
-- existence check, the limit checks, the write, the version, the TTL slide and
-- the Idempotency-Key record are one step. A cart merged into a user's cart at
-- login refuses writes (the tombstone), so an add racing the login is either
-- merged or refused, never dropped into a cart that nobody will read again.
--
-- The rules are rules.rs `add`; the line encoding and the gate are prelude.lua's.
local stop, ops = write_gate()
if stop then
  return stop
end

-- The minimal API answers the whole cart: read in the same step, so it is the
-- cart this add produced.
local function with_cart(reply)
  if ARGV[14] == '1' then
    for _, value in ipairs(redis.call('HGETALL', KEYS[1])) do
      reply[#reply + 1] = value
    end
  end
  return reply
end

local quantity = tonumber(ARGV[9])
local max_quantity = tonumber(ARGV[12])
local by_product, lines = lines_by_product(KEYS[1])
local existing = by_product[ARGV[8]]
if existing then
  local product, old, price, added = decode_line(redis.call('HGET', KEYS[1], 'l:' .. existing))
  local new = old + quantity
  if new > max_quantity then
    return refused('too_many', ops)
  end
  redis.call('HSET', KEYS[1], 'l:' .. existing, encode_line(product, new, price, added))
  return changed(ops, with_cart(line_reply(existing, product, new, price, added)))
end
if quantity > max_quantity then
  return refused('too_many', ops)
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if lines >= tonumber(ARGV[13]) or seq >= MAX_LINE_SEQ then
  return decided({'full'}, newest_op(ops))
end
seq = seq + 1
local id = line_id(tonumber(ARGV[7]), seq)
local added = whole_second(ARGV[11])
redis.call('HSETNX', KEYS[1], 'id', ARGV[1])
redis.call('HSET', KEYS[1],
  'l:' .. id, encode_line(ARGV[8], quantity, ARGV[10], added),
  'seq', seq)
return changed(ops, with_cart(line_reply(id, ARGV[8], quantity, ARGV[10], added)))
