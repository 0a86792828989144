#!/usr/bin/env bash
# The express + express-session + connect-redis comparison point, driven by the same
# workload as compare.sh (load/run.sh). Run from the project root:
#   bash bench/express/run.sh
# Installs the pinned packages (package-lock.json, `npm ci`) when missing, starts its
# own Redis on 127.0.0.1:6583 and the app on 127.0.0.1:7304, runs ROUNDS (3) rounds of
# SECS (10) seconds with VUS (32) users and prints one line per round:
#   express rps=… p50_ms=… p99_ms=… errors=… non2xx=…
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} VUS=${VUS:-32}
export PRODUCT_IDS=${PRODUCT_IDS:-1-10} WARMUP=${WARMUP:-2}
command -v node >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
[ -d "$HERE/node_modules" ] || (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null) || exit 1
WORK=$(mktemp -d)
redis-server --port 6583 --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
redis_pid=$!
NODE_ENV=production REDIS_URL=redis://127.0.0.1:6583 LISTEN=7304 node "$HERE/app.js" >"$WORK/app.log" 2>&1 &
app_pid=$!
trap 'kill $app_pid $redis_pid 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do
  curl -fs -o /dev/null http://127.0.0.1:7304/api/cart && break
  sleep 0.1
done
for _ in $(seq "$ROUNDS"); do
  echo "express $("$HERE/../load/run.sh" http://127.0.0.1:7304 "$VUS" "$SECS" 2>/dev/null)"
done
