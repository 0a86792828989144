-- Applies a sealed guest cart's lines to the user's cart on Redis Cluster: step 2
-- of 3 (see cart_seal.lua).
--
-- KEYS[1]  the user's cart hash       trolley:{cart:<user no>}
-- KEYS[2]  the guest carts it absorbed trolley:{cart:<user no>}:absorbed (a set)
-- KEYS[3]  the seals it refused       trolley:{cart:<user no>}:refused (a set)
-- ARGV[1]  guest cart number          ARGV[2]  user cart public id ('' leaves it as is)
-- ARGV[3]  rule: 'sum' | 'max' | 'guest'
-- ARGV[4]  max quantity of a line     ARGV[5]  max lines of a cart
-- ARGV[6]  the user cart's TTL (and the set's), in milliseconds
-- ARGV[7]  the user cart's new version, if the merge changes it
-- ARGV[8]  the seal, as cart_seal.lua answered it
-- ARGV[9..] the guest lines from cart_seal.lua: 'l:<product id>', 'line id|quantity|price|added', ...
-- Returns  {'already'}
--          | {'claimed'}  a checkout claim holds the user's cart and there are
--                         lines to apply, or this seal was refused so before:
--                         nothing applied (cart_unseal.lua follows)
--          | {'merged', lines moved, lines combined, 'clamped,ids', 'dropped,ids'}
--
-- Why atomic: checking the absorbed set, changing the user's cart and recording
-- the guest cart number are one step in the user's slot. A login retried after a
-- crash between this step and cart_seal_done.lua, or two logins racing with one
-- guest cart, find the guest number in the set and apply nothing again; two guest
-- carts merged into one user cart at once serialize here, each applied once.
--
-- The rules are cart_merge.lua's: both use prelude.lua's merge_lines.
local user_key, absorbed_key, refused_key = KEYS[1], KEYS[2], KEYS[3]
local guest_no, user_id, rule = ARGV[1], ARGV[2], ARGV[3]
local max_quantity, max_lines = tonumber(ARGV[4]), tonumber(ARGV[5])
local ttl, new_version, seal = ARGV[6], ARGV[7], ARGV[8]
local FIRST_LINE = 9 -- the guest lines are ARGV[9..]
local has_lines = #ARGV >= FIRST_LINE

if redis.call('SISMEMBER', absorbed_key, guest_no) == 1 then
  return {'already'}
end
-- A checkout claim freezes the user's cart: checked here, in the slot that
-- holds it, so a claim taken at any time before this step is seen. The refusal
-- is recorded against the seal: another login that read the same seal (a double
-- click) is refused too, even once the claim has ended, because the refused
-- login lifts that seal (cart_unseal.lua) and a merge must not finish under it.
if redis.call('SISMEMBER', refused_key, seal) == 1 then
  return {'claimed'}
end
if has_lines and claim_holds(redis.call('HGET', user_key, 'co')) then
  redis.call('SADD', refused_key, seal)
  redis.call('PEXPIRE', refused_key, ttl)
  return {'claimed'}
end
if user_id ~= '' then
  redis.call('HSETNX', user_key, 'id', user_id)
end
local moved, combined, clamped, dropped =
  merge_lines(user_key, ARGV, FIRST_LINE, rule, max_quantity, max_lines)
if moved + combined > 0 then
  bump_version(user_key, new_version)
end
redis.call('PEXPIRE', user_key, ttl)
redis.call('SADD', absorbed_key, guest_no)
redis.call('PEXPIRE', absorbed_key, ttl)
return {'merged', tostring(moved), tostring(combined), table.concat(clamped, ','), table.concat(dropped, ',')}
