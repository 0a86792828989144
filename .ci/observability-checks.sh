#!/usr/bin/env bash
# Static checks of trolley's alerting rules and Grafana dashboard:
#   1. promtool check rules  deploy/prometheus/alerts.yml
#   2. promtool test rules   deploy/prometheus/alerts.test.yml   (unit tests of every alert)
#   3. .ci/check_dashboard.py on the dashboard and the rules (JSON, datasource, refIds,
#      gridPos, and every metric/label/label value used is one trolley exports),
#      against the /metrics of a real trolley: $TROLLEY_BIN (target/debug/trolley,
#      which `cargo test` builds, unless set) on a private redis-server, both on free
#      ports of 127.0.0.1, given one cart request so the request and Redis command
#      histograms have series, scraped once, then stopped.
#
# promtool (Debian's `prometheus`) and redis-server are installed when missing and
# we are root with apt-get (.ci/lib.sh; no daemon is started).
# Usage: bash .ci/observability-checks.sh   (from anywhere; works on the repo root)
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib.sh
source .ci/lib.sh

RULES=deploy/prometheus/alerts.yml
RULE_TESTS=deploy/prometheus/alerts.test.yml
DASHBOARDS=(deploy/grafana/dashboards/*.json)
export TROLLEY_BIN=${TROLLEY_BIN:-target/debug/trolley}

apt_install promtool:prometheus redis-server:redis-server redis-cli:redis-tools curl:curl
echo "observability-checks: $(promtool --version 2>&1 | head -n1)"

echo "== promtool check rules $RULES"
promtool check rules "$RULES"

echo "== promtool test rules $RULE_TESTS"
promtool test rules "$RULE_TESTS"

echo "== /metrics of $TROLLEY_BIN on Redis"
if [[ ! -x $TROLLEY_BIN ]]; then
  echo "observability-checks: no trolley binary at $TROLLEY_BIN (cargo build, or set TROLLEY_BIN)" >&2
  exit 1
fi
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
redis_port=$(free_port)
start_redis "$redis_port"
serve_trolley trolley TROLLEY_REDIS_URL="redis://127.0.0.1:$redis_port" TROLLEY_USERS_FILE="$work/users.json"
curl -sf -o /dev/null -c "$work/cookies" -b "$work/cookies" -H 'content-type: application/json' \
  -d '{"productId": 42, "quantity": 1}' "http://127.0.0.1:$public/api/cart/add"
curl -sf -o /dev/null -c "$work/cookies" -b "$work/cookies" "http://127.0.0.1:$public/api/cart"
curl -sf -o "$work/metrics.txt" "http://127.0.0.1:$admin/metrics"
stop_started
echo "observability-checks: $(grep -vc '^#' "$work/metrics.txt") samples"

echo "== check_dashboard.py --metrics (scrape) ${DASHBOARDS[*]} $RULES"
python3 .ci/check_dashboard.py --metrics "$work/metrics.txt" "${DASHBOARDS[@]}" "$RULES"

echo "observability-checks: all passed"
