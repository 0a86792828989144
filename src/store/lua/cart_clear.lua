-- Removes every line of a cart; the cart keeps its public id and line sequence, so
-- line ids are never reused.
--
-- KEYS, ARGV[1..6]: those of every cart change (write_gate in prelude.lua).
-- Returns  {'ok', version}
--          | {'merged' | 'foreign' | 'stale' | 'claimed' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply}
--
-- Atomic: no add can slip in between listing the lines and deleting them. A cart
-- with no lines is not changed (its version stays).
if not change_session_is_current(6) then
  return {'stale_session'}
end
local fields = redis.call('HGETALL', KEYS[1])
local stop, ops = write_gate(field_in(fields, 'id'), field_in(fields, 'v'), field_in(fields, 'co'))
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
  return decided({'ok'}, newest_op(ops))
end
-- HDEL in slices: Lua's unpack has a stack limit.
for i = 1, #doomed, 500 do
  redis.call('HDEL', KEYS[1], unpack(doomed, i, math.min(i + 499, #doomed)))
end
return changed(ops, {'ok'})
