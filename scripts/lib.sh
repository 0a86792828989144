# shellcheck shell=bash
# Shared by the measuring scripts (scripts/*.sh), .ci/schemathesis.sh,
# .ci/browser.sh and .ci/observability-checks.sh, which each start their own
# redis-servers and trolleys on free ports of 127.0.0.1: source it, then start
# things; everything started is stopped on exit.
#   free_port                    a port nobody listens on
#   start_redis PORT [ARGS…]     a redis-server without persistence, its files in $work/PORT
#   serve_trolley NAME [VAR=value…]   trolley serve in the background ($TROLLEY_BIN,
#                                target/release/trolley unless set; the embedded
#                                store unless TROLLEY_REDIS_URL is given), on $public
#                                (a fresh free port) with its admin port $admin; returns
#                                once /readyz answers
#   stop_started                 stops what was started so far (done on exit too)
# Sets: work (a temporary directory), pids (processes to kill on exit).

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work=$(mktemp -d)
pids=()
redis_ports=()
stop_started() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for port in "${redis_ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    pids=() redis_ports=()
}
cleanup() {
    stop_started
    rm -rf "$work"
}
trap cleanup EXIT

start_redis() {
    local port=$1
    shift
    mkdir -p "$work/$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --logfile "$work/$port/redis.log" --dir "$work/$port" --pidfile "$work/$port/redis.pid" "$@"
    redis_ports+=("$port")
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
}

serve_trolley() {
    local name=$1
    shift
    public=$(free_port) admin=$(free_port)
    env -u TROLLEY_REDIS_URL "$@" TROLLEY_LISTEN="127.0.0.1:$public" TROLLEY_ADMIN_LISTEN="127.0.0.1:$admin" \
        RUST_LOG=warn "${TROLLEY_BIN:-target/release/trolley}" serve >"$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "trolley ($name) did not become ready:" >&2
    tail -20 "$work/$name.log" >&2
    return 1
}
