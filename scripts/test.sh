#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and end-to-end tests.
# Installs what the tests need (git, cargo-deny) when it is missing and this user may install it.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }
if ! need git && [ "$(id -u)" = 0 ] && need apt-get; then
  apt-get update -qq && apt-get install -y -qq git >/dev/null
fi
# nginx for the delta tests against a real static server (tests/e2e/deltas.rs: they SKIP without it).
if [ ! -x /usr/sbin/nginx ] && [ "${SEA_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" = 0 ] && need apt-get; then
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null || apt-get install -y -qq nginx >/dev/null || true
fi
if ! { need minisign && need zstd; } && [ "$(id -u)" = 0 ] && need apt-get; then apt-get update -qq && apt-get install -y -qq minisign zstd >/dev/null; fi
# nginx for tests/e2e/freshness.rs: a real static server (its ETag, Last-Modified, 304 and Range).
if ! need nginx && [ ! -x /usr/sbin/nginx ] && [ "${SEA_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" = 0 ] && need apt-get; then
  apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null
fi
# Signing tools for tests/e2e/signing.rs (packed macOS and Windows executables are signed and
# verified for real). osslsigncode comes from apt (root only); rcodesign from crates.io, built from
# source: 39 minutes here on 2 heavily shared cores, once (CI has 90). Set SEA_NO_INSTALL=1 to install
# nothing. The stand-in stubs are fetched once with npm into $SEA_FIXTURES (default
# ~/.cache/sea-test-fixtures). Whatever is missing, the signing tests say SKIP, and under CI=true
# they fail instead unless SEA_ALLOW_SKIP=1.
export PATH="$PATH:$HOME/.cargo/bin"
if ! need osslsigncode || ! need openssl; then
  if [ "${SEA_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get update -qq && apt-get install -y -qq osslsigncode openssl >/dev/null
  else
    echo "test.sh: osslsigncode or openssl missing and not installed (needs root and apt-get): the PE signing tests will SKIP" >&2
  fi
fi
if ! need rcodesign; then
  if [ "${SEA_NO_INSTALL:-0}" != 1 ] && need cargo; then
    echo "test.sh: installing rcodesign (cargo install apple-codesign, up to 40 minutes)" >&2
    started=$(date +%s)
    cargo install apple-codesign --locked --no-default-features --bin rcodesign
    echo "test.sh: rcodesign installed in $(( $(date +%s) - started )) s" >&2
  else
    echo "test.sh: rcodesign missing and not installed (SEA_NO_INSTALL=1 or no cargo): the Mach-O signing tests will SKIP" >&2
  fi
fi
if ! need npm && [ ! -d "${SEA_FIXTURES:-$HOME/.cache/sea-test-fixtures}" ]; then
  echo "test.sh: npm missing and no cached fixtures: the signing tests will SKIP (their stand-in stubs come from the npm registry)" >&2
fi
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
# Tests that need root (chown to another user, mounts, setpriv) are #[ignore = "needs root: …"]:
# a plain `cargo test` lists them as ignored instead of passing them. Here they run when we are
# root (CI is); otherwise the suite says so, and under CI=true that is a failure, not a pass.
if [ "$(id -u)" = 0 ]; then
  cargo test --locked --workspace -- --include-ignored
else
  if [ "${CI:-}" = true ] && [ "${SEA_ALLOW_SKIP:-}" != 1 ]; then
    echo "test.sh: CI=true but not root: the root-only tests cannot run (SEA_ALLOW_SKIP=1 to allow)" >&2
    exit 1
  fi
  cargo test --locked --workspace
  echo "test.sh: SKIPPED the tests marked 'needs root' (run as root to include them)" >&2
fi
scripts/stress.sh --seconds 40 --debug
