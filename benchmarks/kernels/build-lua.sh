#!/usr/bin/env bash
# Rebuilds benchmarks/kernels/wasm/lua.wasm: the Lua 5.4 interpreter with
# the driver in lua/driver.c, as a wasm32-wasi reactor exporting
# `kernel_lua`. The sources come from the `lua-src` crate on crates.io
# (MIT licence), fetched with cargo into a scratch project.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="551.1.0"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src"
touch "$scratch/src/lib.rs"
cat > "$scratch/Cargo.toml" <<TOML
[package]
name = "fetch-lua-src"
version = "0.0.0"
edition = "2021"
[dependencies]
lua-src = "=$version"
[workspace]
TOML
manifest="$(cd "$scratch" && cargo metadata --format-version 1 |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="lua-src"))')"
src="$(dirname "$manifest")/lua-5.4.9"
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
