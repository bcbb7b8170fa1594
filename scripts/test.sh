#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and end-to-end tests.
# Installs what the tests need (git, cargo-deny) when it is missing and this user may install it.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
if ! need git && [ "$(id -u)" = 0 ] && need apt-get; then
  apt-get update -qq && apt-get install -y -qq git >/dev/null
fi
if ! { need minisign && need zstd; } && [ "$(id -u)" = 0 ] && need apt-get; then apt-get update -qq && apt-get install -y -qq minisign zstd >/dev/null; fi
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# cargo-deny (deny.toml): licences, bans and sources always; RustSec advisories only when their
# database (a GitHub repository) can be fetched, which a machine that reaches only package
# registries cannot: then the script says so and goes on.
if ! need cargo-deny && [ "$(id -u)" = 0 ]; then
  echo "test.sh: installing cargo-deny (cargo install cargo-deny --locked; takes minutes)" >&2
  cargo install --quiet --locked cargo-deny
fi
if need cargo-deny; then
  cargo deny --locked check --hide-inclusion-graph licenses bans sources
  if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
    cargo deny --locked --offline check --hide-inclusion-graph advisories
  else
    echo "test.sh: cargo deny advisories SKIPPED: the advisory database https://github.com/rustsec/advisory-db could not be fetched (no access to GitHub); licences, bans and sources were checked" >&2
  fi
else
  echo "test.sh: cargo deny SKIPPED: cargo-deny is not installed and only root installs it here" >&2
fi
cargo build --locked --workspace --bins
cargo test --locked --workspace
scripts/stress.sh --seconds 40 --debug
