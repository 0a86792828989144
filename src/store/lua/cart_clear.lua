-- Removes every line of a cart; the cart keeps its public id and line sequence, so
-- line ids are never reused.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the cart's merge tombstone trolley:{cart:<no>}:merged
-- ARGV[1]  TTL in milliseconds       ARGV[2]  the session's cart public id
-- Returns  'ok' | 'merged' | 'foreign'
--
-- Atomic: no add can slip in between listing the lines and deleting them.
local state = cart_state(KEYS[1], KEYS[2], ARGV[2])
if state ~= 'own' then
  return state
end
local fields = redis.call('HKEYS', KEYS[1])
local doomed = {}
for _, field in ipairs(fields) do
  local prefix = string.sub(field, 1, 2)
  if prefix == 'l:' or prefix == 'p:' then
    doomed[#doomed + 1] = field
  end
end
-- HDEL in slices: Lua's unpack has a stack limit.
for i = 1, #doomed, 500 do
  redis.call('HDEL', KEYS[1], unpack(doomed, i, math.min(i + 499, #doomed)))
end
if #fields > 0 then
  redis.call('HSET', KEYS[1], 'n', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 'ok'
