#!/usr/bin/env bash
# trolley against the architecture's floor, side by side, same driver, same machine,
# alternating rounds. Run from the project root:  bash bench/compare.sh
#
# The floor (floor/) is axum + fred doing exactly the Redis round trips of the naive
# design (add = GET session + one script + SET session; get and put = GET session + one
# call) and nothing else: no validation, no catalog, no real JSON, no metrics. A cart
# service that takes fewer round trips and keeps its in-process work lean beats it.
# The driver (load/) is wrk with a Lua script: VUS virtual users, each its own cookie
# jar, 60% add / 30% get / 10% put on a line it owns.
#
# Prints one line per round and target, then per target the Redis commands per request
# (INFO commandstats) and, last, the medians:
#   trolley/floor=R  p99_ms trolley=… floor=…  rps trolley=… floor=…  redis_cmds_incl_script_calls_per_req trolley=…  bytes_3line_cart_and_session=…
# trolley runs at the Helm chart's defaults (RUST_LOG=info, JSON logs, every request's
# access line written to a file as a container runtime would take it); TROLLEY_RUST_LOG=warn
# gives the old, quieter comparison. redis_usec_per_req is the Redis time (INFO
# commandstats usec, all commands incl. scripts) per HTTP request: the shared resource.
# Env: ROUNDS (3), SECS (10), VUS (32), PRODUCT_IDS (1-10), TROLLEY_RUST_LOG (info),
# TROLLEY_ENV (extra VAR=value settings for trolley, space-separated). Ports 6581-6582,
# 7301-7303 on 127.0.0.1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} VUS=${VUS:-32}
export PRODUCT_IDS=${PRODUCT_IDS:-1-10} WARMUP=${WARMUP:-2}
WORK=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for port in 6581 6582; do redis-cli -p $port shutdown nosave >/dev/null 2>&1; done
  rm -rf "$WORK"
}
trap cleanup EXIT
for tool in redis-server wrk; do
  command -v $tool >/dev/null || apt-get install -y -qq redis-server wrk >/dev/null 2>&1 \
    || { echo "missing $tool (apt-get install redis-server wrk)"; exit 1; }
done
[ -f Cargo.toml ] || { echo "run from the project root"; exit 1; }
cargo build --release >"$WORK/build.log" 2>&1 || { tail -5 "$WORK/build.log"; echo "build failed"; exit 1; }
(cd "$HERE/floor" && CARGO_TARGET_DIR="$WORK/floor-target" cargo build --release >"$WORK/floor.log" 2>&1) \
  || { tail -5 "$WORK/floor.log"; echo "floor build failed"; exit 1; }
BIN=$PWD/target/release/trolley
for port in 6581 6582; do
  redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --logfile "$WORK/r$port.log"
done
sleep 0.5
CATALOG=$(git grep -l 'Bluetooth audio headset' -- '*.json' | grep -v -iE 'openapi|dashboard' | head -n1)
TROLLEY_REDIS_URL=redis://127.0.0.1:6581 "$BIN" catalog import "$CATALOG" >/dev/null 2>&1
# shellcheck disable=SC2086
env ${TROLLEY_ENV:-} TROLLEY_REDIS_URL=redis://127.0.0.1:6581 TROLLEY_LISTEN=127.0.0.1:7301 \
  TROLLEY_ADMIN_LISTEN=127.0.0.1:7302 RUST_LOG="${TROLLEY_RUST_LOG:-info}" TROLLEY_LOG_FORMAT=json \
  "$BIN" serve >"$WORK/trolley.log" 2>&1 &
pids+=($!)
REDIS_URL=redis://127.0.0.1:6582 LISTEN=127.0.0.1:7303 "$WORK/floor-target/release/floor-probe" >"$WORK/floor.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:7301/api/cart >/dev/null && break; sleep 0.2; done

cmds() { redis-cli -p "$1" info commandstats | grep -v 'cmdstat_info\|cmdstat_config' | grep -oE 'calls=[0-9]+' | cut -d= -f2 | paste -sd+ | bc; }
usecs() { redis-cli -p "$1" info commandstats | grep -v 'cmdstat_info\|cmdstat_config' | grep -oE ',usec=[0-9]+' | cut -d= -f2 | paste -sd+ | bc; }
declare -A rps p99 cpr upr
for r in $(seq "$ROUNDS"); do
  for who in trolley floor; do
    case $who in trolley) u=http://127.0.0.1:7301 port=6581 ;; floor) u=http://127.0.0.1:7303 port=6582 ;; esac
    "$HERE/load/run.sh" "$u" "$VUS" 1 >/dev/null 2>&1   # warm
    redis-cli -p $port config resetstat >/dev/null
    line=$(WARMUP=0 LOG="$WORK/$who.$r.log" "$HERE/load/run.sh" "$u" "$VUS" "$SECS" 2>/dev/null)
    reqs=$(grep -oE 'requests=[0-9]+' "$WORK/$who.$r.log" | cut -d= -f2)
    c=$(cmds $port)
    per=$(bc -l <<<"scale=2; ${c:-0}/${reqs:-1}")
    us=$(bc -l <<<"scale=2; $(usecs $port)/${reqs:-1}")
    echo "round $r $who $line redis_cmds_per_req=$per redis_usec_per_req=$us"
    upr[$who]+="$us "
    rps[$who]+="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line") "
    p99[$who]+="$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line") "
    cpr[$who]+="$per "
  done
done
# Redis bytes for one 3-line guest cart and its session, on a fresh Redis.
redis-cli -p 6582 flushall >/dev/null
kill "${pids[0]}" 2>/dev/null; sleep 0.5
TROLLEY_REDIS_URL=redis://127.0.0.1:6582 "$BIN" catalog import "$CATALOG" >/dev/null 2>&1
# shellcheck disable=SC2086
env ${TROLLEY_ENV:-} TROLLEY_REDIS_URL=redis://127.0.0.1:6582 TROLLEY_LISTEN=127.0.0.1:7301 \
  TROLLEY_ADMIN_LISTEN=127.0.0.1:7302 RUST_LOG=warn "$BIN" serve >"$WORK/trolley2.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:7301/api/cart >/dev/null && break; sleep 0.2; done
before=$(redis-cli -p 6582 --scan | sort)
for p in 1 2 3; do
  curl -s -c "$WORK/jar" -b "$WORK/jar" -H 'content-type: application/json' \
    -d "{\"productId\":$p,\"quantity\":2}" http://127.0.0.1:7301/api/cart/add >/dev/null
done
bytes=0
for k in $(comm -13 <(echo "$before") <(redis-cli -p 6582 --scan | sort) | grep -v "^trolley:cart-seq$"); do
  b=$(redis-cli -p 6582 memory usage "$k"); bytes=$((bytes + ${b:-0}))
done
# Redis round trips per request, by route: the commands each replica sends, counted with
# MONITOR (commands run inside scripts are not round trips and are left out), 20 requests each.
mon="$WORK/monitor.txt"
redis-cli -p 6582 monitor >"$mon" 2>/dev/null &
monpid=$!
sleep 0.3
api=http://127.0.0.1:7301
jar="$WORK/jar"
block() { redis-cli -p 6582 echo "MARK-$1" >/dev/null; }
block anonymous-get; for _ in $(seq 20); do curl -s $api/api/cart >/dev/null; done
block add; for _ in $(seq 20); do curl -s -c "$jar" -b "$jar" -H 'content-type: application/json' -d '{"productId":1,"quantity":1}' $api/api/cart/add >/dev/null; done
block get; for _ in $(seq 20); do curl -s -c "$jar" -b "$jar" $api/api/cart >/dev/null; done
line=$(curl -s -c "$jar" -b "$jar" $api/api/cart | grep -oE '"id":[0-9]+' | head -1 | cut -d: -f2)
block put; for _ in $(seq 20); do curl -s -c "$jar" -b "$jar" -X PUT "$api/api/cart/item/$line?quantity=2" >/dev/null; done
block minimal-add; for _ in $(seq 20); do curl -s -c "$jar" -b "$jar" -H 'content-type: application/json' -d '{"sku":"apple"}' $api/cart/items >/dev/null; done
block end
sleep 0.3; kill $monpid 2>/dev/null
trips=$(awk '/"echo" "MARK-/ { if (name != "") printf "%s=%.1f ", name, n/20; name=$0; sub(/.*"MARK-/, "", name); sub(/".*/, "", name); if (name == "end") name = ""; n=0; next }
             / \[[0-9]+ lua\] / { next }
             /"trolley:\{catalog\}:version"/ { next }
             /^[0-9]/ { n++ }' "$mon")
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t=$(med <<<"${rps[trolley]}"); f=$(med <<<"${rps[floor]}")
echo "trolley/floor=$(bc -l <<<"scale=2; $t/$f") p99_ms trolley=$(med <<<"${p99[trolley]}") floor=$(med <<<"${p99[floor]}") rps trolley=$t floor=$f redis_cmds_incl_script_calls_per_req trolley=$(med <<<"${cpr[trolley]}") floor=$(med <<<"${cpr[floor]}") redis_usec_per_req trolley=$(med <<<"${upr[trolley]}") floor=$(med <<<"${upr[floor]}") bytes_3line_cart_and_session=$bytes"
echo "round_trips_per_request $trips"
