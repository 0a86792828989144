-- Reads a cart and slides its TTL.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- ARGV[1]  TTL in milliseconds       ARGV[2]  the session's cart public id
-- Returns  the hash as a flat field/value array, empty when the cart does not exist;
--          {'foreign'} when the hash is another session's cart (see is_foreign).
--
-- Atomic so the read and the TTL slide are one step: a cart cannot expire between
-- being read and being slid.
if not session_is_current(2) then
  return {'stale_session'}
end
local fields = redis.call('HGETALL', KEYS[1])
if is_foreign(KEYS[1], ARGV[2], field_in(fields, 'id')) then
  return {'foreign'}
end
if #fields > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return fields
