-- Reads a cart and slides its TTL.
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- ARGV[1]  TTL in milliseconds       ARGV[2]  the session's cart public id
-- then the session record served from a copy, if any: KEYS[2] its key, ARGV[3]
-- its bytes (see session_is_current).
-- Returns  the hash as a flat field/value array, empty when the cart does not exist;
--          {'foreign'} when the hash is another session's cart (see is_foreign);
--          {'stale_session'} when the served session record is no longer Redis's.
--
-- Atomic so the read and the TTL slide are one step: a cart cannot expire between
-- being read and being slid.
local cart_key, session_key = KEYS[1], KEYS[2]
local ttl, cart_id, session_record = ARGV[1], ARGV[2], ARGV[3]

if not session_is_current(session_key, session_record) then
  return {'stale_session'}
end
local fields = redis.call('HGETALL', cart_key)
if is_foreign(cart_key, cart_id, field_in(fields, 'id')) then
  return {'foreign'}
end
if #fields > 0 then
  redis.call('PEXPIRE', cart_key, ttl)
end
return fields
