-- Counts one event (a new session of a client address) in a window, and says
-- whether it is within the limit.
--
-- KEYS[1]  the counter                trolley:{new-sessions:<address>}
-- ARGV[1]  window in milliseconds     ARGV[2]  events allowed in the window
-- Returns  {count within the window, ms until the window ends, 1 admitted | 0 refused}
--
-- Atomic, so N parallel events are counted N times (a read-check-increment
-- would let all N pass the check), the window starts with the first event and
-- is never left without an expiry.
local counter_key = KEYS[1]
local window, limit = ARGV[1], tonumber(ARGV[2])

local count = redis.call('INCR', counter_key)
if count == 1 or redis.call('PTTL', counter_key) < 0 then
  redis.call('PEXPIRE', counter_key, window)
end
local remaining = redis.call('PTTL', counter_key)
if count > limit then
  return {count, remaining, 0}
end
return {count, remaining, 1}
