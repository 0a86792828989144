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
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 'not_sealed'
end
redis.call('DEL', KEYS[2])
local ttl = tonumber(string.match(ARGV[1], '|(%-?%d+)$'))
if ttl and ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 'unsealed'
