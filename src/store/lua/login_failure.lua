-- Counts one failed login against a limiter key.
--
-- KEYS[1]  the counter                trolley:{login-failures:<user|ip>:<value>}
-- ARGV[1]  window in milliseconds
-- Returns  the count within the window.
--
-- Atomic, so the window starts with the first failure and is never left without
-- an expiry (which would lock the key out for good).
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
