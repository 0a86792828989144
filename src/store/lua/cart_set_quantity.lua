-- Sets the quantity of one line of a cart.
--
-- KEYS, ARGV[1..6]: those of every cart change (change_args in prelude.lua).
-- ARGV[7]  line id                    ARGV[8]  new quantity (checked by the caller)
-- then the session record served from a copy, if any: KEYS[4], ARGV[9].
-- Returns  {'ok', version, line id, product id, quantity, price, added ms}
--          | {'missing' | 'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply} | {'stale_session'}
--
-- Atomic: the line is found (by its id, among the cart's lines: see find_line
-- in prelude.lua) and rewritten in one step, so a concurrent removal or add
-- cannot interleave, and the version and TTL change with it.
--
-- The rule is rules.rs `set_quantity`; the line encoding and the gate are
-- prelude.lua's.
local change = change_args(KEYS, ARGV)
local line, quantity = ARGV[7], ARGV[8]
local session_key, session_record = KEYS[4], ARGV[9]

local stop, field, value, ops = start_line_change(change, line, session_key, session_record)
if stop then
  return stop
end
local _, _, price, added = decode_line(value)
return changed(change, ops, line_reply(line, field_product(field), quantity, price, added),
  {field, encode_line(line, quantity, price, added)})
