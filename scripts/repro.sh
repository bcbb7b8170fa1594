#!/usr/bin/env bash
# Are stub builds reproducible? Builds `sea-launcher` (release) twice from scratch, in two fresh
# target directories at different paths (and from two copies of the checkout at different
# paths), and compares the bytes.
#
#   scripts/repro.sh [--jobs N] [--keep]
#
#   Each build is a clean `cargo build --release --locked -p sea-launcher` (about 6 minutes each
#   on 2 cores), the build packagers run, with no flags added. Paths are what usually leaks into
#   a binary (panic locations, build script output), hence two paths of different lengths.
#   Exit 0: identical (the SHA-256 is printed); 1: different (the count of differing bytes and
#   the section headers of both are shown).
#   env: REPRO_DIR (default: a temporary directory, removed afterwards unless --keep)
set -euo pipefail
export LC_ALL=C
die() { printf 'repro.sh: error: %s\n' "$*" >&2; exit 2; }
JOBS=2 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown argument $1 (usage: scripts/repro.sh [--jobs N] [--keep])" ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${REPRO_DIR:-$(mktemp -d)}
[ "$KEEP" = 1 ] || trap 'rm -rf "$D"' EXIT
mkdir -p "$D"
for side in a b; do
  # Different path lengths too: a leaked path would shift everything after it.
  src="$D/src-a"
  [ $side = a ] || src="$D/src-b-longer-path"
  rm -rf "$src"
  mkdir -p "$src"
  (cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$src")
  # The working tree's uncommitted edits are part of what is checked.
  printf '[repro %s] build %s in %s\n' "$(date +%T)" "$side" "$src" >&2
  (cd "$src" && CARGO_TARGET_DIR="$src/target" cargo build --quiet --release --locked -j "$JOBS" -p sea-launcher) ||
    die "build $side failed"
done
A="$D/src-a/target/release/sea-launcher" B="$D/src-b-longer-path/target/release/sea-launcher"
sa=$(sha256sum <"$A" | cut -d ' ' -f 1) sb=$(sha256sum <"$B" | cut -d ' ' -f 1)
if [ "$sa" = "$sb" ]; then
  printf 'reproducible: sea-launcher %s bytes, sha256 %s (two clean builds, different paths)\n' "$(stat -c %s "$A")" "$sa"
  exit 0
fi
printf 'NOT reproducible: %s vs %s\n' "$sa" "$sb"
printf '%s differing bytes\n' "$(cmp -l "$A" "$B" | wc -l)"
diff <(readelf -SW "$A") <(readelf -SW "$B") || true
exit 1
