-- Merges a guest cart into a user's cart at login.
--
-- KEYS[1]  the guest cart hash        trolley:{cart:<guest no>}
-- KEYS[2]  the guest cart's tombstone trolley:{cart:<guest no>}:merged
-- KEYS[3]  the user's cart hash       trolley:{cart:<user no>}
-- ARGV[1]  user cart number           ARGV[2]  user cart public id
-- ARGV[3]  rule: 'sum' | 'max' | 'guest'
-- ARGV[4]  max quantity of a line     ARGV[5]  max lines of a cart
-- ARGV[6]  the user cart's TTL and the tombstone's, in milliseconds
-- ARGV[7]  the guest cart's public id (the session's)
-- ARGV[8]  the user cart's new version, if the merge changes it
-- Returns  {'already'} | {'foreign'} (the guest hash is another session's: untouched)
--          | {'claimed'} (a checkout claim holds either cart: untouched)
--          | {'merged', lines moved, lines combined, 'clamped,ids', 'dropped,ids'}
--
-- Why this cannot lose or double-count a line:
-- * It is one script, so no add, remove or other merge interleaves with it.
-- * It leaves a tombstone naming the user's cart where the guest cart was. A retried
--   login (double click, two tabs, client retry) finds the tombstone and merges
--   nothing again; the cart scripts refuse to write to a tombstoned cart, so an add
--   racing the login lands before the merge (and is moved) or is refused with an
--   error the client sees, never dropped into a cart nobody reads.
-- * The tombstone also lets a moved line's id (which names the guest cart) still be
--   traced to the cart that now holds it, for the 403/404 distinction.
--
-- The rules themselves are prelude.lua's merge_lines (rules.rs `merge`).
local guest_key, tombstone_key, user_key = KEYS[1], KEYS[2], KEYS[3]
local user_no, user_id, rule = ARGV[1], ARGV[2], ARGV[3]
local max_quantity, max_lines = tonumber(ARGV[4]), tonumber(ARGV[5])
local ttl, guest_id, new_version = ARGV[6], ARGV[7], ARGV[8]

local state = cart_state(guest_key, tombstone_key, guest_id)
if state == 'foreign' then
  return {'foreign'}
elseif state == 'merged' then
  return {'already'}
end
local guest = redis.call('HGETALL', guest_key)
-- A checkout claim freezes its cart: a claimed guest cart is not merged, nor
-- is a guest cart with lines merged into a claimed user cart; the guest cart
-- stays as it is (the login is refused).
if claim_holds(field_in(guest, 'co')) then
  return {'claimed'}
end
if claim_holds(redis.call('HGET', user_key, 'co')) and #line_pairs(guest) > 0 then
  return {'claimed'}
end
redis.call('HSETNX', user_key, 'id', user_id)
local moved, combined, clamped, dropped =
  merge_lines(user_key, guest, 1, rule, max_quantity, max_lines)
if moved + combined > 0 then
  bump_version(user_key, new_version)
end
redis.call('PEXPIRE', user_key, ttl)
redis.call('DEL', guest_key)
redis.call('SET', tombstone_key, user_no .. '|' .. guest_id, 'PX', ttl)
return {'merged', tostring(moved), tostring(combined), table.concat(clamped, ','), table.concat(dropped, ',')}
