#!/usr/bin/env bash
# Builds sea in release mode, packs examples/hello and runs the packed binary twice:
# cold (extracts its payload) and warm (runs straight from the extracted tree).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p sea-pack -p sea-launcher
out=$(mktemp -d "${TMPDIR:-/tmp}/sea-demo.XXXXXX")
trap 'rm -rf "$out"' EXIT
./target/release/sea-pack build examples/hello --name hello --version 1.0.0 --entry bin/hello -o "$out/hello"
export HOME="$out/home" && mkdir -m 700 "$HOME"
unset XDG_CACHE_HOME HELLO_HOME HELLO_CACHE_HOME
echo "== cold start (extracts the payload)"
time "$out/hello" world
echo "== warm start (runs the extracted tree)"
time "$out/hello" again
