#!/usr/bin/env bash
# The whole test suite: what the README's test command and CI run.
# It installs what the tests need on a fresh Debian machine, then runs
# every check. Exits non-zero on the first failure.
#
# Steps: formatting, clippy (warnings are errors), the workspace's tests
# (unit, end-to-end, the spec suite, and the bounded fuzz targets with
# fixed seeds), as root the deploy/ end-to-end scripts under a private
# containerd, then the benchmarks/ workspace's tests (it builds
# Wasmtime, so it is its own workspace) and the fuzz triage tool's (the
# same Wasmtime as a third engine). Each step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages some tests drive as independent tools (none of them is
# needed to build). Installed only when missing.
need_pkgs=(
    minisign # signatures made and checked by the minisign tool (lucetc, lucet-wasi tests)
    # The containerd shim's build (containerd-shim-lucet, a workspace
    # member `--workspace` builds but plain `cargo build` does not):
    protobuf-compiler # protoc, for containerd's ttrpc API
    pkg-config        # finds libseccomp
    libseccomp-dev    # youki's seccomp support, linked by the shim
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

# A one-shot build gains nothing from incremental caches, which cost
# gigabytes of disk.
export CARGO_INCREMENTAL=0

step() {
    local name=$1
    shift
    echo "==> $name"
    local start=$SECONDS
    "$@"
    echo "==> $name: $((SECONDS - start)) s"
}

step "cargo fmt --check" cargo fmt --all --check
step "cargo fmt --check (benchmarks)" cargo fmt --manifest-path benchmarks/Cargo.toml --all --check
step "cargo fmt --check (fuzz triage)" cargo fmt --manifest-path fuzz/triage/Cargo.toml --all --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo test --workspace" cargo test --workspace
# As root (CI is): containerd and runc from apt, a private containerd per
# script, everything removed afterwards; each says so and passes when not
# root. serve-image.sh uses the debug binaries the step above built.
step "deploy: lucet-serve image under containerd/runc (root)" deploy/tests/serve-image.sh
step "deploy: containerd 1.6 loads the lucet runtime entry (root)" deploy/tests/containerd-config.sh
# The shim under containerd with the debug build `cargo test` just made.
step "deploy: containerd shim end to end (root)" env SHIM_PROFILE=debug deploy/tests/shim.sh
step "benchmarks: cargo test" cargo test --manifest-path benchmarks/Cargo.toml
# The three-engine triage tool (lucet, wasmi, Wasmtime) shares the
# benchmarks' target directory, where Wasmtime's dependencies are built.
step "fuzz triage: cargo test" env CARGO_TARGET_DIR=benchmarks/target \
    cargo test --manifest-path fuzz/triage/Cargo.toml
echo "==> all checks passed in $SECONDS s"
