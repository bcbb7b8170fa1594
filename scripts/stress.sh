#!/usr/bin/env bash
# Stress run: many launchers of several versions at once, with `--sea-gc` and `--sea-update` in
# loops against a loopback feed, SIGKILLs at random instants, damaged trees and wiped caches;
# invariants checked after every round (see scripts/stress/main.py for the list; the run is split by job in scripts/stress/).
#
#   scripts/stress.sh [--seconds N] [--launches N] [--seed N] [--keep] [--debug] [stress options...]
#
# Bounded: --seconds (default 270) of rounds plus set-up and a final check; --launches stops
# earlier. Loopback only; everything lives in one temporary directory, removed on exit (kept with
# --keep). Builds the release binaries first (--debug: the debug ones, as `cargo build` makes them,
# which spares CI the release build with its fat LTO). Prints progress on stderr and ends with one line:
#   stress: <R> rounds, <L> launches, <K> kills, <U> updates, <G> gc runs, <V> invariant violations (<T>s)
# Exit status 0 only when there were no violations.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEEP=0
PROFILE=release
ARGS=()
for a in "$@"; do
  case "$a" in
    --keep) KEEP=1 ;;
    --debug) PROFILE=debug ;;
    -h | --help) python3 "$ROOT/scripts/stress/main.py" --help; exit 0 ;;
    *) ARGS+=("$a") ;;
  esac
done
command -v python3 >/dev/null || { echo "stress.sh: python3 is needed" >&2; exit 2; }
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "stress: building sea-pack and sea-launcher ($PROFILE)..." >&2
if [ "$PROFILE" = release ]; then
  (cd "$ROOT" && cargo build --quiet --release --locked -p sea-pack -p sea-launcher)
else
  (cd "$ROOT" && cargo build --quiet --locked -p sea-pack -p sea-launcher)
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sea-stress.XXXXXX")
PID=
cleanup() {
  local rc=$?
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "stress: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
python3 "$ROOT/scripts/stress/main.py" --sea-pack "$TARGET/$PROFILE/sea-pack" --work "$WORK" ${ARGS[@]+"${ARGS[@]}"} &
PID=$!
wait "$PID"
