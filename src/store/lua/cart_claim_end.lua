-- Completes or releases a checkout claim (API.md v1.2).
--
-- KEYS[1]  the cart hash              trolley:{cart:<no>}
-- KEYS[2]  the claim's record         trolley:{cart:<no>}:claim:<claim id>
-- ARGV[1]  the cart's public id       ARGV[2]  the claim id
-- ARGV[3]  'complete' | 'release'     ARGV[4]  the order id ('' for a release)
-- ARGV[5]  the cart's version once complete removes the lines
-- ARGV[6]  the cart's TTL, ms
-- Returns  {'completed', version, the claimed lines as 'l:<id>', value, ...}
--          | {'released'} | {'not_found'} | {'conflict'} (completed already)
--          | {'was_released'} | {'expired'}
--
-- Atomic and answered from the record, so a complete runs once however often
-- it is sent (ten at once across replicas, or again after a lost reply): the
-- first marks the record completed with its order id in the same step that
-- removes the lines, and the others find it so. It removes only the lines and
-- quantities the record holds, never a line the claim did not see; a record
-- that is gone (expired long ago, or Redis lost it) removes nothing.
local record = redis.call('HGETALL', KEYS[2])
if #record == 0 or field_in(record, 'cart') ~= ARGV[1] then
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
  if ARGV[3] == 'complete' and field_in(record, 'order') == ARGV[4] then
    return answer('completed', field_in(record, 'version'), claimed_lines())
  end
  return {'conflict'}
elseif state == 'released' then
  if ARGV[3] == 'release' then
    return {'released'}
  end
  return {'was_released'}
end
if now_ms() >= tonumber(field_in(record, 'until')) then
  return {'expired'}
end
local owner, claim = unpack(redis.call('HMGET', KEYS[1], 'id', 'co'))
local holds = claim and string.sub(claim, 1, #ARGV[2] + 1) == ARGV[2] .. ' '
if ARGV[3] == 'release' then
  redis.call('HSET', KEYS[2], 'state', 'released')
  if holds then
    redis.call('HDEL', KEYS[1], 'co')
  end
  return {'released'}
end

local lines = claimed_lines()
if holds and owner == ARGV[1] then
  local names = {}
  for i = 1, #lines, 2 do
    names[#names + 1] = lines[i]
  end
  local now = redis.call('HMGET', KEYS[1], unpack(names))
  local doomed, writes = {'co'}, {}
  for i = 1, #names do
    if now[i] then
      local product, quantity, price, added = decode_line(now[i])
      local _, claimed = decode_line(lines[2 * i])
      if quantity <= claimed then
        doomed[#doomed + 1] = names[i]
      else
        writes[#writes + 1] = names[i]
        writes[#writes + 1] = encode_line(product, quantity - claimed, price, added)
      end
    end
  end
  redis.call('HDEL', KEYS[1], unpack(doomed))
  if #writes > 0 then
    redis.call('HSET', KEYS[1], unpack(writes))
  end
  bump_version(KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
redis.call('HSET', KEYS[2], 'state', 'completed', 'order', ARGV[4], 'version', ARGV[5])
return answer('completed', ARGV[5], lines)
