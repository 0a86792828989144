-- Ends one admitted login attempt (login_attempt_begin.lua) with its outcome.
--
-- KEYS[1]  the key's failures in the window   KEYS[2]  the attempts being checked
-- ARGV[1]  attempt id
-- ARGV[2]  'failed' (counts a failure) | 'cleared' (the owner signed in: the
--          failures are forgotten) | 'released' (neither)
-- ARGV[3]  the failure window in milliseconds
-- Returns  0
--
-- Atomic, so a waiting attempt never sees the place freed before the failure
-- is counted (it would be one check past the limit). The window starts with
-- the first failure and is never left without an expiry.
local failures_key, checking_key = KEYS[1], KEYS[2]
local attempt, outcome, window = ARGV[1], ARGV[2], ARGV[3]

redis.call('ZREM', checking_key, attempt)
if outcome == 'failed' then
  local count = redis.call('INCR', failures_key)
  if count == 1 or redis.call('PTTL', failures_key) < 0 then
    redis.call('PEXPIRE', failures_key, window)
  end
elseif outcome == 'cleared' then
  redis.call('DEL', failures_key)
end
return 0
