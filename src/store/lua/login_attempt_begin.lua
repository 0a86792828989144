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
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[2])
if failures >= limit then
  return {2, redis.call('PTTL', KEYS[1])}
end
if failures + redis.call('ZCARD', KEYS[2]) >= limit then
  return {1, redis.call('ZRANGE', KEYS[2], 0, -1)}
end
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {0}
