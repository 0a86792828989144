-- Removes one line of a cart.
--
-- KEYS, ARGV[1..6]: those of every cart change (change_args in prelude.lua).
-- ARGV[7]  line id
-- then the session record served from a copy, if any: KEYS[4], ARGV[8].
-- Returns  {'ok', version, line id, product id, quantity, price, added ms}
--          | {'missing' | 'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply} | {'stale_session'}
--
-- Atomic: the line is found (by its id, among the cart's lines: see find_line
-- in prelude.lua) and removed, and the version changes, in one step.
--
-- The rule is rules.rs `remove`; the gate is prelude.lua's.
local change = change_args(KEYS, ARGV)
local line = ARGV[7]
local session_key, session_record = KEYS[4], ARGV[8]

local stop, field, value, ops = start_line_change(change, line, session_key, session_record)
if stop then
  return stop
end
local _, quantity, price, added = decode_line(value)
redis.call('HDEL', change.cart_key, field)
return changed(change, ops, line_reply(line, field_product(field), quantity, price, added))
