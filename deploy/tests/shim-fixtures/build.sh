#!/usr/bin/env bash
# Rebuild the shim tests' WebAssembly fixtures (committed beside their
# sources, so the tests need no clang):
#   apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
# (see shared/TOOLCHAIN.md). Compiled with -O2 and linked with -O0, so the
# clang driver does not run binaryen's wasm-opt even when it is installed:
# the output does not depend on it.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for c in probe trap loop hello; do
    clang-14 --target=wasm32-wasi -O2 -Werror=implicit-function-declaration \
        -c -o "$tmp/$c.o" "$c.c"
    clang-14 --target=wasm32-wasi -O0 -fuse-ld=lld -rtlib=compiler-rt -Wl,--strip-debug \
        -o "$c.wasm" "$tmp/$c.o"
    chmod 0644 "$c.wasm"
    echo "$c.wasm: $(stat -c %s "$c.wasm") bytes"
done
