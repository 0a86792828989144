#!/usr/bin/env bash
# The mixed cart workload (scripts/mixed.lua: 60% add, 30% GET, 10% PUT, one
# cookie per connection) against trolley on one Redis node and on a 3-master
# Redis Cluster, both on this machine, in alternating rounds. Run from
# the project root after `cargo build --release`:
#   scripts/cluster_vs_single.sh        (ROUNDS=3 SECS=10 VUS=32)
# Starts its own redis-servers and trolleys on free ports of 127.0.0.1, and
# stops them. Prints one line per round and target, then the medians. A large
# max quantity: the adds run for seconds on ten products.
set -euo pipefail
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} VUS=${VUS:-32}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
single=$(free_port); start_redis "$single"
nodes=()
for _ in 1 2 3; do
    port=$(free_port); nodes+=("127.0.0.1:$port")
    # Its own bus port: port + 10000 may be past 65535.
    start_redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)"
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$work/create.log"
until redis-cli -p "${nodes[0]#*:}" cluster info | grep -q 'cluster_state:ok'; do sleep 0.2; done
catalog=deploy/catalog/demo-catalog.json
declare -A url rps p99
serve() { # name, Redis URL: a trolley on it, its base URL in url[name]
    TROLLEY_REDIS_URL="$2" target/release/trolley catalog import "$catalog" >/dev/null
    serve_trolley "$1" TROLLEY_REDIS_URL="$2" TROLLEY_MAX_QUANTITY=1000000
    url[$1]="http://127.0.0.1:$public"
}
serve single "redis://127.0.0.1:$single"
serve cluster "redis-cluster://$(IFS=,; echo "${nodes[*]}")"
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
