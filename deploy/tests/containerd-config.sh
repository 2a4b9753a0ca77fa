#!/usr/bin/env bash
# The containerd 1.6/1.7 runtime entry (deploy/containerd/config-v1.6-1.7.toml),
# checked by containerd itself: appended to a version 2 configuration, as a
# node's config.toml gets it, the CRI plugin must load and register the
# runtime `lucet` with the type `io.containerd.lucet.v1` (containerd logs
# the CRI configuration it decoded). Debian has containerd 1.6 only, so the
# 2.x entry (config-v2.toml) is checked by the manifest tests for its table
# name, not by a containerd 2.
# Needs root (says so and skips otherwise); cleans up everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=containerd-env.sh
source "$here/containerd-env.sh"

containerd_env_require_root || exit 0
containerd_env_install
CONTAINERD_ENV_CRI=1 CONTAINERD_ENV_APPEND="$here/../containerd/config-v1.6-1.7.toml" \
    containerd_env_start

fail() {
    echo "containerd-config: FAILED: $*" >&2
    tail -n 20 "$CONTAINERD_ENV_LOG" >&2
    exit 1
}
ctr_ plugins ls | grep -Eq 'io\.containerd\.grpc\.v1 +cri +.* ok' ||
    fail "the CRI plugin did not load with the lucet runtime entry"
for ((i = 0; i < 100; i++)); do
    grep -q 'Start cri plugin with config' "$CONTAINERD_ENV_LOG" && break
    sleep 0.05
done
grep -q 'Runtimes:map\[.*lucet:{Type:io\.containerd\.lucet\.v1 ' "$CONTAINERD_ENV_LOG" ||
    fail "the CRI plugin has no runtime lucet of type io.containerd.lucet.v1"
echo "containerd-config: containerd $(containerd --version | awk '{ print $3 }') registers runtime lucet (io.containerd.lucet.v1)"
echo "containerd-config: 1 passed, 0 failed"
