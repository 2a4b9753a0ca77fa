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

# What 64-bit memories cost: some kernels built freestanding by clang-22
# (there is no wasm64 libc; they need none) for a 32-bit and a 64-bit
# memory, the same compiler and flags but the target.
#   apt-get install -y clang-22 lld-22
mkdir -p wasm/mem32 wasm/mem64
for name in sieve matmul quicksort crc32; do
    for bits in 32 64; do
        out="wasm/mem$bits/$name.wasm"
        echo "build $name.c -> $out (clang-22)"
        clang-22 --target="wasm$bits-unknown-unknown" -O2 -nostdlib -Wl,--no-entry \
            -fuse-ld=lld -Wall -Wextra -Werror -Wl,--strip-debug -o "$out" "$name.c"
    done
done
