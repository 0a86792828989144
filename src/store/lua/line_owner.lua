-- Where a line that is not in the session's cart is (for 403 vs 404).
--
-- KEYS[1]  the cart that created it   trolley:{cart:<origin no>}
-- KEYS[2]  that cart's tombstone       trolley:{cart:<origin no>}:merged
-- ARGV[1]  the line's field            l:<line id>
-- Returns  {1 if the creating cart holds it else 0, the tombstone or ''}
--
-- One script so the two reads of the origin's slot are one round trip (and a
-- consistent view: no merge moves the line between them).
local cart_key, tombstone_key = KEYS[1], KEYS[2]
local field = ARGV[1]

return {redis.call('HEXISTS', cart_key, field), redis.call('GET', tombstone_key) or ''}
