#!/usr/bin/env bash
# Stop what deploy/local/up.sh started, using its PID files only (never by
# process name: other haproxy/redis/trolley processes on this machine are not
# ours to stop).
#
# Usage: deploy/local/down.sh [--purge]
#   --purge   also delete the state dir (Redis data, logs, generated configs)
#
#   TROLLEY_LOCAL_STATE   state dir (default deploy/local/.state)
#   DOWN_TIMEOUT          seconds to wait for a graceful exit before SIGKILL
#                         (default 30: above trolley's 20s drain)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${TROLLEY_LOCAL_STATE:-$here/.state}"
timeout="${DOWN_TIMEOUT:-30}"
purge=0
case "${1:-}" in
    --purge) purge=1 ;;
    "") ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) printf 'down.sh: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
esac

log() { printf 'down.sh: %s\n' "$*" >&2; }

# Running, and not a zombie: our processes are orphans once up.sh exits, and a
# zombie answers `kill -0` until init gets round to reaping it.
running() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]]
}

# A PID file can outlive its process (crash, reboot) and the PID can be reused
# by an unrelated process. Ours was started just before its PID file was
# written, so a process that started later is not ours.
ours() {
    local pid="$1" pidfile="$2" stat ticks btime hz started written
    local -a fields
    [[ "$pid" =~ ^[0-9]+$ ]] && running "$pid" || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    # Field 22 (start time in clock ticks since boot); skip "pid (comm)" first,
    # as comm may contain spaces.
    read -r -a fields <<<"${stat##*) }"
    ticks="${fields[19]}"
    btime="$(awk '/^btime/ {print $2}' /proc/stat)"
    hz="$(getconf CLK_TCK)"
    started=$((btime + ticks / hz))
    written="$(stat -c %Y "$pidfile")"
    ((started <= written + 2))
}

# stop SIGNAL NAME...: signal the named components, wait for all of them to
# exit (up to DOWN_TIMEOUT), SIGKILL what is left, remove their PID files.
stop() {
    local signal="$1" name pidfile pid deadline
    shift
    local -a pids=()
    for name in "$@"; do
        pidfile="$state/pids/$name.pid"
        [[ -f "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        if ours "$pid" "$pidfile"; then
            log "stopping $name (PID $pid)"
            kill "-$signal" "$pid" 2>/dev/null || true
            pids+=("$pid")
        else
            log "$name (PID ${pid:-?}) is not running; removing its stale PID file"
        fi
    done
    deadline=$((SECONDS + timeout))
    for pid in ${pids[@]+"${pids[@]}"}; do
        while running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if running "$pid"; then
            log "PID $pid still running after ${timeout}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for name in "$@"; do rm -f "$state/pids/$name.pid"; done
}

if [[ -d "$state/pids" ]]; then
    replicas=()
    for f in "$state"/pids/trolley-*.pid; do
        [[ -e "$f" ]] && replicas+=("$(basename "$f" .pid)")
    done
    # Outside in: the load balancer first (SIGUSR1 = haproxy's graceful stop:
    # finish in-flight requests), then the replicas drain (SIGTERM), then the
    # stores they use. Redis writes its AOF on SIGTERM.
    stop USR1 haproxy
    stop TERM ${replicas[@]+"${replicas[@]}"}
    stop TERM prometheus
    stop TERM redis
    rmdir "$state/pids" 2>/dev/null || true
    log "stopped"
else
    log "nothing to stop (no $state/pids)"
fi

if ((purge)) && [[ -d "$state" ]]; then
    # Refuse to delete anything that does not look like up.sh's state dir.
    if [[ -f "$state/redis.conf" || -d "$state/logs" ]] && [[ ! -d "$state/pids" ]]; then
        rm -rf -- "$state"
        log "removed $state"
    else
        log "not purging $state: it does not look like an up.sh state dir, or something is still running"
        exit 1
    fi
fi
