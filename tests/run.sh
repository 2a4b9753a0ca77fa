#!/usr/bin/env bash
# The whole test suite: what the README's test command and CI run.
# It installs what the tests need on a fresh Debian machine, then runs
# every check. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages some tests drive as independent tools (none of them is
# needed to build). Installed only when missing.
need_pkgs=(
    minisign # signatures made and checked by the minisign tool (lucetc, lucet-wasi tests)
)
if ((${#need_pkgs[@]})); then
    missing=()
    for p in "${need_pkgs[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

cargo test --workspace
