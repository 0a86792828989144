-- Adds a product to a cart, or increments the quantity of its existing line.
--
-- KEYS, ARGV[1..6]: those of every cart change (change_args in prelude.lua).
-- ARGV[7]  the cart number            ARGV[8]  product id
-- ARGV[9]  quantity to add            ARGV[10] today's price (frozen into a new line)
-- ARGV[11] now, ms since the epoch    ARGV[12] max quantity of a line
-- ARGV[13] max lines of a cart        ARGV[14] '1': also return the cart's fields
-- then the session record served from a copy, if any: KEYS[4], ARGV[15].
-- Returns  {'ok', version, line id, product id, quantity, price, added ms
--           [, the cart hash as a flat field/value array]}
--          | {'too_many' | 'full' | 'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply} | {'stale_session'}
--
-- Atomic, so concurrent adds never lose an increment and the limits hold: the
-- existence check, the limit checks, the write, the version, the TTL slide and
-- the Idempotency-Key record are one step. A cart merged into a user's cart at
-- login refuses writes (the tombstone), so an add racing the login is either
-- merged or refused, never dropped into a cart that nobody will read again.
--
-- One HMGET reads the gate's fields and the product's line (its field is named
-- by the product, see prelude.lua's hash layout); only a new line counts the
-- cart's lines (line_count), and only the minimal API reads the whole hash.
--
-- The rules are rules.rs `add`; the line encoding and the gate are prelude.lua's.
local change = change_args(KEYS, ARGV)
local cart_no, product, quantity, price, now = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11]
local max_quantity, max_lines, with_lines = tonumber(ARGV[12]), tonumber(ARGV[13]), ARGV[14] == '1'
local session_key, session_record = KEYS[4], ARGV[15]

if not change_session_is_current(change, session_key, session_record) then
  return {'stale_session'}
end
local field = line_field(product)
local owner, recent, claim, last_seq, value =
  unpack(redis.call('HMGET', change.cart_key, 'id', 'v', 'co', 'seq', field))
local stop, ops = write_gate(change, owner, recent, claim)
if stop then
  return stop
end

-- The minimal API answers the whole cart: the cart this add produced, read
-- whole before its writes, with them applied ('v' is not a line).
local function with_cart(reply, writes)
  if with_lines then
    local written = {}
    for i = 1, #writes, 2 do
      written[writes[i]] = writes[i + 1]
    end
    local fields = redis.call('HGETALL', change.cart_key)
    for i = 1, #fields, 2 do
      if written[fields[i]] == nil then
        reply[#reply + 1] = fields[i]
        reply[#reply + 1] = fields[i + 1]
      end
    end
    for i = 1, #writes do
      reply[#reply + 1] = writes[i]
    end
  end
  return reply
end

-- The product's line: incremented, its price and addedAt frozen.
if value then
  local id, had, frozen_price, added = decode_line(value)
  local sum = had + quantity
  if sum > max_quantity then
    return refused('too_many', ops)
  end
  local writes = {field, encode_line(id, sum, frozen_price, added)}
  return changed(change, ops,
    with_cart(line_reply(id, product, sum, frozen_price, added), writes), writes)
end
-- A new line, while the cart is under the max lines (and line ids are left).
if quantity > max_quantity then
  return refused('too_many', ops)
end
local seq = tonumber(last_seq or '0')
if seq >= MAX_LINE_SEQ
  or line_count(change.cart_key, owner, recent, claim, last_seq) >= max_lines then
  return decided(change, {'full'}, newest_op(ops))
end
seq = seq + 1
local id = line_id(tonumber(cart_no), seq)
local added = whole_second(now)
local writes = {field, encode_line(id, quantity, price, added), 'seq', seq}
if not owner then
  writes[#writes + 1] = 'id'
  writes[#writes + 1] = change.cart_id
end
return changed(change, ops, with_cart(line_reply(id, product, quantity, price, added), writes), writes)
