-- Admits one login attempt to have its password checked, against one limiter
-- key (the username, or the client address).
--
-- KEYS[1]  the key's failures in the window   trolley:{login-failures:<key>}
-- KEYS[2]  the attempts being checked          trolley:{login-failures:<key>}:checking
--          (a sorted set: attempt id -> when its lease ends, in ms)
-- ARGV[1]  attempt id    ARGV[2]  failures allowed    ARGV[3]  lease in milliseconds
-- Returns  {0 admitted} | {1 busy, the ids of the attempts being checked}
--        | {2 refused, ms until the failure window ends}
--
-- Atomic, so N parallel wrong guesses get at most the limit's worth of checks:
-- an attempt is admitted only while the failures plus the attempts being
-- checked stay under the limit, and the admission takes its place in the same
-- step. A busy attempt waits for the others' outcome (limiter.rs) instead of
-- being refused: a correct password is refused only once the failures alone
-- reach the limit. A lease ends an attempt whose replica died mid-check.
local failures_key, checking_key = KEYS[1], KEYS[2]
local attempt, limit, lease = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local now = now_ms()
redis.call('ZREMRANGEBYSCORE', checking_key, '-inf', now)
local failures = tonumber(redis.call('GET', failures_key) or '0')
if failures >= limit then
  return {2, redis.call('PTTL', failures_key)}
end
if failures + redis.call('ZCARD', checking_key) >= limit then
  return {1, redis.call('ZRANGE', checking_key, 0, -1)}
end
redis.call('ZADD', checking_key, now + tonumber(lease), attempt)
redis.call('PEXPIRE', checking_key, lease)
return {0}
