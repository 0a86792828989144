#!/usr/bin/env bash
# Static checks of trolley's alerting rules and Grafana dashboard:
#   1. promtool check rules  deploy/prometheus/alerts.yml
#   2. promtool test rules   deploy/prometheus/alerts.test.yml   (unit tests of every alert)
#   3. .ci/check_dashboard.py on the dashboard and the rules (JSON, datasource, refIds,
#      gridPos, and every metric/label used is one trolley exports)
#
# promtool comes from Debian's `prometheus` package; when it is missing and we are
# root with apt-get, it is installed (without starting the Prometheus daemon).
# Usage: bash .ci/observability-checks.sh   (from anywhere; works on the repo root)
set -euo pipefail

cd "$(dirname "$0")/.."

RULES=deploy/prometheus/alerts.yml
RULE_TESTS=deploy/prometheus/alerts.test.yml
DASHBOARDS=(deploy/grafana/dashboards/*.json)

install_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "observability-checks: promtool not found and cannot be installed here (needs root and apt-get): install Debian's 'prometheus' package or put promtool on PATH" >&2
    exit 1
  fi
  echo "observability-checks: installing promtool (Debian package prometheus)"
  # Package scripts must not start the Prometheus daemon: outside systemd,
  # invoke-rc.d asks policy-rc.d, and 101 means "do not start".
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 prometheus >/dev/null
  } || rc=$?
  if [ -n "$made_policy" ]; then
    rm -f /usr/sbin/policy-rc.d
  fi
  if [ "$rc" -ne 0 ] || ! command -v promtool >/dev/null 2>&1; then
    echo "observability-checks: installing the prometheus package failed (exit $rc)" >&2
    exit 1
  fi
}

install_promtool
echo "observability-checks: $(promtool --version 2>&1 | head -n1)"

echo "== promtool check rules $RULES"
promtool check rules "$RULES"

echo "== promtool test rules $RULE_TESTS"
promtool test rules "$RULE_TESTS"

echo "== check_dashboard.py ${DASHBOARDS[*]} $RULES"
python3 .ci/check_dashboard.py "${DASHBOARDS[@]}" "$RULES"

echo "observability-checks: all passed"
