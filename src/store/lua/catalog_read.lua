-- Reads the catalog with its version.
--
-- KEYS[1]  the products hash          trolley:{catalog}:products
-- KEYS[2]  the catalog version        trolley:{catalog}:version
-- Returns  {version, id, JSON, id, JSON, ...}
--
-- Atomic, so the version read belongs to the products read.
local version = redis.call('GET', KEYS[2]) or '0'
local products = redis.call('HGETALL', KEYS[1])
table.insert(products, 1, version)
return products
