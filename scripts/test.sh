#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and end-to-end tests.
# Installs what the tests need (git) when it is missing and this user may install it.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
if ! need git && [ "$(id -u)" = 0 ] && need apt-get; then
  apt-get update -qq && apt-get install -y -qq git >/dev/null
fi
if ! { need minisign && need zstd; } && [ "$(id -u)" = 0 ] && need apt-get; then apt-get update -qq && apt-get install -y -qq minisign zstd >/dev/null; fi
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo build --locked --workspace --bins
cargo test --locked --workspace
scripts/stress.sh --seconds 40 --debug
