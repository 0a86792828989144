#!/usr/bin/env bash
# CPU time per request of each process on the machine, under the mixed workload
# (scripts/mixed.lua, 32 connections): the driver (wrk), Redis and the server.
# On a machine where all three share the cores, the rate is what the CPU allows,
# so these say where a request's time goes. Run from the project root after
# `cargo build --release`:
#   scripts/cpu_per_request.sh              trolley on its own redis-server
#   scripts/cpu_per_request.sh embedded     trolley on the embedded store
#   SERVER='cmd …' scripts/cpu_per_request.sh custom
#       any server: its command line may use $REDIS_URL and $LISTEN (e.g. the
#       floor of bench/floor: SERVER='env REDIS_URL=$REDIS_URL LISTEN=$LISTEN
#       /path/to/floor-probe'); it must serve the cart routes of API.md
# Env: SECS (10), VUS (32), TROLLEY_BIN (target/release/trolley: another build to
# compare, e.g. one in its own CARGO_TARGET_DIR). Prints rps, then µs of CPU per request by process.
set -euo pipefail
mode=${1:-redis} SECS=${SECS:-10} VUS=${VUS:-32}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
redis_port=$(free_port)
start_redis "$redis_port"
export REDIS_URL="redis://127.0.0.1:$redis_port"
case $mode in
    redis)
        TROLLEY_REDIS_URL=$REDIS_URL "${TROLLEY_BIN:-target/release/trolley}" catalog import deploy/catalog/demo-catalog.json >/dev/null
        serve_trolley server TROLLEY_REDIS_URL="$REDIS_URL" TROLLEY_MAX_QUANTITY=1000000
        ;;
    embedded) serve_trolley server TROLLEY_MAX_QUANTITY=1000000 ;;
    custom)
        public=$(free_port)
        LISTEN="127.0.0.1:$public" bash -c "exec ${SERVER:?set SERVER to the server command}" >"$work/server.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 100); do curl -s "http://127.0.0.1:$public/api/cart" >/dev/null && break; sleep 0.1; done
        ;;
    *) echo "usage: $0 [redis|embedded|custom]"; exit 2 ;;
esac
server=${pids[-1]} LISTEN="127.0.0.1:$public"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
wrk -t "$VUS" -c "$VUS" -d 2s -s scripts/mixed.lua "http://$LISTEN" >/dev/null
redis_pid=$(cat "$work/$redis_port/redis.pid")
r0=$(cpu "$redis_pid") s0=$(cpu "$server")
/usr/bin/time -f "%U %S" -o "$work/wrk.time" \
    wrk -t "$VUS" -c "$VUS" -d "${SECS}s" -s scripts/mixed.lua "http://$LISTEN" >"$work/wrk.out"
r1=$(cpu "$redis_pid") s1=$(cpu "$server")
grep '^rps=' "$work/wrk.out"
read -r wrk_user wrk_sys <"$work/wrk.time"
python3 - "$(grep -oE '^rps=[0-9]+' "$work/wrk.out" | cut -d= -f2)" "$SECS" "$((r1 - r0))" "$((s1 - s0))" \
    "$wrk_user" "$wrk_sys" "$(getconf CLK_TCK)" <<'PY'
import sys
rps, secs, redis, server, wrk_user, wrk_sys, hz = sys.argv[1:]
requests = float(rps) * float(secs)
per = lambda seconds: seconds / requests * 1e6
r, s = per(int(redis) / int(hz)), per(int(server) / int(hz))
w = per(float(wrk_user) + float(wrk_sys))
print(f"cpu_us_per_request redis={r:.1f} server={s:.1f} wrk={w:.1f} total={r + s + w:.1f}")
PY
