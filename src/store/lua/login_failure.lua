-- Counts one login attempt against a limiter key, before its password is
-- checked, and says whether it may be checked.
--
-- KEYS[1]  the counter                trolley:{login-failures:<user|ip>:<value>}
-- ARGV[1]  window in milliseconds     ARGV[2]  attempts allowed in the window
-- Returns  {count within the window, ms until the window ends, 1 admitted | 0 refused}
--
-- Atomic, so N parallel wrong guesses get at most the limit's worth of password
-- checks (a read-check-increment would let all N pass the check), the window
-- starts with the first attempt and is never left without an expiry. A
-- successful login takes its attempt back (see limiter.rs).
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local remaining = redis.call('PTTL', KEYS[1])
if count > tonumber(ARGV[2]) then
  return {count, remaining, 0}
end
return {count, remaining, 1}
