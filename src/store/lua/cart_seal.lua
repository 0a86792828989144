-- Seals a guest cart for a login merge on Redis Cluster: step 1 of 3.
--
-- On Cluster the guest cart and the user's cart live in two slots, so the merge is
-- three single-slot scripts: cart_seal.lua (guest slot), cart_absorb.lua (user
-- slot), cart_seal_done.lua (guest slot). Single-node and Sentinel run
-- cart_merge.lua instead, one script for both carts.
--
-- KEYS[1]  the guest cart hash        trolley:{cart:<guest no>}
-- KEYS[2]  the guest cart's tombstone trolley:{cart:<guest no>}:merged
-- ARGV[1]  user cart number           ARGV[2]  the user cart's TTL, in milliseconds
-- ARGV[3]  the guest cart's public id (the session's)
-- ARGV[4]  a fresh random nonce: it tells this seal from a later seal of the
--          same cart (see cart_absorb.lua's refusals)
-- Returns  {'already'}                the cart was merged by an earlier login
--          | {'claimed'}              a checkout claim holds the guest cart: untouched
--          | {'foreign'}              the guest hash is another session's: untouched
--          | {'sealed', target user cart number, seal, 'l:<product id>', 'line id|quantity|price|added', ...}
--            the guest cart's lines; the target is the user cart the seal was
--            first made for (an earlier login's, when that login was interrupted);
--            seal: the tombstone's value, 'sealed:<target>|<guest id>|<nonce>|<the
--            guest cart's ttl ms before the seal>', which the later steps name it by
--
-- Why atomic: reading the lines and writing the seal are one step. From the seal
-- on, the cart scripts refuse to write to the guest cart (they check EXISTS on the
-- tombstone), so every add either ran before the seal and is in the lines read
-- here, or is refused with an error the client sees. Because the cart no longer
-- changes, a login retried after a crash or a timeout between the steps reads the
-- same lines again, and cart_absorb.lua makes their second application a no-op.
-- The seal keeps its first target, so an interrupted merge is always finished
-- into the cart it started with. The guest cart takes the seal's TTL, so its lines
-- live as long as the seal that waits for them.
local guest_key, tombstone_key = KEYS[1], KEYS[2]
local user_no, ttl, guest_id, nonce = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if cart_state(guest_key, tombstone_key, guest_id) == 'foreign' then
  return {'foreign'}
end
local tombstone = redis.call('GET', tombstone_key)
local target = user_no
local seal = tombstone
if tombstone then
  local state = string.match(tombstone, '^([^|]*)')
  if string.sub(state, 1, 7) ~= 'sealed:' then
    return {'already'}
  end
  target = string.sub(state, 8)
else
  -- A checkout claim freezes its cart: a claimed guest cart is not sealed. (A
  -- claim on the user's cart is checked by cart_absorb.lua, in its slot.) An
  -- earlier seal is finished anyway.
  if claim_holds(redis.call('HGET', guest_key, 'co')) then
    return {'claimed'}
  end
  -- The guest cart's ttl before the seal is kept in it: lifting the seal
  -- (cart_unseal.lua) gives it back.
  seal = 'sealed:' .. user_no .. '|' .. guest_id .. '|' .. nonce .. '|'
    .. redis.call('PTTL', guest_key)
  redis.call('SET', tombstone_key, seal, 'PX', ttl)
end
redis.call('PEXPIRE', guest_key, ttl)
return line_pairs(redis.call('HGETALL', guest_key), {'sealed', target, seal})
