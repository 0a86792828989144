-- Lifts a login merge's seal on Redis Cluster when its absorb step refused it
-- because a checkout claim holds the user's cart (see cart_seal.lua,
-- cart_absorb.lua): the login is refused and the guest cart takes changes again,
-- with the ttl it had before the seal.
--
-- KEYS[1]  the guest cart hash        trolley:{cart:<guest no>}
-- KEYS[2]  the guest cart's tombstone trolley:{cart:<guest no>}:merged
-- ARGV[1]  the seal, as cart_seal.lua answered it
-- Returns  'unsealed' | 'not_sealed' (the tombstone is no longer that seal)
--
-- Why atomic: the check that the tombstone is still this seal and its removal
-- are one step, so a merge finished or a seal made since is never undone. The
-- absorb step refused before applying anything and records the refusal, so no
-- line of the guest cart is in the user's cart, nor will be under this seal.
local guest_key, tombstone_key = KEYS[1], KEYS[2]
local seal = ARGV[1]

if redis.call('GET', tombstone_key) ~= seal then
  return 'not_sealed'
end
redis.call('DEL', tombstone_key)
local ttl = tonumber(string.match(seal, '|(%-?%d+)$'))
if ttl and ttl > 0 then
  redis.call('PEXPIRE', guest_key, ttl)
end
return 'unsealed'
