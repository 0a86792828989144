-- Adds a product to a cart, or increments the quantity of its existing line.
--
-- KEYS, ARGV[1..6]: those of every cart change (write_gate in prelude.lua).
-- ARGV[7]  the cart number            ARGV[8]  product id
-- ARGV[9]  quantity to add            ARGV[10] today's price (frozen into a new line)
-- ARGV[11] now, ms since the epoch    ARGV[12] max quantity of a line
-- ARGV[13] max lines of a cart        ARGV[14] '1': also return the cart's fields
-- Returns  {'ok', version, line id, product id, quantity, price, added ms
--           [, the cart hash as a flat field/value array]}
--          | {'too_many' | 'full' | 'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply}
--
-- Atomic, so concurrent adds never lose an increment and the limits hold: the
-- existence check, the limit checks, the write, the version, the TTL slide and
-- the Idempotency-Key record are one step. A cart merged into a user's cart at
-- login refuses writes (the tombstone), so an add racing the login is either
-- merged or refused, never dropped into a cart that nobody will read again.
--
-- The rules are rules.rs `add`; the line encoding and the gate are prelude.lua's.
if not change_session_is_current(14) then
  return {'stale_session'}
end
local fields = redis.call('HGETALL', KEYS[1])
local cart = find_product(fields, ARGV[8])
local stop, ops = write_gate(cart.id, cart.v, cart.co)
if stop then
  return stop
end

-- The minimal API answers the whole cart: the cart this add produced, from the
-- fields read above with this add's writes applied ('v' is not a line).
local function with_cart(reply, writes)
  if ARGV[14] == '1' then
    local written = {}
    for i = 1, #writes, 2 do
      written[writes[i]] = writes[i + 1]
    end
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

local quantity = tonumber(ARGV[9])
local max_quantity = tonumber(ARGV[12])
if cart.line then
  local product, old, price, added = decode_line(cart.value)
  local new = old + quantity
  if new > max_quantity then
    return refused('too_many', ops)
  end
  local writes = {'l:' .. cart.line, encode_line(product, new, price, added)}
  return changed(ops, with_cart(line_reply(cart.line, product, new, price, added), writes), writes)
end
if quantity > max_quantity then
  return refused('too_many', ops)
end
local seq = tonumber(cart.seq or '0')
if cart.count >= tonumber(ARGV[13]) or seq >= MAX_LINE_SEQ then
  return decided({'full'}, newest_op(ops))
end
seq = seq + 1
local id = line_id(tonumber(ARGV[7]), seq)
local added = whole_second(ARGV[11])
local writes = {'l:' .. id, encode_line(ARGV[8], quantity, ARGV[10], added), 'seq', seq}
if not cart.id then
  writes[#writes + 1] = 'id'
  writes[#writes + 1] = ARGV[1]
end
return changed(ops, with_cart(line_reply(id, ARGV[8], quantity, ARGV[10], added), writes), writes)
