-- Completes or releases a checkout claim (API.md v1.2).
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the claim's record         trolley:{cart:<no>}:claim:<claim id>
-- ARGV[1]  the cart's public id       ARGV[2]  the claim id
-- ARGV[3]  'complete' | 'release'     ARGV[4]  the order id ('' for a release)
-- ARGV[5]  the cart's version once complete removes the lines
-- ARGV[6]  the cart's TTL, ms
-- Returns  {'completed', version, the claimed lines as 'l:<product id>', value, ...}
--          | {'released'} | {'not_found'} | {'conflict'} (completed already)
--          | {'was_released'} | {'expired'}
--
-- Atomic and answered from the record, so a complete runs once however often
-- it is sent (ten at once across replicas, or again after a lost reply): the
-- first marks the record completed with its order id in the same step that
-- removes the lines, and the others find it so. It removes only the lines and
-- quantities the record holds (a line by its product's field and its id), never
-- a line the claim did not see; a record that is gone (expired long ago, or
-- Redis lost it) removes nothing.
local cart_key, record_key = KEYS[1], KEYS[2]
local cart_id, claim_id, action, order, new_version, cart_ttl =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local record = redis.call('HGETALL', record_key)
if #record == 0 or field_in(record, 'cart') ~= cart_id then
  return {'not_found'}
end
local state = field_in(record, 'state')
local function claimed_lines()
  local lines = {}
  for part in string.gmatch(field_in(record, 'lines') or '', '[^\n]+') do
    lines[#lines + 1] = part
  end
  return lines
end
local function answer(status, version, lines)
  local reply = {status, version}
  for i = 1, #lines do
    reply[#reply + 1] = lines[i]
  end
  return reply
end
if state == 'completed' then
  if action == 'complete' and field_in(record, 'order') == order then
    return answer('completed', field_in(record, 'version'), claimed_lines())
  end
  return {'conflict'}
elseif state == 'released' then
  if action == 'release' then
    return {'released'}
  end
  return {'was_released'}
end
if now_ms() >= tonumber(field_in(record, 'until')) then
  return {'expired'}
end
local owner, claim = unpack(redis.call('HMGET', cart_key, 'id', 'co'))
-- The cart's claim is this one ('<claim id> <until ms>').
local holds = claim and string.sub(claim, 1, #claim_id + 1) == claim_id .. ' '
if action == 'release' then
  redis.call('HSET', record_key, 'state', 'released')
  if holds then
    redis.call('HDEL', cart_key, 'co')
  end
  return {'released'}
end

-- Complete: the claimed quantities leave the cart (a line whose quantity grew
-- since keeps the difference), with a fresh version.
local lines = claimed_lines()
if holds and owner == cart_id then
  local names = {}
  for i = 1, #lines, 2 do
    names[#names + 1] = lines[i]
  end
  local current = redis.call('HMGET', cart_key, unpack(names))
  local doomed, writes = {'co'}, {}
  for i = 1, #names do
    local claimed_id, claimed = decode_line(lines[2 * i])
    if current[i] then
      local id, quantity, price, added = decode_line(current[i])
      -- The claimed line itself, not another line of its product.
      if id == claimed_id then
        if quantity <= claimed then
          doomed[#doomed + 1] = names[i]
        else
          writes[#writes + 1] = names[i]
          writes[#writes + 1] = encode_line(id, quantity - claimed, price, added)
        end
      end
    end
  end
  redis.call('HDEL', cart_key, unpack(doomed))
  if #writes > 0 then
    redis.call('HSET', cart_key, unpack(writes))
  end
  bump_version(cart_key, new_version)
  redis.call('PEXPIRE', cart_key, cart_ttl)
end
redis.call('HSET', record_key, 'state', 'completed', 'order', order, 'version', new_version)
return answer('completed', new_version, lines)
