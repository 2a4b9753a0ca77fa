#!/usr/bin/env bash
# Prints the directory of the Lua 5.4 C sources, fetching them first: the
# `lua-src` crate on crates.io (MIT licence), through cargo into a scratch
# project removed afterwards. Used by build-lua.sh and by
# tests/fixtures/lua-sjlj/build.sh, so both build the same Lua.
set -euo pipefail

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
echo "$(dirname "$manifest")/lua-5.4.9"
