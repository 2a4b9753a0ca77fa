#!/usr/bin/env bash
# Rebuilds every lucet-serve/handlers/c/*.c into handlers/wasm/NAME.wasm.
# The .wasm files are committed, so building and testing lucet-serve needs
# no C toolchain; run this after changing a handler.
#
# Needs these Debian (bookworm) packages:
#   apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 binaryen
# (if binaryen's wasm-opt is on PATH the clang driver runs `wasm-opt -O2`
# on its output by itself).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p wasm

for src in c/*.c; do
    name="$(basename "$src" .c)"
    out="wasm/$name.wasm"
    echo "build $src -> $out"
    clang-14 --target=wasm32-wasi -O2 -fuse-ld=lld -rtlib=compiler-rt \
        -Wall -Werror=implicit-function-declaration -o "$out" "$src"
done
