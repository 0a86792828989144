#!/usr/bin/env bash
# How fast trolley could be on this machine at best, next to a target of
# 1.25× the floor (bench/floor): CPU per request of each process, in one
# sitting, for
#   1. the floor under the mixed workload (the target's budget: its CPU per
#      request / 1.25, since the three processes share the cores);
#   2. trolley on Redis and on the embedded store under the same workload (the
#      embedded run gives the driver's cost of reading trolley's answers, which
#      are API.md's bodies and headers, with no Redis at all);
#   3. the floor's parts under plain wrk: bare axum (`/hello`) and one EVALSHA
#      through fred (`POST /add1`), the least an HTTP answer and a Redis round
#      trip cost.
# The bound is what a trolley that did nothing but one round trip per request
# would cost: the driver on trolley's answers + the server and Redis of /add1.
# Run from the project root after `cargo build --release`, with the floor built:
#   FLOOR=/path/to/floor-probe scripts/floor_bound.sh
#   (cd bench/floor && CARGO_TARGET_DIR=/tmp/floor-target cargo build --release)
# Env: SECS (10), VUS (32).
set -euo pipefail
FLOOR=${FLOOR:?set FLOOR to the floor-probe binary}
SECS=${SECS:-10} VUS=${VUS:-32}
export SECS VUS
run() { scripts/cpu_per_request.sh "$@" | grep '^cpu_us_per_request'; }
floor=$(SERVER="env REDIS_URL=\$REDIS_URL LISTEN=\$LISTEN $FLOOR" run custom)
trolley=$(run redis)
embedded=$(run embedded)

# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
port=$(free_port)
start_redis "$port"
public=$(free_port)
REDIS_URL="redis://127.0.0.1:$port" LISTEN="127.0.0.1:$public" "$FLOOR" >"$work/floor.log" 2>&1 &
pids+=($!)
server=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$public/hello" >/dev/null && break; sleep 0.1; done
redis_pid=$(cat "$work/$port/redis.pid")
echo 'wrk.method = "POST"' >"$work/post.lua"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
# µs of server and Redis CPU per request of plain wrk on one route.
part() {
    local route=$1
    shift
    wrk -t "$VUS" -c "$VUS" -d 2s "$@" "http://127.0.0.1:$public$route" >/dev/null
    local r0 s0 r1 s1
    r0=$(cpu "$redis_pid") s0=$(cpu "$server")
    wrk -t "$VUS" -c "$VUS" -d "${SECS}s" "$@" "http://127.0.0.1:$public$route" >"$work/part.out"
    r1=$(cpu "$redis_pid") s1=$(cpu "$server")
    local requests
    requests=$(awk '/requests in/ {print $1}' "$work/part.out")
    python3 -c 'import sys
n, hz, s0, s1, r0, r1 = map(float, sys.argv[1:])
print(f"server={(s1 - s0) / hz / n * 1e6:.1f} redis={(r1 - r0) / hz / n * 1e6:.1f}")' \
        "$requests" "$(getconf CLK_TCK)" "$s0" "$s1" "$r0" "$r1"
}
hello=$(part /hello)
add1=$(part /add1 -s "$work/post.lua")

python3 - "$floor" "$trolley" "$embedded" "$hello" "$add1" <<'PY'
import sys
def parse(line):
    return {k: float(v) for k, v in (p.split("=") for p in line.split() if "=" in p)}
floor, trolley, embedded, hello, add1 = map(parse, sys.argv[1:])
budget = floor["total"] / 1.25
bound = embedded["wrk"] + add1["server"] + add1["redis"]
print(f"floor, mixed:            redis={floor['redis']:.1f} server={floor['server']:.1f} wrk={floor['wrk']:.1f} total={floor['total']:.1f} µs/req")
print(f"trolley on Redis, mixed: redis={trolley['redis']:.1f} server={trolley['server']:.1f} wrk={trolley['wrk']:.1f} total={trolley['total']:.1f}")
print(f"trolley embedded, mixed: server={embedded['server']:.1f} wrk={embedded['wrk']:.1f} total={embedded['total']:.1f}")
print(f"floor parts, plain wrk:  /hello server={hello['server']:.1f}  /add1 (one EVALSHA) server={add1['server']:.1f} redis={add1['redis']:.1f}")
print(f"budget_us_for_1.25x={budget:.1f} one_round_trip_bound_us={bound:.1f} "
      f"trolley_us={trolley['total']:.1f} best_ratio={floor['total'] / bound:.2f} "
      f"trolley_ratio={floor['total'] / trolley['total']:.2f}")
PY
