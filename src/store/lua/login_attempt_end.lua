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
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == 'failed' then
  local count = redis.call('INCR', KEYS[1])
  if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
elseif ARGV[2] == 'cleared' then
  redis.call('DEL', KEYS[1])
end
return 0
