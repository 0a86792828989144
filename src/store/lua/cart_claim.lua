-- Claims a cart for a checkout (API.md v1.2): freezes its lines until the claim
-- is completed, released or runs out.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the cart's merge tombstone trolley:{cart:<no>}:merged
-- KEYS[3]  the claim's record         trolley:{cart:<no>}:claim:<claim id>
-- ARGV[1]  the cart's public id       ARGV[2]  the claim id
-- ARGV[3]  how long the claim holds, ms
-- ARGV[4]  the precondition (If-Match): as a cart change's (change_args in prelude.lua)
-- ARGV[5]  how long the record outlives the claim, ms
-- ARGV[6]  the request's fingerprint under an Idempotency-Key ('' without one)
-- Returns  {'ok' | 'again', version, until ms, the claimed lines as 'l:<product id>', value, ...}
--          ('again': this claim id had claimed the cart before; answered from its record)
--          | {'empty' | 'claimed' | 'merged' | 'stale' | 'reused', version}
--          ('reused': this claim id was asked for with another request)
--
-- Atomic, so no change slips in between the snapshot and the claim: the lines
-- answered are exactly the lines the record keeps and `complete` removes, and
-- every change after this step meets the claim in its write gate. The cart's
-- version does not change (its lines did not). Redis's clock sets `until`, and
-- every gate reads the same clock.
local cart_key, tombstone_key, record_key = KEYS[1], KEYS[2], KEYS[3]
local cart_id, claim_id, claim_ttl = ARGV[1], ARGV[2], ARGV[3]
local expect, keep, request = ARGV[4], ARGV[5], ARGV[6]

local fields = redis.call('HGETALL', cart_key)
local state = cart_state(cart_key, tombstone_key, cart_id, field_in(fields, 'id'))
if state == 'merged' then
  return {'merged', '0'}
elseif state == 'foreign' then
  -- The number holds another session's cart: this owner's cart is gone.
  return {'empty', '0'}
end
local ops = field_in(fields, 'v') or ''
local version = newest_op(ops)
-- This very claim again (a re-run after a lost reply, or a retry with the
-- same Idempotency-Key, whose claim id is derived from it): answered from its
-- record, whatever became of it since.
local record_cart, record_until, record_claimed, record_lines, record_request =
  unpack(redis.call('HMGET', record_key, 'cart', 'until', 'claimed', 'lines', 'req'))
if record_cart == cart_id then
  if (record_request or '') ~= request then
    return {'reused', version}
  end
  local reply = {'again', record_claimed, record_until}
  for part in string.gmatch(record_lines or '', '[^\n]+') do
    reply[#reply + 1] = part
  end
  return reply
end
if claim_holds(field_in(fields, 'co')) then
  return {'claimed', version}
end
if not expect_holds(expect, cart_key, ops) then
  return {'stale', version}
end
local lines = line_pairs(fields)
if #lines == 0 then
  return {'empty', version}
end
local until_ms = string.format('%.0f', now_ms() + tonumber(claim_ttl))
redis.call('HSET', cart_key, 'co', claim_id .. ' ' .. until_ms)
-- The cart outlives its claim.
local ttl = redis.call('PTTL', cart_key)
if ttl >= 0 and ttl < tonumber(claim_ttl) then
  redis.call('PEXPIRE', cart_key, claim_ttl)
end
redis.call('HSET', record_key, 'cart', cart_id, 'until', until_ms, 'state', 'active',
  'claimed', version, 'lines', table.concat(lines, '\n'), 'req', request)
redis.call('PEXPIRE', record_key, tonumber(claim_ttl) + tonumber(keep))
local reply = {'ok', version, until_ms}
for i = 1, #lines do
  reply[#reply + 1] = lines[i]
end
return reply
