# shellcheck shell=bash
# A private containerd for end-to-end tests: source this file, then
#
#   containerd_env_require_root || exit 0   # says why and skips unless root
#   containerd_env_install                  # containerd + runc from apt, if missing
#   containerd_env_start                    # its own config, root, state, socket
#   ctr_ image import my-image.tar          # ctr against it, in its namespace
#   containerd_env_defer "rm -f $file"      # more cleanup, run before the stop
#
# Everything it starts is stopped and everything it makes is removed when
# the sourcing shell exits, however it exits (success, failure, set -e,
# Ctrl-C, SIGTERM): an EXIT trap runs the deferred commands (last first),
# kills and deletes the namespace's tasks and containers, stops containerd
# and any shim it left (by the pids in its state directory), unmounts
# whatever is still mounted under its directory and removes it. A test
# that wants its own EXIT trap calls containerd_env_stop from it.
#
# The daemon is Debian's containerd (1.6.20 on bookworm) with runc, run by
# hand (PID 1 need not be systemd; runc's cgroups are cgroupfs ones, as
# with SystemdCgroup = false). Its CRI plugin is off: tests drive it with
# ctr, as a kubelet would drive it through CRI. Set CONTAINERD_ENV_CRI=1
# to load the CRI plugin too (e.g. to check runtime configuration).
#
# Settings (environment): CONTAINERD_ENV_DIR (default: a new directory
# under /var/tmp; /tmp may be a tmpfs without room for images),
# CONTAINERD_ENV_NAMESPACE (default lucet-e2e-PID), CONTAINERD_ENV_CRI,
# CONTAINERD_ENV_APPEND (TOML files appended to the config, space
# separated, as a node's runtime entries are appended to its config.toml:
# containerd 1.x `imports` replace a plugin's whole table rather than merge
# into it). After containerd_env_start: CONTAINERD_ENV_SOCKET,
# CONTAINERD_ENV_LOG (the daemon's log), CONTAINERD_ENV_PID.

containerd_env_log() {
    echo "containerd-env: $*" >&2
}

# Root or not: containerd, runc and mounts need root. Prints why it skips.
containerd_env_require_root() {
    if [[ $(id -u) != 0 ]]; then
        containerd_env_log "SKIPPED: needs root (containerd, runc and mounts); run as root"
        return 1
    fi
}

# containerd and runc from Debian's packages, unless already installed.
containerd_env_install() {
    local missing=() p
    for p in containerd runc; do
        command -v "$p" >/dev/null || missing+=("$p")
    done
    if ((${#missing[@]})); then
        containerd_env_log "installing ${missing[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    command -v containerd >/dev/null && command -v ctr >/dev/null && command -v runc >/dev/null
}

_containerd_env_deferred=()

# Run this command (a string, evaluated) at cleanup, before containerd stops.
containerd_env_defer() {
    _containerd_env_deferred+=("$1")
}

# ctr against the private containerd, in the test namespace.
ctr_() {
    ctr --address "$CONTAINERD_ENV_SOCKET" --namespace "$CONTAINERD_ENV_NAMESPACE" "$@"
}

containerd_env_start() {
    if [[ -n ${CONTAINERD_ENV_PID:-} ]]; then
        containerd_env_log "already started (pid $CONTAINERD_ENV_PID)"
        return 1
    fi
    CONTAINERD_ENV_NAMESPACE=${CONTAINERD_ENV_NAMESPACE:-lucet-e2e-$$}
    if [[ -z ${CONTAINERD_ENV_DIR:-} ]]; then
        CONTAINERD_ENV_DIR=$(mktemp -d /var/tmp/containerd-env.XXXXXX)
    fi
    mkdir -p "$CONTAINERD_ENV_DIR"
    _containerd_env_made=1
    trap containerd_env_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local dir=$CONTAINERD_ENV_DIR
    CONTAINERD_ENV_SOCKET=$dir/containerd.sock
    CONTAINERD_ENV_LOG=$dir/containerd.log
    local f disabled='"io.containerd.grpc.v1.cri"'
    [[ ${CONTAINERD_ENV_CRI:-0} == 1 ]] && disabled=
    cat >"$dir/config.toml" <<EOF
# A private containerd for tests (deploy/tests/containerd-env.sh).
version = 2
root = "$dir/root"
state = "$dir/state"
# No kubelet here: tests use ctr (CONTAINERD_ENV_CRI=1 loads CRI).
disabled_plugins = [$disabled]

[grpc]
  address = "$CONTAINERD_ENV_SOCKET"

[ttrpc]
  address = "$CONTAINERD_ENV_SOCKET.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.grpc.v1.cri"]
  # Its own CNI directories (none configured: pods are not run here).
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$dir/cni/bin"
    conf_dir = "$dir/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    # PID 1 is not systemd: runc manages cgroups through cgroupfs.
    SystemdCgroup = false
EOF
    for f in ${CONTAINERD_ENV_APPEND:-}; do
        { echo; echo "# appended: $f"; cat "$f"; } >>"$dir/config.toml"
    done
    containerd --config "$dir/config.toml" >"$CONTAINERD_ENV_LOG" 2>&1 &
    CONTAINERD_ENV_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        if ctr --address "$CONTAINERD_ENV_SOCKET" version >/dev/null 2>&1; then
            containerd_env_log "containerd $(containerd --version | awk '{ print $3 }')" \
                "pid $CONTAINERD_ENV_PID, socket $CONTAINERD_ENV_SOCKET," \
                "namespace $CONTAINERD_ENV_NAMESPACE"
            return 0
        fi
        if ! kill -0 "$CONTAINERD_ENV_PID" 2>/dev/null; then
            containerd_env_log "containerd exited at start:"
            tail -n 20 "$CONTAINERD_ENV_LOG" >&2
            return 1
        fi
        sleep 0.05
    done
    containerd_env_log "containerd did not answer within 10 s:"
    tail -n 20 "$CONTAINERD_ENV_LOG" >&2
    return 1
}

# Stop and remove everything containerd_env_start made. Safe to call more
# than once, and whatever state things are in.
containerd_env_stop() {
    local status=$?
    [[ -n ${_containerd_env_made:-} ]] || return "$status"
    _containerd_env_made=
    # A second Ctrl-C or SIGTERM must not cut the cleanup short.
    trap '' INT TERM
    local errexit=
    [[ $- == *e* ]] && errexit=1
    set +e
    local i cmd id dir=$CONTAINERD_ENV_DIR
    for ((i = ${#_containerd_env_deferred[@]} - 1; i >= 0; i--)); do
        cmd=${_containerd_env_deferred[i]}
        eval "$cmd" >/dev/null 2>&1
    done
    _containerd_env_deferred=()
    if [[ -n ${CONTAINERD_ENV_PID:-} ]] && kill -0 "$CONTAINERD_ENV_PID" 2>/dev/null; then
        for id in $(ctr_ task ls -q 2>/dev/null); do
            ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1
        done
        for id in $(ctr_ task ls -q 2>/dev/null); do
            for ((i = 0; i < 50; i++)); do
                ctr_ task delete -f "$id" >/dev/null 2>&1 && break
                sleep 0.1
            done
        done
        for id in $(ctr_ container ls -q 2>/dev/null); do
            ctr_ container delete "$id" >/dev/null 2>&1
        done
        for id in $(ctr_ image ls -q 2>/dev/null); do
            ctr_ image rm --sync "$id" >/dev/null 2>&1
        done
        kill -TERM "$CONTAINERD_ENV_PID" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            kill -0 "$CONTAINERD_ENV_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$CONTAINERD_ENV_PID" 2>/dev/null
        wait "$CONTAINERD_ENV_PID" 2>/dev/null
    fi
    # Shims outlive containerd: stop the ones it started, by the pids it
    # recorded for each task of this state directory.
    local pidfile pid
    while IFS= read -r pidfile; do
        pid=$(cat "$pidfile" 2>/dev/null)
        [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
    done < <(find "$dir/state" -name 'shim.pid' 2>/dev/null)
    # Anything still mounted below the directory (rootfs of a killed task,
    # snapshots), deepest first.
    local m
    while IFS= read -r m; do
        umount -l "$m" 2>/dev/null
    done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
    # The namespace's (now empty) cgroups, if runc made any.
    local cg
    for cg in /sys/fs/cgroup/*/"$CONTAINERD_ENV_NAMESPACE" /sys/fs/cgroup/"$CONTAINERD_ENV_NAMESPACE"; do
        [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$dir"
    CONTAINERD_ENV_PID=
    [[ -n $errexit ]] && set -e
    return "$status"
}
