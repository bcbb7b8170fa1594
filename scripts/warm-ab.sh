#!/usr/bin/env bash
# Warm start of two builds of sea side by side, in one run: is B faster or slower than A?
#
#   scripts/warm-ab.sh <SEA_PACK_A> <SEA_PACK_B> [--files N] [--runs N] [--rounds N]
#
#   Each side packs the same payload (a no-op C program, plus N-1 small files; default N=1) with
#   its own sea-pack and the sea-launcher next to it, so format changes between the two builds do
#   not matter. Both packed binaries are started once (cold) and then measured warm with
#   `hyperfine -N` together with the extracted entry run directly, in several rounds whose order
#   rotates, so drift on this shared machine hits all three alike. Reported: the median of every
#   command over all rounds, each side's overhead over the direct exec, B - A, and per start the
#   minor page faults and context switches (GNU time, mean of 200 runs).
#   env: WARM_AB_DIR (default: a temporary directory, removed afterwards)
#
# Used to decide build settings (PIE or not, static linking) and to check that a change made
# nothing slower: the reference is always measured in the same run.
set -euo pipefail
export LC_ALL=C
die() { printf 'warm-ab.sh: error: %s\n' "$*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: scripts/warm-ab.sh <SEA_PACK_A> <SEA_PACK_B> [--files N] [--runs N] [--rounds N]"
PACK_A=$(realpath "$1") PACK_B=$(realpath "$2")
shift 2
FILES=1 RUNS=1000 ROUNDS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --files) FILES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
for p in "$PACK_A" "$PACK_B"; do
  [ -x "$p" ] || die "$p is not an executable sea-pack"
  [ -x "$(dirname "$p")/sea-launcher" ] || die "no sea-launcher next to $p"
done
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
command -v cc >/dev/null || die "a C compiler is needed for the no-op app"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing (apt-get install time)"

W=${WARM_AB_DIR:-$(mktemp -d)}
[ -n "${WARM_AB_DIR:-}" ] || trap 'rm -rf "$W"' EXIT
mkdir -p "$W/tree/bin"
printf 'int main(void) { return 0; }\n' >"$W/noop.c"
cc -O2 -o "$W/tree/bin/noop" "$W/noop.c"
for ((i = 1; i < FILES; i++)); do printf 'file %d\n' "$i" >"$W/tree/f$i.txt"; done

declare -A APP ENTRY
for side in A B; do
  pack=PACK_$side
  "${!pack}" build "$W/tree" --name "ab$side" --version 1.0.0 --entry bin/noop -o "$W/app$side" >/dev/null 2>&1 ||
    die "packing with ${!pack} failed"
  mkdir -p "$W/home$side"
  APP[$side]=$W/app$side
  env HOME="$W/home$side" XDG_CACHE_HOME="$W/home$side/.cache" "AB${side}_AUTO_UPDATE=0" "$W/app$side" ||
    die "first start of side $side failed"
  ENTRY[$side]=$(find "$W/home$side/.cache" -path '*/bin/noop' -type f | head -n 1)
  [ -n "${ENTRY[$side]}" ] || die "side $side: extracted entry not found"
done

# hyperfine passes its environment on: give both sides their home.
export HOME="$W/homeA" XDG_CACHE_HOME="$W/homeA/.cache" ABA_AUTO_UPDATE=0 ABB_AUTO_UPDATE=0
# Side B needs its own cache: its variable wins over XDG_CACHE_HOME.
export ABB_CACHE_HOME="$W/homeB/.cache/abB" ABB_HOME="$W/homeB/.abB"
cmds=("direct:${ENTRY[A]}" "A:${APP[A]}" "B:${APP[B]}")
files=()
for ((r = 0; r < ROUNDS; r++)); do
  args=()
  for ((k = 0; k < 3; k++)); do
    c=${cmds[$(((k + r) % 3))]}
    args+=(-n "${c%%:*}" "${c#*:}")
  done
  hyperfine -N --style none --warmup 50 --runs "$RUNS" --export-json "$W/hf-$r.json" "${args[@]}" >/dev/null 2>&1 ||
    die "hyperfine failed (round $r)"
  files+=("$W/hf-$r.json")
done

faults() { # faults CMD: mean minor faults and context switches (voluntary+involuntary) of 200 runs
  local sum_f=0 sum_c=0 f c
  for ((k = 0; k < 200; k++)); do
    /usr/bin/time -f '%R %w %c' -o "$W/.t" "$1" >/dev/null 2>&1
    read -r f v c <"$W/.t"
    sum_f=$((sum_f + f)) sum_c=$((sum_c + v + c))
  done
  printf '%s %s' "$(python3 -c "print(round($sum_f/200,1))")" "$(python3 -c "print(round($sum_c/200,2))")"
}
fd=$(faults "${ENTRY[A]}") fa=$(faults "${APP[A]}") fb=$(faults "${APP[B]}")

python3 - "$fd" "$fa" "$fb" "${files[@]}" <<'PY'
import json, statistics, sys
fd, fa, fb = (s.split() for s in sys.argv[1:4])
times = {}
for path in sys.argv[4:]:
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
n = len(times["A"])
print(f"warm start, {n} runs per command in {len(sys.argv) - 4} rotating rounds (median, ms):")
print(f"  direct exec of the entry   {med['direct']:.3f}      faults {fd[0]:>6}  ctx switches {fd[1]}")
print(f"  A  {med['A']:.3f}  (+{med['A'] - med['direct']:.3f} over direct)  faults {fa[0]:>6}  ctx switches {fa[1]}")
print(f"  B  {med['B']:.3f}  (+{med['B'] - med['direct']:.3f} over direct)  faults {fb[0]:>6}  ctx switches {fb[1]}")
oa, ob = med["A"] - med["direct"], med["B"] - med["direct"]
print(f"  B - A = {med['B'] - med['A']:+.3f} ms; overhead B/A = {ob / oa:.2f}x" if oa > 0 else "")
PY
