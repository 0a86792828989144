-- Sets the quantity of one line of a cart.
--
-- KEYS, ARGV[1..6]: those of every cart change (write_gate in prelude.lua).
-- ARGV[7]  line id                    ARGV[8]  new quantity (checked by the caller)
-- Returns  {'ok', version, line id, product id, quantity, price, added ms}
--          | {'missing' | 'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply}
--
-- Atomic: the line is found and rewritten in one step, so a concurrent removal or
-- add cannot interleave, and the version and TTL change with it.
if not change_session_is_current(8) then
  return {'stale_session'}
end
-- The fields the script needs, and the gate's, in one call.
local owner, ops, raw, claim = unpack(redis.call('HMGET', KEYS[1], 'id', 'v', 'l:' .. ARGV[7], 'co'))
local stop
-- A line that is not in the cart is 404 before a claim is 409 (API.md's order):
-- the claim only stops a change that would apply.
stop, ops = write_gate(owner, ops, raw and claim)
if stop then
  return stop
end
if not raw then
  return decided({'missing'}, newest_op(ops))
end
local product, _, price, added = decode_line(raw)
return changed(ops, line_reply(ARGV[7], product, ARGV[8], price, added),
  {'l:' .. ARGV[7], encode_line(product, ARGV[8], price, added)})
