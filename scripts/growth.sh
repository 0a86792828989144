#!/usr/bin/env bash
# How trolley's cost grows with the cart: GET /api/cart and an add to
# a cart of 1, 10, 50 and 100 lines (p50/p99 with wrk, one cookie, 8 connections),
# the Redis bytes per line, and a login's time against the guest cart it merges
# (argon2 included: compare with the 0-line row). Run from the project root after
# `cargo build --release`:  scripts/growth.sh   (SECS=5, CONNECTIONS=8)
# Starts its own redis-server and trolley on free ports of 127.0.0.1 and stops them.
set -euo pipefail
SECS=${SECS:-5} CONNECTIONS=${CONNECTIONS:-8}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
redis_port=$(free_port)
start_redis "$redis_port"
# A large max quantity: the add runs for seconds on one line.
serve_trolley trolley TROLLEY_REDIS_URL="redis://127.0.0.1:$redis_port" TROLLEY_MAX_QUANTITY=1000000
base="http://127.0.0.1:$public"
cat >"$work/add.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"productId": 1, "quantity": 1}'
wrk.headers["Content-Type"] = "application/json"
LUA
measure() { # route, cookie, [script]
    local args=(-t 2 -c "$CONNECTIONS" -d "${SECS}s" --latency -H "Cookie: trolley_session=$2")
    [[ -n ${3:-} ]] && args+=(-s "$3")
    wrk "${args[@]}" "$base$1" | awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2} END {printf "rps=%s p50=%s p99=%s", rps, p50, p99}'
}
echo "| lines | GET /api/cart | POST /api/cart/add (existing line) | cart hash bytes |"
echo "|---|---|---|---|"
for lines in 1 10 50 100; do
    jar="$work/jar-$lines"
    for product in $(seq 1 "$lines"); do
        curl -s -c "$jar" -b "$jar" -H 'content-type: application/json' \
            -d "{\"productId\": $product, \"quantity\": 1}" "$base/api/cart/add" >/dev/null
    done
    cookie=$(awk '$6 == "trolley_session" {print $7}' "$jar")
    key=$(curl -s -b "$jar" "$base/api/cart" | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["id"] >> 20)')
    bytes=$(redis-cli -p "$redis_port" memory usage "trolley:{cart:$key}")
    echo "| $lines | $(measure /api/cart "$cookie") | $(measure /api/cart/add "$cookie" "$work/add.lua") | $bytes |"
done

echo
echo "| guest lines merged at login | login time (median of 5) |"
echo "|---|---|"
for lines in 0 1 10 50 100; do
    times=()
    for attempt in 1 2 3 4 5; do
        user="grow-$lines-$attempt"
        printf 'a-long-enough-password\n' | TROLLEY_REDIS_URL="redis://127.0.0.1:$redis_port" \
            target/release/trolley user add "$user" >/dev/null 2>&1
        jar="$work/login-$lines-$attempt"
        for product in $(seq 1 "$lines"); do
            curl -s -c "$jar" -b "$jar" -H 'content-type: application/json' \
                -d "{\"productId\": $product, \"quantity\": 1}" "$base/api/cart/add" >/dev/null
        done
        times+=("$(curl -s -o /dev/null -w '%{time_total}' -c "$jar" -b "$jar" -H 'content-type: application/json' \
            -d "{\"username\": \"$user\", \"password\": \"a-long-enough-password\"}" "$base/api/auth/login")")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 3p)
    echo "| $lines | $(python3 -c "print(f'{$median * 1000:.1f} ms')") |"
done
