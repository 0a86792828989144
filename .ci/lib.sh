# shellcheck shell=bash
# Installing what CI needs on a fresh Debian machine, written once. Sourced by
# .ci/run, the .ci/*.sh checks and scripts/stack-lib.sh; defines functions only.
#
#   apt_install COMMAND:PACKAGE…   installs the Debian PACKAGEs whose COMMAND (a name
#                                  on PATH, or an absolute path) is missing
#   apt_get_install PACKAGE…       installs PACKAGEs (for needs that are not a command)
#   python_venv DIR PIP_ARGS…      a venv in DIR with `pip install PIP_ARGS` (re)made
#                                  unless DIR was made from the same arguments (and the
#                                  same contents of each `-r FILE`); VENV_PYTHON (python3)
#                                  makes it; returns 1 (DIR removed) if that fails
#
# Installs are as root with apt-get: apt-get update only when an install fails
# without it, waiting up to 5 minutes for another apt's lock, and never starting
# the daemons packages ship (prometheus, haproxy, redis-server): a policy-rc.d
# answering 101 tells invoke-rc.d not to (an existing one is kept). When it
# cannot install, it says what is missing and ends the script (exit 1).

ci_lib_name() { basename "$0"; }

apt_install() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
    done
    ((${#missing[@]} == 0)) || apt_get_install "${missing[@]}"
}

apt_get_install() {
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        printf '%s: missing Debian packages %s and cannot install them here (needs root and apt-get): install them, then re-run\n' \
            "$(ci_lib_name)" "$*" >&2
        exit 1
    fi
    printf '%s: installing from Debian: %s\n' "$(ci_lib_name)" "$*"
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    local apt=(timeout 900 apt-get -qq -o DPkg::Lock::Timeout=300)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >/dev/null 2>&1 || {
        "${apt[@]}" update >/dev/null &&
            DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$@" >/dev/null
    } || rc=$?
    if ((own_policy)); then rm -f "$policy"; fi
    if ((rc != 0)); then
        printf '%s: apt-get install %s failed (exit %s)\n' "$(ci_lib_name)" "$*" "$rc" >&2
        exit 1
    fi
}

python_venv() {
    local dir=$1 python=${VENV_PYTHON:-python3} stamp arg prev=""
    shift
    # What the venv is made from: the arguments, and each requirements file's text.
    stamp=$(
        printf '%s\n' "$python" "$@"
        for arg in "$@"; do
            if [[ $prev == -r || $prev == --requirement ]]; then cat "$arg" || exit 1; fi
            prev=$arg
        done
    ) || return 1
    [[ -x $dir/bin/python && $(cat "$dir/.made-from" 2>/dev/null) == "$stamp" ]] && return 0
    printf '%s: creating %s (pip install %s)\n' "$(ci_lib_name)" "$dir" "$*"
    # Debian's python3 makes venvs only with python3-venv (ensurepip).
    "$python" -c 'import ensurepip' 2>/dev/null || apt_get_install python3-venv
    rm -rf "$dir"
    if "$python" -m venv "$dir" &&
        timeout 900 "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"; then
        printf '%s\n' "$stamp" >"$dir/.made-from"
        return 0
    fi
    printf '%s: could not make the venv %s (pip install %s)\n' "$(ci_lib_name)" "$dir" "$*" >&2
    rm -rf "$dir"
    return 1
}
