-- Applies a sealed guest cart's lines to the user's cart on Redis Cluster: step 2
-- of 3 (see cart_seal.lua).
--
-- KEYS[1]  the user's cart hash       trolley:{cart:<user no>}
-- KEYS[2]  the guest carts it absorbed trolley:{cart:<user no>}:absorbed (a set)
-- ARGV[1]  guest cart number          ARGV[2]  user cart public id ('' leaves it as is)
-- ARGV[3]  rule: 'sum' | 'max' | 'guest'
-- ARGV[4]  max quantity of a line     ARGV[5]  max lines of a cart
-- ARGV[6]  the user cart's TTL (and the set's), in milliseconds
-- ARGV[7..] the guest lines from cart_seal.lua: 'l:<id>', 'product|quantity|price|added', ...
-- Returns  {'already'}
--          | {'merged', lines moved, lines combined, 'clamped,ids', 'dropped,ids'}
--
-- Why atomic: checking the absorbed set, changing the user's cart and recording
-- the guest cart number are one step in the user's slot. A login retried after a
-- crash between this step and cart_seal_done.lua, or two logins racing with one
-- guest cart, find the guest number in the set and apply nothing again; two guest
-- carts merged into one user cart at once serialize here, each applied once.
--
-- The rules are cart_merge.lua's, line for line: guest lines oldest first; a
-- product in both carts is combined by the rule and capped at the max quantity
-- (the user line's id is reported); a new product moves with its id, frozen price
-- and addedAt while the user's cart has room; lines past the max lines are dropped
-- and reported.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return {'already'}
end
local pattern = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$'
local lines = {}
for i = 7, #ARGV, 2 do
  if string.sub(ARGV[i], 1, 2) == 'l:' then
    local product, quantity, price, added = string.match(ARGV[i + 1], pattern)
    lines[#lines + 1] = {id = string.sub(ARGV[i], 3), product = product,
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
if ARGV[2] ~= '' then
  redis.call('HSETNX', KEYS[1], 'id', ARGV[2])
end
local count = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local moved, combined = 0, 0
local clamped, dropped = {}, {}
for _, line in ipairs(lines) do
  local user_line = redis.call('HGET', KEYS[1], 'p:' .. line.product)
  if user_line then
    local raw = redis.call('HGET', KEYS[1], 'l:' .. user_line)
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
    redis.call('HSET', KEYS[1], 'l:' .. user_line, line.product .. '|' .. wanted .. '|' .. price .. '|' .. added)
    combined = combined + 1
  elseif count < max_lines then
    redis.call('HSET', KEYS[1],
      'l:' .. line.id, line.product .. '|' .. line.quantity .. '|' .. line.price .. '|' .. line.added,
      'p:' .. line.product, line.id)
    count = count + 1
    moved = moved + 1
  else
    dropped[#dropped + 1] = line.id
  end
end
redis.call('HSET', KEYS[1], 'n', count)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {'merged', tostring(moved), tostring(combined), table.concat(clamped, ','), table.concat(dropped, ',')}
