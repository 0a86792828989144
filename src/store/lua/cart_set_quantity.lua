-- Sets the quantity of one line of a cart.
--
-- KEYS, ARGV[1..6]: those of every cart change (write_gate in prelude.lua).
-- ARGV[7]  line id                    ARGV[8]  new quantity (checked by the caller)
-- Returns  {'ok', version, line id, product id, quantity, price, added ms}
--          | {'missing' | 'merged' | 'foreign' | 'stale' | 'again' | 'key_reused', version}
--          | {'replay', ...a recorded reply}
--
-- Atomic: the line is found and rewritten in one step, so a concurrent removal or
-- add cannot interleave, and the version and TTL change with it.
local stop, ops = write_gate()
if stop then
  return stop
end
local raw = redis.call('HGET', KEYS[1], 'l:' .. ARGV[7])
if not raw then
  return decided({'missing'}, newest_op(ops))
end
local product, _, price, added = decode_line(raw)
redis.call('HSET', KEYS[1], 'l:' .. ARGV[7], encode_line(product, ARGV[8], price, added))
return changed(ops, line_reply(ARGV[7], product, ARGV[8], price, added))
