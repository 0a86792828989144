-- Undoes a login merge's seal on Redis Cluster when its absorb step found the
-- user's cart claimed by a checkout (see cart_seal.lua, cart_absorb.lua): the
-- login is refused and the guest cart takes changes again, as it was.
--
-- KEYS[1]  the guest cart's tombstone trolley:{cart:<guest no>}:merged
-- ARGV[1]  user cart number (the seal's target)
-- ARGV[2]  the guest cart's public id
-- Returns  'unsealed' | 'not_sealed' (no longer this merge's seal)
--
-- Why atomic: the check that the tombstone is still this merge's seal and its
-- removal are one step, so a merge finished meanwhile is never undone. The
-- absorb step refused before applying anything, so no line of the guest cart is
-- in the user's cart.
local tombstone = redis.call('GET', KEYS[1])
if tombstone ~= 'sealed:' .. ARGV[1] .. '|' .. ARGV[2] and tombstone ~= 'sealed:' .. ARGV[1] then
  return 'not_sealed'
end
redis.call('DEL', KEYS[1])
return 'unsealed'
