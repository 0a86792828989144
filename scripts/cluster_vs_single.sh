#!/usr/bin/env bash
# The mixed cart workload (scripts/mixed.lua: 60% add, 30% GET, 10% PUT, one
# cookie per connection) against trolley on one Redis node and on a 3-master
# Redis Cluster, both on this machine, in alternating rounds (issue 11). Run from
# the project root after `cargo build --release`:
#   scripts/cluster_vs_single.sh        (ROUNDS=3 SECS=10 VUS=32)
# Starts its own redis-servers and trolleys on free ports of 127.0.0.1, and
# stops them. Prints one line per round and target, then the medians. A large
# max quantity: the adds run for seconds on ten products.
set -euo pipefail
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} VUS=${VUS:-32}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
redis_ports=() pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for port in "${redis_ports[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
redis() { # port, extra args...
    local port=$1; shift
    mkdir -p "$work/$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --logfile "$work/$port/redis.log" --dir "$work/$port" "$@"
    redis_ports+=("$port")
}
single=$(free_port); redis "$single"
nodes=()
for _ in 1 2 3; do
    port=$(free_port); nodes+=("127.0.0.1:$port")
    # Its own bus port: port + 10000 may be past 65535.
    redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)"
done
sleep 0.5
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$work/create.log"
until redis-cli -p "${nodes[0]#*:}" cluster info | grep -q 'cluster_state:ok'; do sleep 0.2; done
catalog=deploy/catalog/demo-catalog.json
serve() { # name, url
    local public admin
    public=$(free_port) admin=$(free_port)
    TROLLEY_REDIS_URL="$2" target/release/trolley catalog import "$catalog" >/dev/null
    TROLLEY_REDIS_URL="$2" TROLLEY_LISTEN="127.0.0.1:$public" TROLLEY_ADMIN_LISTEN="127.0.0.1:$admin" \
        TROLLEY_MAX_QUANTITY=1000000 RUST_LOG=warn target/release/trolley serve >"$work/$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.1; done
    echo "http://127.0.0.1:$public"
}
declare -A url rps p99
url[single]=$(serve single "redis://127.0.0.1:$single")
url[cluster]=$(serve cluster "redis-cluster://$(IFS=,; echo "${nodes[*]}")")
for round in $(seq "$ROUNDS"); do
    for target in single cluster; do
        wrk -t "$VUS" -c "$VUS" -d 2s -s scripts/mixed.lua "${url[$target]}" >/dev/null
        line=$(wrk -t "$VUS" -c "$VUS" -d "${SECS}s" -s scripts/mixed.lua "${url[$target]}" | grep '^rps=')
        echo "round $round $target $line"
        rps[$target]+="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line") "
        p99[$target]+="$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line") "
    done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
s=$(med <<<"${rps[single]}") c=$(med <<<"${rps[cluster]}")
echo "cluster/single=$(python3 -c "print(round($c / $s, 2))") rps single=$s cluster=$c p99_ms single=$(med <<<"${p99[single]}") cluster=$(med <<<"${p99[cluster]}")"
