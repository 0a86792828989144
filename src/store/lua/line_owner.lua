-- Where a line that is not in the session's cart is (for 403 vs 404).
--
-- KEYS[1]  a cart that may hold it    trolley:{cart:<no>}: the one that created
--                                      it, or the one its tombstone names
-- KEYS[2]  that cart's tombstone       trolley:{cart:<no>}:merged (absent: not read)
-- ARGV[1]  the line id
-- Returns  {1 if the cart holds the line else 0, the tombstone or ''}
--
-- One script so the cart is searched inside Redis (find_line in prelude.lua:
-- a line's field names its product, its value starts with its id) and the two
-- reads of the slot are one round trip (and a consistent view: no merge moves
-- the line between them).
local cart_key, tombstone_key = KEYS[1], KEYS[2]
local line = ARGV[1]

local held = 0
if find_line(cart_key, line).value then
  held = 1
end
local tombstone = ''
if tombstone_key then
  tombstone = redis.call('GET', tombstone_key) or ''
end
return {held, tombstone}
