#!/usr/bin/env bash
# Rebuilds every lucet-wasi/tests/conformance/c/*.c into wasm/NAME.wasm.
#
# These are the conformance fixtures: ports of the official wasi-testsuite
# programs (rust_suite.c holds the Rust ones, one function per program; the
# C and AssemblyScript programs have a file each, the latter prefixed as_),
# and guests for deadlines, descriptor limits, sockets, byte-exact
# arguments and asynchronous WASI (suspend.c).
#
# Needs these Debian (bookworm) packages:
#   clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
# Debug sections (wasi-libc ships its own) are stripped to keep the
# committed binaries small.
# (binaryen is optional: when wasm-opt is on PATH the clang driver runs
# `wasm-opt -O2` on its output, which changes the bytes produced.)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p wasm

for src in c/*.c; do
    name="$(basename "$src" .c)"
    out="wasm/$name.wasm"
    # *-modern.c: the wasm features current rustc and wasi-sdk turn on by
    # default (see c/rust_suite-modern.c).
    features=()
    if [[ "$name" == *-modern ]]; then
        features=(-mbulk-memory -mnontrapping-fptoint -msign-ext -mmutable-globals
            -mreference-types -mmultivalue)
    fi
    echo "build $src -> $out"
    clang-14 --target=wasm32-wasi -O2 -fuse-ld=lld -rtlib=compiler-rt \
        -Wall -Werror=implicit-function-declaration -Wl,--strip-debug \
        "${features[@]}" -o "$out" "$src"
done
