#!/usr/bin/env bash
# Schemathesis (PyPI) against a live release replica on a real redis-server,
# both on free ports of 127.0.0.1: every check (server errors, status codes,
# content types, response schemas, negative data rejected, positive data
# accepted) and every phase, stateful included (add → put → delete through the
# document's links), a bounded number of examples per operation, 0 failures.
# The document is the one the replica serves, generated from the code.
# Env: ST_MAX_EXAMPLES (30), ST_SEED (fixed, so a CI failure replays).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${TOOLS_DIR:-$PWD/.tools}/schemathesis-venv
if [[ ! -x $venv/bin/st ]]; then
    echo "schemathesis: creating $venv"
    python3 -m venv "$venv" 2>/dev/null || {
        # Debian without the venv module.
        apt-get install -y -qq python3-venv >/dev/null 2>&1 && python3 -m venv "$venv"
    }
    "$venv/bin/pip" install --quiet "schemathesis>=4.3,<5"
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
redis_port=$(free_port) public=$(free_port) admin=$(free_port)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --logfile "$work/redis.log" --dir "$work"
cargo build --release --quiet
TROLLEY_REDIS_URL="redis://127.0.0.1:$redis_port" TROLLEY_LISTEN="127.0.0.1:$public" \
    TROLLEY_ADMIN_LISTEN="127.0.0.1:$admin" TROLLEY_USERS_FILE="$work/users.json" RUST_LOG=warn \
    target/release/trolley serve >"$work/trolley.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break
    sleep 0.1
done

"$venv/bin/st" --config-file .ci/schemathesis.toml run "http://127.0.0.1:$public/api/openapi.json" \
    --checks all --max-examples "${ST_MAX_EXAMPLES:-30}" --seed "${ST_SEED:-20261201}" \
    --workers 2 || { echo "--- trolley log"; tail -50 "$work/trolley.log"; exit 1; }
