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
if ARGV[1] == 'if_empty' and redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[2])
return ARGV[2]
