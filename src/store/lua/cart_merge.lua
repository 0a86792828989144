-- Merges a guest cart into a user's cart at login.
--
-- KEYS[1]  the guest cart hash        trolley:{cart:<guest no>}
-- KEYS[2]  the guest cart's tombstone trolley:{cart:<guest no>}:merged
-- KEYS[3]  the user's cart hash       trolley:{cart:<user no>}
-- ARGV[1]  user cart number           ARGV[2]  user cart public id
-- ARGV[3]  rule: 'sum' | 'max' | 'guest'
-- ARGV[4]  max quantity of a line     ARGV[5]  max lines of a cart
-- ARGV[6]  the user cart's TTL and the tombstone's, in milliseconds
-- Returns  {'already'}
--          | {'merged', lines moved, lines combined, 'clamped,ids', 'dropped,ids'}
--
-- Why this cannot lose or double-count a line:
-- * It is one script, so no add, remove or other merge interleaves with it.
-- * It leaves a tombstone naming the user's cart where the guest cart was. A retried
--   login (double click, two tabs, client retry) finds the tombstone and merges
--   nothing again; the cart scripts refuse to write to a tombstoned cart, so an add
--   racing the login lands before the merge (and is moved) or is refused with an
--   error the client sees, never dropped into a cart nobody reads.
-- * The tombstone also lets a moved line's id (which names the guest cart) still be
--   traced to the cart that now holds it, for the 403/404 distinction.
--
-- Guest lines are taken oldest first. A product in both carts is combined by the
-- rule and capped at the max quantity; a new product moves with its id, frozen
-- price and addedAt while the user's cart has room; lines past the max lines are
-- dropped and reported.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'already'}
end
local pattern = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$'
local guest = redis.call('HGETALL', KEYS[1])
local lines = {}
for i = 1, #guest, 2 do
  if string.sub(guest[i], 1, 2) == 'l:' then
    local product, quantity, price, added = string.match(guest[i + 1], pattern)
    lines[#lines + 1] = {id = string.sub(guest[i], 3), product = product,
      quantity = tonumber(quantity), price = price, added = added}
  end
end
table.sort(lines, function(a, b)
  local x, y = tonumber(a.added), tonumber(b.added)
  if x ~= y then return x < y end
  return tonumber(a.id) < tonumber(b.id)
end)

local rule = ARGV[3]
local max_quantity = tonumber(ARGV[4])
local max_lines = tonumber(ARGV[5])
redis.call('HSETNX', KEYS[3], 'id', ARGV[2])
local count = tonumber(redis.call('HGET', KEYS[3], 'n') or '0')
local moved, combined = 0, 0
local clamped, dropped = {}, {}
for _, line in ipairs(lines) do
  local user_line = redis.call('HGET', KEYS[3], 'p:' .. line.product)
  if user_line then
    local raw = redis.call('HGET', KEYS[3], 'l:' .. user_line)
    local _, quantity, price, added = string.match(raw, pattern)
    quantity = tonumber(quantity)
    local wanted
    if rule == 'sum' then
      wanted = quantity + line.quantity
    elseif rule == 'max' then
      wanted = math.max(quantity, line.quantity)
    else
      wanted = line.quantity
    end
    if wanted > max_quantity then
      wanted = max_quantity
      clamped[#clamped + 1] = user_line
    end
    redis.call('HSET', KEYS[3], 'l:' .. user_line, line.product .. '|' .. wanted .. '|' .. price .. '|' .. added)
    combined = combined + 1
  elseif count < max_lines then
    redis.call('HSET', KEYS[3],
      'l:' .. line.id, line.product .. '|' .. line.quantity .. '|' .. line.price .. '|' .. line.added,
      'p:' .. line.product, line.id)
    count = count + 1
    moved = moved + 1
  else
    dropped[#dropped + 1] = line.id
  end
end
redis.call('HSET', KEYS[3], 'n', count)
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[6])
return {'merged', tostring(moved), tostring(combined), table.concat(clamped, ','), table.concat(dropped, ',')}
