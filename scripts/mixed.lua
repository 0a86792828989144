-- wrk script: the mixed cart workload of scripts/cluster_vs_single.sh, one
-- virtual user per connection (run with -t N -c N, so each thread's globals are
-- one user's cookie and lines): 60% POST /api/cart/add of a product 1-10, 30%
-- GET /api/cart, 10% PUT /api/cart/item/{id} on a line the user owns.
-- done() prints: rps=… p50_ms=… p99_ms=… non2xx=…

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  cookie, owned, kind, non2xx = nil, {}, nil, 0
  math.randomseed(os.time() + #threads * 7919)
end

function request()
  local headers = {}
  if cookie then headers["Cookie"] = cookie end
  local r = math.random()
  if r < 0.6 then
    kind = "add"
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/cart/add", headers,
      '{"productId":' .. math.random(10) .. ',"quantity":1}')
  elseif r < 0.9 or #owned == 0 then
    kind = "get"
    return wrk.format("GET", "/api/cart", headers)
  end
  kind = "put"
  return wrk.format("PUT", "/api/cart/item/" .. owned[math.random(#owned)] ..
    "?quantity=" .. math.random(1, 5), headers)
end

function response(status, headers, body)
  for name, value in pairs(headers) do
    if string.lower(name) == "set-cookie" then
      cookie = string.match(value, "^%s*([^;]+)")
    end
  end
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif kind == "add" then
    local line = string.match(body, '"cartItem":{"id":(%d+)')
    if line and #owned < 10 then owned[#owned + 1] = line end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + (thread:get("non2xx") or 0) end
  io.write(string.format("rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, failed))
end
