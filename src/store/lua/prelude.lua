-- The prelude of trolley's function library: the locals every script (a function
-- of the library, see src/store/redis/scripts.rs) can use, after three constants
-- generated from the Rust ones
-- in src/cart/model.rs and src/cart/change.rs, so Lua and Rust cannot disagree
-- on them:
--
--   LINE_ID_FACTOR  2^LINE_SEQ_BITS: line id = cart number * LINE_ID_FACTOR + seq
--   MAX_LINE_SEQ    the largest per-cart line sequence
--   RECENT_OPS      how many operation ids a cart remembers (cart/change.rs)
--
-- It holds the cart hash's line encoding, the write gate and the login merge
-- rules. The same in Rust are src/cart/gate.rs and src/cart/rules.rs (the
-- references, which the embedded store runs); the differential property test
-- checks that the three agree.
--
-- Hash layout: 'id' public id, 'seq' last line sequence, 'v' the last
-- operations that changed it (newest first: the version), 'co' the checkout
-- claim holding it if any ('<claim id> <until ms>'), and one field per line,
-- named by its product: 'l:<product id>' = 'line id|quantity|price|added s'.
-- A cart holds one line per product, so an add finds its product's line by
-- name; a change by line id finds the line whose value starts with '<line id>|'.
-- The 'l:' prefix keeps a line's field apart from the fixed ones (a product id
-- is a positive integer, src/catalog.rs), and no part of a value holds a '|'.
--
-- The functions take what they need as arguments: only a script's first lines
-- read KEYS and ARGV (for a cart change, through change_args).

-- A replica that served the request's session record from its own copy (see
-- `ServedCopy` in src/cart/change.rs) passes the record's key as the last KEY
-- and the bytes it served as the last ARGV, after the script's own.
-- The script runs only if Redis still holds exactly that record: a copy gone
-- stale (logged out, rotated, slid or changed by another replica, or lost by
-- Redis) is answered {'stale_session'} before anything is read or written, and
-- the request is run again from Redis's record. record: nil when no copy was
-- served (nothing to check). Comparing the bytes costs Redis less than hashing
-- them (redis.sha1hex: 1.5 µs a call, docs/PERFORMANCE.md).
local function session_is_current(session_key, record)
  if not record then
    return true
  end
  return redis.call('GET', session_key) == record
end

local LINE_PATTERN = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$'

-- When a line added at `ms` (since the epoch) was added, to the whole second
-- (rules.rs `add`), as text.
local function whole_second(ms)
  return string.format('%.0f', math.floor(tonumber(ms) / 1000) * 1000)
end

-- A line stores when it was added in whole seconds (3 bytes a line less than
-- milliseconds); scripts and their replies deal in milliseconds. Seconds become
-- milliseconds by appending '000', and a whole second loses its '000' again,
-- rather than going through tonumber and string.format: that saves 10k
-- instructions per call, 7% of cart_set_quantity (docs/PERFORMANCE.md).

-- A cart line's field: 'l:' and its product id.
local function line_field(product)
  return 'l:' .. product
end

-- The product of a cart line's field.
local function field_product(field)
  return string.sub(field, 3)
end

-- The line fields of a cart hash's HGETALL, as field/value pairs appended to
-- `into` (a new table when nil).
local function line_pairs(fields, into)
  into = into or {}
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'l:' then
      into[#into + 1] = fields[i]
      into[#into + 1] = fields[i + 1]
    end
  end
  return into
end

-- A stored line value: line id, quantity (a number), price and added ms (text).
local function decode_line(raw)
  local id, quantity, price, added = string.match(raw, LINE_PATTERN)
  if added then
    added = added .. '000'
  end
  return id, tonumber(quantity), price, added
end

-- added: ms since the epoch (text or number); anything but a whole second's
-- text is divided and rounded down.
local function encode_line(id, quantity, price, added)
  local seconds = string.match(added, '^([1-9]%d*)000$')
  if not seconds then
    seconds = string.format('%.0f', math.floor(tonumber(added) / 1000))
  end
  return id .. '|' .. quantity .. '|' .. price .. '|' .. seconds
end

-- How many lines a cart hash holds: every field but the fixed ones it has.
-- id, v, co, seq: those fields as the script read them (false when absent).
local function line_count(cart_key, id, v, co, seq)
  local count = redis.call('HLEN', cart_key)
  if id then count = count - 1 end
  if v then count = count - 1 end
  if co then count = count - 1 end
  if seq then count = count - 1 end
  return count
end

-- What a change of one line needs of a cart hash, read whole (HGETALL): its
-- 'id', 'v' and 'co' (false when absent) and the field and value of the line
-- whose id is `line` (false when it holds none). Every field but the fixed ones
-- is a line. A line is found by the start of its value ('<line id>|') rather
-- than by cutting the value apart: in Redis's Lua every new string is
-- allocated and hashed.
local function find_line(cart_key, line)
  local cart = {id = false, v = false, co = false, field = false, value = false}
  local prefix = line .. '|'
  local fields = redis.call('HGETALL', cart_key)
  for i = 1, #fields, 2 do
    local field = fields[i]
    if field == 'id' or field == 'v' or field == 'co' then
      cart[field] = fields[i + 1]
    elseif field ~= 'seq' and not cart.field
      and string.find(fields[i + 1], prefix, 1, true) == 1 then
      cart.field, cart.value = field, fields[i + 1]
    end
  end
  return cart
end

-- A field's value in a flat field/value array (false when absent).
local function field_in(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return false
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
-- owner: the hash's 'id' when the script read it already (false: absent).
local function is_foreign(cart_key, cart_id, owner)
  if owner == nil then
    owner = redis.call('HGET', cart_key, 'id')
  end
  return owner ~= false and owner ~= cart_id
end

-- A cart merged into a user's cart at login (or sealed for a Cluster merge)
-- refuses every change: an add racing the login is merged or refused, never
-- dropped into a cart that nobody will read again. The tombstone's value is
-- '<user cart no>|<guest cart public id>' or, while a Cluster merge is under way,
-- 'sealed:<user cart no>|<guest cart public id>|<nonce>|<ttl>': a tombstone of
-- another cart under a reused number is foreign too, not this cart's merge.
local function tombstone_is_own(value, cart_id)
  return string.match(value, '^[^|]*|([^|]*)') == cart_id
end

-- The state of the session's cart before a script touches it:
-- 'own' | 'merged' | 'foreign'. owner: as is_foreign's.
local function cart_state(cart_key, tombstone_key, cart_id, owner)
  if is_foreign(cart_key, cart_id, owner) then
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
--   fields     a flat field/value array holding the guest's 'l:<product id>'
--              lines (other fields are ignored), read from index `first`
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
      local id, quantity, price, added = decode_line(fields[i + 1])
      lines[#lines + 1] = {id = id, product = field_product(fields[i]),
        quantity = quantity, price = price, added = added}
    end
  end
  table.sort(lines, function(a, b)
    local x, y = tonumber(a.added), tonumber(b.added)
    if x ~= y then return x < y end
    return tonumber(a.id) < tonumber(b.id)
  end)

  local count = line_count(user_cart,
    unpack(redis.call('HMGET', user_cart, 'id', 'v', 'co', 'seq')))
  local moved, combined = 0, 0
  local clamped, dropped = {}, {}
  for _, line in ipairs(lines) do
    local field = line_field(line.product)
    local user_line = redis.call('HGET', user_cart, field)
    if user_line then
      local id, quantity, price, added = decode_line(user_line)
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
        clamped[#clamped + 1] = id
      end
      redis.call('HSET', user_cart, field, encode_line(id, wanted, price, added))
      combined = combined + 1
    elseif count < max_lines then
      redis.call('HSET', user_cart, field, encode_line(line.id, line.quantity, line.price, line.added))
      count = count + 1
      moved = moved + 1
    else
      dropped[#dropped + 1] = line.id
    end
  end
  return moved, combined, clamped, dropped
end


-- Every cart change (cart_add, cart_set_quantity, cart_remove, cart_clear) takes
-- the same first keys and arguments, named once here (change_args), and starts
-- with write_gate, given the cart's 'id', 'v' and 'co' from the script's own
-- first read (HGETALL or HMGET: one call for everything the script reads of the
-- hash):
--
-- KEYS[1]  cart_key        the cart hash              trolley:{cart:<no>}
-- KEYS[2]  tombstone_key   the cart's merge tombstone trolley:{cart:<no>}:merged
-- KEYS[3]  record_key      the Idempotency-Key record trolley:{cart:<no>}:idem:<key> (same slot)
-- ARGV[1]  cart_id         the session's cart public id
-- ARGV[2]  op              the operation id: the cart's version once the change applies
-- ARGV[3]  fingerprint     the request's fingerprint when the client sent an
--                          Idempotency-Key, else ''
-- ARGV[4]  record_ttl      how long that key's record lives, ms
-- ARGV[5]  expect          the precondition (If-Match): '' none, '*' the cart
--                          exists, else the versions it may be at, space-separated
-- ARGV[6]  cart_ttl        the cart's TTL, ms
-- then the script's own arguments, and the session record served from a copy
-- if any (see session_is_current), which the script names itself.
--
-- Replies are {status, version, payload...}; a recorded decision answered again
-- is {'replay', status, version, payload...}.
local function change_args(keys, args)
  return {
    cart_key = keys[1], tombstone_key = keys[2], record_key = keys[3],
    cart_id = args[1], op = args[2], fingerprint = args[3], record_ttl = args[4],
    expect = args[5], cart_ttl = args[6],
  }
end

-- The hash's 'v' holds the ids of the last RECENT_OPS operations that changed it,
-- newest first; the newest is the cart's version (its ETag). A change re-run with
-- the same operation id after its reply was lost finds its id there and is not
-- applied twice.
local function recent_ops(cart_key)
  return redis.call('HGET', cart_key, 'v') or ''
end

local function newest_op(ops)
  return string.match(ops, '^(%S+)') or '0'
end

-- ops with op in front, and no more than RECENT_OPS of them.
local function pushed_op(op, ops)
  local kept = {op}
  for old in string.gmatch(ops, '%S+') do
    if #kept < RECENT_OPS then
      kept[#kept + 1] = old
    end
  end
  return table.concat(kept, ' ')
end

-- session_is_current for a change: a change re-run after its reply was lost
-- that did apply (its operation id is among the cart's last) passed the check
-- when it ran, so it goes on to the gate, which answers 'again', whatever the
-- session record has become since.
local function change_session_is_current(change, session_key, record)
  if session_is_current(session_key, record) then
    return true
  end
  for op in string.gmatch(recent_ops(change.cart_key), '%S+') do
    if op == change.op then
      return true
    end
  end
  return false
end

-- A decision of the cart (a change, or a refusal such as a full cart or a
-- missing line): answered with the version, and recorded under the client's
-- Idempotency-Key in the same step, so a retry answers it again.
local function decided(change, reply, version)
  table.insert(reply, 2, version)
  if change.fingerprint ~= '' then
    redis.call('SET', change.record_key,
      change.cart_id .. ' ' .. change.fingerprint .. '\n' .. cjson.encode(reply),
      'PX', change.record_ttl)
  end
  return reply
end

-- The cart changed: the operation becomes its version and the TTL slides.
-- writes: more field/value pairs to set, in the same HSET as the version.
local function changed(change, ops, reply, writes)
  local fields = writes or {}
  fields[#fields + 1] = 'v'
  fields[#fields + 1] = pushed_op(change.op, ops)
  redis.call('HSET', change.cart_key, unpack(fields))
  redis.call('PEXPIRE', change.cart_key, change.cart_ttl)
  return decided(change, reply, change.op)
end

-- Refused before the cart decided anything (a quantity past the max): nothing
-- is recorded, so a corrected retry with the same key is applied.
local function refused(status, ops)
  return {status, newest_op(ops)}
end

-- A checkout claim (API.md v1.2) is the cart hash's 'co' field, '<claim id>
-- <until ms>': read by every change with the fields it reads anyway, so a cart
-- without one pays nothing but a comparison. A claim past its 'until' holds
-- nothing (it ended by itself); only then is Redis's clock asked.
local function now_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

local function claim_holds(claim)
  if not claim then
    return false
  end
  local until_ms = tonumber(string.match(claim, ' (%d+)$'))
  return until_ms ~= nil and now_ms() < until_ms
end

-- Whether the precondition `expect` ('' none, '*' the cart exists, else
-- versions) holds for a cart at `ops`.
local function expect_holds(expect, cart_key, ops)
  if expect == '*' then
    return redis.call('EXISTS', cart_key) == 1
  elseif expect ~= '' then
    for version in string.gmatch(expect, '%S+') do
      if version == newest_op(ops) then
        return true
      end
    end
    return false
  end
  return true
end

-- Returns a reply to answer instead of applying the change, or nil and the
-- cart's recent operations (src/cart/gate.rs is the reference). In order:
-- another session's or a merged cart; a recorded decision for this
-- Idempotency-Key (the same request: replayed; another request: 'key_reused');
-- this operation already applied ('again'); then, unless the change would not
-- apply (`applies` false: a line the cart does not hold, answered 404 by the
-- script before a claim's 409 or a precondition's 412), a checkout claim
-- holding the cart ('claimed', recorded nowhere, so a retry after the claim is
-- applied) and the precondition ('stale'). owner, ops and claim: the hash's
-- 'id', 'v' and 'co' as the script read them with its own fields (false when
-- absent).
local function write_gate(change, owner, ops, claim, applies)
  local state = cart_state(change.cart_key, change.tombstone_key, change.cart_id, owner)
  if state ~= 'own' then
    return {state, '0'}
  end
  if change.fingerprint ~= '' then
    local record = redis.call('GET', change.record_key)
    if record then
      local split = string.find(record, '\n', 1, true)
      if not split
        or string.sub(record, 1, split - 1) ~= change.cart_id .. ' ' .. change.fingerprint then
        return {'key_reused', '0'}
      end
      local reply = cjson.decode(string.sub(record, split + 1))
      table.insert(reply, 1, 'replay')
      return reply
    end
  end
  ops = ops or ''
  for op in string.gmatch(ops, '%S+') do
    if op == change.op then
      return {'again', newest_op(ops)}
    end
  end
  if applies == false then
    return nil, ops
  end
  if claim and claim_holds(claim) then
    return {'claimed', newest_op(ops)}
  end
  if change.expect ~= '' and not expect_holds(change.expect, change.cart_key, ops) then
    return {'stale', newest_op(ops)}
  end
  return nil, ops
end

-- The start of a change to one line (cart_set_quantity, cart_remove): the
-- session check, one read of the cart (find_line: the line and the gate's
-- fields), the gate, and a line the cart does not hold ('missing', a decision
-- of the cart). Returns a reply to answer instead of the change, or nil, the
-- line's field and stored value, and the cart's recent operations.
local function start_line_change(change, line, session_key, session_record)
  if not change_session_is_current(change, session_key, session_record) then
    return {'stale_session'}
  end
  local cart = find_line(change.cart_key, line)
  -- A line that is not in the cart is 404 before a claim's 409 and a stale
  -- precondition's 412 (API.md's order).
  local stop, ops = write_gate(change, cart.id, cart.v, cart.co, cart.value ~= false)
  if stop then
    return stop
  end
  if not cart.value then
    return decided(change, {'missing'}, newest_op(ops))
  end
  return nil, cart.field, cart.value, ops
end

-- A merge or absorb changed the user's cart: a fresh version for it.
local function bump_version(cart_key, op)
  redis.call('HSET', cart_key, 'v', pushed_op(op, recent_ops(cart_key)))
end
