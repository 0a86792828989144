-- The prelude of every cart script: prepended when the scripts are loaded (see
-- src/store/redis/scripts.rs), after two constants generated from the Rust ones
-- in src/cart/model.rs, so Lua and Rust cannot disagree on them:
--
--   LINE_ID_FACTOR  2^LINE_SEQ_BITS: line id = cart number * LINE_ID_FACTOR + seq
--   MAX_LINE_SEQ    the largest per-cart line sequence
--
-- It holds the cart hash's line encoding, the merged-cart refusal and the login
-- merge rules. The same rules in Rust are src/cart/rules.rs (the reference, which
-- the embedded store runs); the differential property test checks both agree.
--
-- Hash layout: 'id' public id, 'seq' last line sequence, 'n' number of lines,
-- 'l:<line id>' = 'product|quantity|price|added ms', 'p:<product id>' = line id.

local LINE_PATTERN = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$'

-- A stored line value: product id, quantity (a number), price and added ms (text).
local function decode_line(raw)
  local product, quantity, price, added = string.match(raw, LINE_PATTERN)
  return product, tonumber(quantity), price, added
end

local function encode_line(product, quantity, price, added)
  return product .. '|' .. quantity .. '|' .. price .. '|' .. added
end

-- The reply of a script that returns one line.
local function line_reply(id, product, quantity, price, added)
  return {'ok', id, product, tostring(quantity), price, added}
end

-- A line id as text. Below 2^53, so exact in Lua's doubles; '%.0f' avoids Lua's
-- exponent notation.
local function line_id(cart_no, seq)
  return string.format('%.0f', cart_no * LINE_ID_FACTOR + seq)
end

-- The cart hash holds another session's cart: its number was handed out twice
-- (Redis lost the cart counter: a restart with its data lost, a failover that
-- lost the last INCRBY). Every cart script checks this before it reads or
-- writes, so one shopper never sees or changes another's lines. A hash without
-- an id (never written by an add) belongs to nobody yet.
local function is_foreign(cart_key, cart_id)
  local owner = redis.call('HGET', cart_key, 'id')
  return owner ~= false and owner ~= cart_id
end

-- A cart merged into a user's cart at login (or sealed for a Cluster merge)
-- refuses every change: an add racing the login is merged or refused, never
-- dropped into a cart that nobody will read again. The tombstone's value is
-- '[sealed:]<user cart no>|<guest cart public id>': a tombstone of another cart
-- under a reused number is foreign too, not this cart's merge.
local function tombstone_is_own(value, cart_id)
  local owner = string.match(value, '|(.*)$')
  -- No id: a tombstone written before ids were recorded in it.
  return owner == nil or owner == cart_id
end

-- The state of the session's cart before a script touches it:
-- 'own' | 'merged' | 'foreign'.
local function cart_state(cart_key, tombstone_key, cart_id)
  if is_foreign(cart_key, cart_id) then
    return 'foreign'
  end
  local tombstone = redis.call('GET', tombstone_key)
  if not tombstone then
    return 'own'
  end
  if tombstone_is_own(tombstone, cart_id) then
    return 'merged'
  end
  return 'foreign'
end

-- merge_lines(user_cart, fields, first, rule, max_quantity, max_lines): the login
-- merge (rules.rs `merge`), used by cart_merge.lua and cart_absorb.lua.
--   user_cart  the user's cart hash key
--   fields     a flat field/value array holding the guest's 'l:<id>' lines
--              (other fields are ignored), read from index `first`
--   rule       'sum' | 'max' | 'guest'
-- Returns  lines moved, lines combined, clamped user line ids, dropped guest line ids
--
-- Guest lines are taken oldest first (addedAt, then id). A product in both carts
-- is combined by the rule and capped at the max quantity (the user line's id is
-- reported as clamped); a new product moves with its id, frozen price and addedAt
-- while the user's cart is under the max lines; lines past it are dropped.
local function merge_lines(user_cart, fields, first, rule, max_quantity, max_lines)
  local lines = {}
  for i = first, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'l:' then
      local product, quantity, price, added = decode_line(fields[i + 1])
      lines[#lines + 1] = {id = string.sub(fields[i], 3), product = product,
        quantity = quantity, price = price, added = added}
    end
  end
  table.sort(lines, function(a, b)
    local x, y = tonumber(a.added), tonumber(b.added)
    if x ~= y then return x < y end
    return tonumber(a.id) < tonumber(b.id)
  end)

  local count = tonumber(redis.call('HGET', user_cart, 'n') or '0')
  local moved, combined = 0, 0
  local clamped, dropped = {}, {}
  for _, line in ipairs(lines) do
    local user_line = redis.call('HGET', user_cart, 'p:' .. line.product)
    if user_line then
      local _, quantity, price, added = decode_line(redis.call('HGET', user_cart, 'l:' .. user_line))
      local wanted
      if rule == 'sum' then
        wanted = quantity + line.quantity
      elseif rule == 'max' then
        wanted = math.max(quantity, line.quantity)
      else
        wanted = line.quantity
      end
      if wanted > max_quantity then
        wanted = max_quantity
        clamped[#clamped + 1] = user_line
      end
      redis.call('HSET', user_cart, 'l:' .. user_line, encode_line(line.product, wanted, price, added))
      combined = combined + 1
    elseif count < max_lines then
      redis.call('HSET', user_cart,
        'l:' .. line.id, encode_line(line.product, line.quantity, line.price, line.added),
        'p:' .. line.product, line.id)
      count = count + 1
      moved = moved + 1
    else
      dropped[#dropped + 1] = line.id
    end
  end
  redis.call('HSET', user_cart, 'n', count)
  return moved, combined, clamped, dropped
end

