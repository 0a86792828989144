#!/usr/bin/env bash
# k6 load, login-merge and concurrency scripts against the compose stack of
# scripts/stack-smoke.sh (three replicas behind haproxy, Redis, Prometheus),
# each with its thresholds and final-state checks, results written into the
# stack's Prometheus (remote write, trends as native histograms). Then:
#
#   one alert is fired on purpose (Redis stopped until TrolleyRedisUnreachable
#   fires, then started again), and every PromQL expression of the dashboard
#   and the alert rules returns data (scripts/promql_has_data.py).
#
# Prints a table of the figures (docs/PERFORMANCE.md, "k6 through the load
# balancer") and "N passed, M failed" last; tears the stack down on exit.
#
#   bash scripts/k6-load.sh                 (as root on Debian; ~5 min)
#   RATE=100 HOLD=2m bash scripts/k6-load.sh
#
# Settings: RATE (peak visits/s, 50), RAMP (20s), HOLD (1m), PRE_VUS (100),
# CONCURRENCY_VUS (50), LOGIN_ITERATIONS (20), KEEP_LOGS.
set -euo pipefail
# shellcheck source=scripts/stack-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-lib.sh"
cd "$root"

RATE=${RATE:-50} RAMP=${RAMP:-20s} HOLD=${HOLD:-1m}
PRE_VUS=${PRE_VUS:-100}
CONCURRENCY_VUS=${CONCURRENCY_VUS:-50}
LOGIN_ITERATIONS=${LOGIN_ITERATIONS:-20}
# All VUs share the host's address: the per-address limit of new sessions is off.
export NEW_SESSIONS_PER_MINUTE=0

trap stack_down EXIT
trap 'exit 130' INT TERM

stack_tools
stack_images
stack_up
results="$state/results"
mkdir -p "$results"

export K6_PROMETHEUS_RW_SERVER_URL="$PROM_URL/api/v1/write"
export K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true
export K6_PROMETHEUS_RW_PUSH_INTERVAL=5s
# run NAME SCRIPT ARGS…: k6 with its summary kept for the figures.
run() {
    local name=$1 script=$2
    shift 2
    timeout 600 "$venv/bin/k6" run --quiet --no-color -o experimental-prometheus-rw \
        --tag testid="$name" --summary-export "$results/$name.json" \
        --summary-trend-stats "avg,min,med,max,p(95),p(99)" \
        -e BASE_URL="$LB_URL" "$@" "$script"
}

# All VUs allocated up front: starting one mid-run on two busy cores is slow
# enough to drop arrivals, which load.js counts against the run.
check "k6 load.js (RATE=$RATE, ramp $RAMP, hold $HOLD): thresholds" \
    run load deploy/k6/load.js -e RATE="$RATE" -e RAMP="$RAMP" -e HOLD="$HOLD" -e PRE_VUS="$PRE_VUS"
check "k6 login-merge.js ($LOGIN_ITERATIONS logins, exact merge checks)" \
    run login-merge deploy/k6/login-merge.js -e ITERATIONS="$LOGIN_ITERATIONS"
check "k6 concurrency.js ($CONCURRENCY_VUS VUs on one cart; final cart = acknowledged adds)" \
    run concurrency deploy/k6/concurrency.js -e VUS="$CONCURRENCY_VUS" -e INCREMENTS=98 -e LINES=99

has_data() { [[ $(prom_query "$1") != "[]" ]]; }
check "k6 results reached Prometheus (remote write)" has_data 'k6_http_reqs_total'

check_alerts_and_expressions

# The figures, one row per script (docs/PERFORMANCE.md).
echo
echo "| script | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | failed | checks |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for name in load login-merge concurrency; do
    [[ -s "$results/$name.json" ]] || continue
    jq -r --arg n "$name" '.metrics as $m | ($m.http_req_duration) as $d |
        "| \($n) | \($m.http_reqs.count) | \($m.http_reqs.rate | . * 10 | round / 10) | \($d.med | . * 10 | round / 10) | \($d["p(95)"] | . * 10 | round / 10) | \($d["p(99)"] // "-" | if type == "number" then . * 10 | round / 10 else . end) | \($d.max | round) | \($m.http_req_failed.value * 100 | . * 100 | round / 100)% | \($m.checks.passes)/\($m.checks.passes + $m.checks.fails) |"' \
        "$results/$name.json"
done
echo

stack_down
echo "k6-load: $passed passed, $failed failed"
((failed == 0))
