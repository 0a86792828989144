-- The login-merge rules, applied inside Redis. Not a script of its own: it is
-- prepended to cart_merge.lua and cart_absorb.lua when they are loaded (see
-- Scripts::new in src/store/redis.rs), so both merge paths share one definition.
--
-- merge_lines(user_cart, fields, first, rule, max_quantity, max_lines)
--   user_cart  the user's cart hash key
--   fields     a flat field/value array holding the guest's 'l:<id>' lines
--              (other fields are ignored), read from index `first`
--   rule       'sum' | 'max' | 'guest'
-- Returns  lines moved, lines combined, clamped user line ids, dropped guest line ids
--
-- Guest lines are taken oldest first (addedAt, then id). A product in both carts
-- is combined by the rule and capped at the max quantity (the user line's id is
-- reported as clamped); a new product moves with its id, frozen price and addedAt
-- while the user's cart is under the max lines; lines past it are dropped and
-- reported. The same rules in Rust are MergeRule::combine (src/cart/rules.rs),
-- used by the embedded store.
local function merge_lines(user_cart, fields, first, rule, max_quantity, max_lines)
  local pattern = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$'
  local lines = {}
  for i = first, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'l:' then
      local product, quantity, price, added = string.match(fields[i + 1], pattern)
      lines[#lines + 1] = {id = string.sub(fields[i], 3), product = product,
        quantity = tonumber(quantity), price = price, added = added}
    end
  end
  table.sort(lines, function(a, b)
    local x, y = tonumber(a.added), tonumber(b.added)
    if x ~= y then return x < y end
    return tonumber(a.id) < tonumber(b.id)
  end)

  local count = tonumber(redis.call('HGET', user_cart, 'n') or '0')
  local moved, combined = 0, 0
  local clamped, dropped = {}, {}
  for _, line in ipairs(lines) do
    local user_line = redis.call('HGET', user_cart, 'p:' .. line.product)
    if user_line then
      local raw = redis.call('HGET', user_cart, 'l:' .. user_line)
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
      redis.call('HSET', user_cart, 'l:' .. user_line, line.product .. '|' .. wanted .. '|' .. price .. '|' .. added)
      combined = combined + 1
    elseif count < max_lines then
      redis.call('HSET', user_cart,
        'l:' .. line.id, line.product .. '|' .. line.quantity .. '|' .. line.price .. '|' .. line.added,
        'p:' .. line.product, line.id)
      count = count + 1
      moved = moved + 1
    else
      dropped[#dropped + 1] = line.id
    end
  end
  redis.call('HSET', user_cart, 'n', count)
  return moved, combined, clamped, dropped
end

