#!/usr/bin/env bash
# Rebuilds benchmarks/kernels/wasm/lua.wasm: the Lua 5.4 interpreter with
# the driver in lua/driver.c, as a wasm32-wasi reactor exporting
# `kernel_lua`. The sources come from the `lua-src` crate on crates.io
# (MIT licence), fetched by lua-src.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$("$here/lua-src.sh")"
echo "lua sources: $src"

srcs=$(ls "$src"/*.c | grep -v -E '/(lua|luac|onelua)\.c$')
clang-14 --target=wasm32-wasi -O2 -fuse-ld=lld -rtlib=compiler-rt \
    -mexec-model=reactor -Werror=implicit-function-declaration \
    -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL \
    -include "$here/lua/shim.h" -I"$here/lua/include" -I"$src" \
    -Wl,--strip-debug \
    -o "$here/wasm/lua.wasm" "$here/lua/driver.c" $srcs \
    -lwasi-emulated-process-clocks -lwasi-emulated-signal
echo "built $here/wasm/lua.wasm"
