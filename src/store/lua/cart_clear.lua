-- Removes every line of a cart; the cart keeps its public id and line sequence, so
-- line ids are never reused.
--
-- KEYS, ARGV[1..6]: those of every cart change (change_args in prelude.lua).
-- then the session record served from a copy, if any: KEYS[4], ARGV[7].
-- Returns  {'ok', version}
--          | {'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply} | {'stale_session'}
--
-- Atomic: no add can slip in between listing the lines and deleting them. A cart
-- with no lines is not changed (its version stays).
--
-- The rule is rules.rs `clear`; the gate is prelude.lua's.
local change = change_args(KEYS, ARGV)
local session_key, session_record = KEYS[4], ARGV[7]

if not change_session_is_current(change, session_key, session_record) then
  return {'stale_session'}
end
local fields = redis.call('HGETALL', change.cart_key)
local stop, ops = write_gate(change,
  field_in(fields, 'id'), field_in(fields, 'v'), field_in(fields, 'co'))
if stop then
  return stop
end
local doomed = {}
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'l:' then
    doomed[#doomed + 1] = fields[i]
  end
end
if #doomed == 0 then
  return decided(change, {'ok'}, newest_op(ops))
end
-- HDEL in slices: Lua's unpack has a stack limit.
for i = 1, #doomed, 500 do
  redis.call('HDEL', change.cart_key, unpack(doomed, i, math.min(i + 499, #doomed)))
end
return changed(change, ops, {'ok'})
