#!/usr/bin/env bash
# Static checks of trolley's alerting rules and Grafana dashboard:
#   1. promtool check rules  deploy/prometheus/alerts.yml
#   2. promtool test rules   deploy/prometheus/alerts.test.yml   (unit tests of every alert)
#   3. .ci/check_dashboard.py on the dashboard and the rules (JSON, datasource, refIds,
#      gridPos, and every metric/label used is one trolley exports)
#
# promtool comes from Debian's `prometheus` package; when it is missing and we are
# root with apt-get, it is installed (.ci/lib.sh; the Prometheus daemon is not started).
# Usage: bash .ci/observability-checks.sh   (from anywhere; works on the repo root)
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib.sh
source .ci/lib.sh

RULES=deploy/prometheus/alerts.yml
RULE_TESTS=deploy/prometheus/alerts.test.yml
DASHBOARDS=(deploy/grafana/dashboards/*.json)

apt_install promtool:prometheus
echo "observability-checks: $(promtool --version 2>&1 | head -n1)"

echo "== promtool check rules $RULES"
promtool check rules "$RULES"

echo "== promtool test rules $RULE_TESTS"
promtool test rules "$RULE_TESTS"

echo "== check_dashboard.py ${DASHBOARDS[*]} $RULES"
python3 .ci/check_dashboard.py "${DASHBOARDS[@]}" "$RULES"

echo "observability-checks: all passed"
