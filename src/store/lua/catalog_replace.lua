-- Replaces the whole catalog.
--
-- KEYS[1]  the products hash          trolley:{catalog}:products
-- KEYS[2]  the catalog version        trolley:{catalog}:version
-- ARGV[1]  'always', or 'if_empty' to write only when no catalog was ever stored
-- ARGV[2]  the new version: a random token, never a counter, so a catalog stored
--          again after Redis lost its data never repeats a version a replica
--          still caches (it would keep serving its stale copy)
-- ARGV[3…] product id, product JSON, product id, product JSON, ...
-- Returns  the new version, or 0 when 'if_empty' found a catalog.
--
-- Atomic, so a replica never sees half a catalog, and the version moves with the
-- content so replicas know to reload their in-process copy.
local products_key, version_key = KEYS[1], KEYS[2]
local mode, version = ARGV[1], ARGV[2]
local FIRST_PRODUCT = 3 -- the products are ARGV[3..]

if mode == 'if_empty' and redis.call('EXISTS', version_key) == 1 then
  return 0
end
redis.call('DEL', products_key)
for i = FIRST_PRODUCT, #ARGV, 2 do
  redis.call('HSET', products_key, ARGV[i], ARGV[i + 1])
end
redis.call('SET', version_key, version)
return version
