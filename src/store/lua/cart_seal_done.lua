-- Ends a login merge on Redis Cluster: step 3 of 3 (see cart_seal.lua). The
-- guest cart's lines are in the user's cart now, so the guest cart goes and its
-- seal becomes the merged tombstone, the same one cart_merge.lua leaves.
--
-- KEYS[1]  the guest cart hash        trolley:{cart:<guest no>}
-- KEYS[2]  the guest cart's tombstone trolley:{cart:<guest no>}:merged
-- ARGV[1]  user cart number (the seal's target)
-- ARGV[2]  the tombstone's TTL (the user cart's), in milliseconds
-- ARGV[3]  the guest cart's public id
-- ARGV[4]  the seal, as cart_seal.lua answered it
-- Returns  'done' | 'not_sealed' (finished already by a concurrent or earlier login)
--
-- Why atomic: the check that the seal is still this merge's and the rewrite are
-- one step, so two logins finishing one merge at once delete and rewrite once; the
-- guest cart and its tombstone never disagree (a cart without tombstone accepting
-- writes, or a tombstone saying merged over lines not yet absorbed).
local guest_key, tombstone_key = KEYS[1], KEYS[2]
local user_no, ttl, guest_id, seal = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('GET', tombstone_key) ~= seal then
  return 'not_sealed'
end
redis.call('DEL', guest_key)
redis.call('SET', tombstone_key, user_no .. '|' .. guest_id, 'PX', ttl)
return 'done'
