#!/usr/bin/env bash
# Rebuilds benchmarks/kernels/*.c into benchmarks/kernels/wasm/NAME.wasm
# (committed, so running the benchmarks needs no wasm toolchain). The same
# sources are built natively with `gcc -O2` by benchmarks/build.rs.
#
# Needs the Debian (bookworm) packages of /work/shared/TOOLCHAIN.md:
#   apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 binaryen
#
# Kernels are "reactors" (no main; `_initialize` plus one export
# `kernel_NAME`), built at -O2 without -msimd128, as the fixtures are.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p wasm

for src in *.c; do
    name="$(basename "$src" .c)"
    out="wasm/$name.wasm"
    echo "build $src -> $out"
    clang-14 --target=wasm32-wasi -O2 -fuse-ld=lld -rtlib=compiler-rt \
        -mexec-model=reactor -Werror=implicit-function-declaration \
        -Wall -Wextra -Werror -Wl,--strip-debug \
        -o "$out" "$src"
done
