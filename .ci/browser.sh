#!/usr/bin/env bash
# The storefront in a real browser (tests/browser/storefront_test.py): Debian's
# headless Chromium, driven by PyPI's playwright (pinned in
# tests/browser/requirements.txt; no browser download), against two trolley
# replicas (TROLLEY_STOREFRONT=true) on one private redis-server, all on free
# ports of 127.0.0.1 and stopped on exit. Screenshots go to target/artifacts/.
#
# Builds nothing: it runs $TROLLEY_BIN, else the newer of target/release/trolley
# and target/debug/trolley (CI has built both by now); `cargo build` first if
# neither exists. Installs chromium with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/lib.sh
source .ci/lib.sh
apt_install /usr/bin/chromium:chromium
venv=${TOOLS_DIR:-$PWD/.tools}/browser-venv
python_venv "$venv" -r tests/browser/requirements.txt

if [[ -z ${TROLLEY_BIN:-} ]]; then
    release=target/release/trolley debug=target/debug/trolley
    if [[ -x $release && ( ! -x $debug || $release -nt $debug ) ]]; then
        TROLLEY_BIN=$release
    else
        [[ -x $debug ]] || cargo build --quiet
        TROLLEY_BIN=$debug
    fi
fi
export TROLLEY_BIN
echo "browser test: $TROLLEY_BIN, $(/usr/bin/chromium --version 2>/dev/null)"

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
redis_port=$(free_port)
start_redis "$redis_port"
export REDIS_URL="redis://127.0.0.1:$redis_port"
export SHOPPER=shopper SHOPPER_PASSWORD="a long browser password"
TROLLEY_REDIS_URL=$REDIS_URL "$TROLLEY_BIN" catalog import deploy/catalog/demo-catalog.json >/dev/null
printf '%s' "$SHOPPER_PASSWORD" | TROLLEY_REDIS_URL=$REDIS_URL "$TROLLEY_BIN" user add "$SHOPPER" >/dev/null

replica() {
    serve_trolley "$1" TROLLEY_REDIS_URL="$REDIS_URL" TROLLEY_STOREFRONT=true \
        TROLLEY_SEED_DEMO_CATALOG=false TROLLEY_USERS_FILE="$work/users.json"
}
replica replica1
export REPLICA1="http://127.0.0.1:$public"
replica replica2
export REPLICA2="http://127.0.0.1:$public"

export ARTIFACTS=${ARTIFACTS:-$PWD/target/artifacts}
"$venv/bin/python" tests/browser/storefront_test.py || {
    for log in "$work/replica1.log" "$work/replica2.log"; do
        echo "--- $log"
        tail -n 20 "$log"
    done
    exit 1
}
echo "browser test: screenshots in $ARTIFACTS"
