-- Reads the catalog with its version.
--
-- KEYS[1]  the products hash          trolley:{catalog}:products
-- KEYS[2]  the catalog version        trolley:{catalog}:version
-- Returns  {version, id, JSON, id, JSON, ...}
--
-- Atomic, so the version read belongs to the products read.
local products_key, version_key = KEYS[1], KEYS[2]

local version = redis.call('GET', version_key) or '0'
local products = redis.call('HGETALL', products_key)
table.insert(products, 1, version)
return products
