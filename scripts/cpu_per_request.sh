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
#       floor of ../shared/bench: SERVER='env REDIS_URL=$REDIS_URL LISTEN=$LISTEN
#       /path/to/floor-probe'); it must serve the cart routes of API.md
# Env: SECS (10), VUS (32). Prints rps, then µs of CPU per request by process.
set -euo pipefail
mode=${1:-redis} SECS=${SECS:-10} VUS=${VUS:-32}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d) redis_port=$(free_port) public=$(free_port) admin=$(free_port)
server=
cleanup() {
    if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; fi
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --logfile "$work/redis.log" --dir "$work" --pidfile "$work/redis.pid"
sleep 0.3
export REDIS_URL="redis://127.0.0.1:$redis_port" LISTEN="127.0.0.1:$public"
case $mode in
    redis | embedded)
        store=(env -u TROLLEY_REDIS_URL)
        if [[ $mode == redis ]]; then
            store=(env TROLLEY_REDIS_URL="$REDIS_URL")
            "${store[@]}" target/release/trolley catalog import deploy/catalog/demo-catalog.json >/dev/null
        fi
        "${store[@]}" TROLLEY_LISTEN="$LISTEN" TROLLEY_ADMIN_LISTEN="127.0.0.1:$admin" \
            TROLLEY_MAX_QUANTITY=1000000 RUST_LOG=warn target/release/trolley serve >"$work/server.log" 2>&1 &
        ;;
    custom) bash -c "exec ${SERVER:?set SERVER to the server command}" >"$work/server.log" 2>&1 & ;;
    *) echo "usage: $0 [redis|embedded|custom]"; exit 2 ;;
esac
server=$!
for _ in $(seq 100); do curl -s "http://$LISTEN/api/cart" >/dev/null && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
wrk -t "$VUS" -c "$VUS" -d 2s -s scripts/mixed.lua "http://$LISTEN" >/dev/null
redis_pid=$(cat "$work/redis.pid")
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
