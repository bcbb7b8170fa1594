#!/usr/bin/env bash
# sea benchmark: packing, size, unpacking and start-up of a packed executable, measured side by
# side with the tools people would otherwise use, in one run, on one machine.
#
#   scripts/bench.sh [--quick] [--strict] [--only bigfile|delta|warm]
#
#   (full: ~200 MB tree, about 15 minutes here, mostly zstd -19; needs ~6 GB of free disk)
#   --quick    smoke test: ~20 MB tree, fewer repetitions and runs (about 2 minutes)
#   --strict   exit 1 when a target is missed (default: exit 0 once the benchmark ran)
#   --only bigfile   run only section 8 (about 5 minutes; quick: 2)
#   --only delta     only the delta-update section (scripts/lib/bench-delta.sh: what it measures)
#   --only warm      only the warm start against wrappe -e none (scripts/lib/bench-warm.sh; ~2 min)
#   env        BENCH_DIR (default ./bench-out), BENCH_SEED (1), BENCH_SIZE_MB (200 / quick 20),
#              BENCH_REPS (unpack repetitions, 7 / quick 3), BENCH_HF_RUNS (1000 / quick 100),
#              BENCH_HF_WARMUP (50 / 10), BENCH_HF_ROUNDS (3 / 2), BENCH_WARM_SIZES ("10 15000"),
#              BENCH_KEEP=1 (keep the work trees), BENCH_SEA_PACK=path (benchmark a prebuilt
#              sea-pack instead of building this checkout; its stub: BENCH_LAUNCHER or the
#              sea-launcher next to it)
#
# Output: progress on stderr, the table on stdout, and in $BENCH_DIR: results.json (all figures and
# raw samples), results.txt (the table), raw.txt, bench.log (tools' output), hyperfine-*.json.
#
# What is measured, and how:
#  1. A node_modules-like tree (scripts/gen-tree.py: text/JS with a shared vocabulary, JSON,
#     source maps, big bundles, incompressible blobs, executables, symlinks) generated from a fixed
#     seed. Its digest is compared with the pinned digest below, so "same seed -> same bytes" is
#     checked on every run (a custom seed/size is generated twice and compared instead).
#  2. Pack: wall time and peak RSS of `sea-pack build` at its default compression (zstd:19), once.
#     Payload size = the payload reported by `sea-pack inspect --json`, else read from the trailer,
#     else binary minus stub. The whole package (binary - stub) is shown too.
#  3. Size against *solid* archives of the same tree, entries sorted and normalised the same way
#     (tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0): gzip -9, zstd -19, zstd -19 -T0.
#     Target: payload <= 1.02 x tar|zstd -19, and (issue 11) the whole packed file <= stub + 1.02 x
#     tar|zstd -19, for this tree, for `gen-tree.py smalltree` (4,000 small source files, where a
#     per-file cost shows most; BENCH_SMALL_FILES) and for the big-file tree of 8; likewise the
#     update artifact (the package without the stub, what `sea-pack release` publishes: measured
#     as the file release writes for the small tree, as binary - stub for the others).
#  4. Unpack wall time: `tar -I zstd -xf tree.tar.zst` vs `sea-pack extract` vs the packed binary's
#     own cold start (fresh HOME/XDG_CACHE_HOME, entry = `bin/noop`, a `#!/bin/sh` `exit 0`
#     script in the tree), each into a fresh directory on the same file system.
#     - Repetitions are *interleaved* (tar, extract, cold, then rotated) so that drift on a shared
#       machine (other jobs, writeback, thermal) hits all sides alike; the *median* is reported
#       because a few runs are always disturbed by other processes and the mean would follow them.
#     - The ext4 trap: creating files right after deleting a large tree is 10-20x slower here
#       (the kernel is still freeing blocks and inodes). So nothing is deleted while measuring:
#       every run writes to a new directory, and all of them are deleted at the very end.
#     - `sync` (outside the timing) before every timed run, so one run's writeback does not land
#       in the next one's time. The page cache is never dropped: both sides run warm-cache alike.
#     Target: <= 1.0 x tar.
#  5. Peak RSS of those unpacks (/usr/bin/time %M: the largest RSS among the process and its
#     waited-for children, i.e. max(tar, zstd), not their sum). Target <= 32 MB.
#  6. Warm start: a packed no-op C program vs the same program run directly from the extracted
#     tree, with a 10-file and a 15,000-file payload, hyperfine -N (no shell) with many runs in
#     several rounds of alternating order; median difference. Target <= 1 ms added. Launcher
#     peak RSS on a warm start: target <= 8 MB. Then the same against the peer, wrappe -e none,
#     in one run (scripts/lib/bench-warm.sh, --only warm), with sea built --no-supervise too and
#     two C references (exec only; posix_spawn + wait): target sea --no-supervise added <=
#     wrappe added (both exec in place; the supervised sea is compared with the spawn reference).
#  7. Stripped size of sea-launcher (the stub every packed binary carries). Target <= 3 MB.
#  8. Big files (`gen-tree.py bigtree`: ~260 files, 235 MB, most of it in a 120 MB native-like
#     runtime and a few 12-40 MB files; quick: --scale 25): payload size against solid
#     `tar | zstd -19 -T0` (what the single-frame payload was; target <= 1.01x), and the cold start
#     of the packed binary and `sea-pack extract` against `tar -I zstd -xf` of the same tree,
#     interleaved as in 4, median of BENCH_BIG_REPS (7 / quick 3). Target <= 0.8 x tar.
#     Results: $BENCH_DIR/bigfile.txt and bigfile-raw.txt (env BENCH_BIG_SCALE, BENCH_BIG_REPS).
# Commands the current sea-pack lacks (inspect, extract) are detected and their rows marked SKIP.
set -euo pipefail
export LC_ALL=C

usage() { awk 'NR > 1 && /^# Output/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
QUICK=0 STRICT=0 ONLY='' WANT_ONLY=0
for a in "$@"; do
  if [ $WANT_ONLY = 1 ]; then ONLY=$a WANT_ONLY=0; continue; fi
  case "$a" in
    --only) WANT_ONLY=1 ;;
    --only=*) ONLY=${a#--only=} ;;
    --quick) QUICK=1 ;;
    --strict) STRICT=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown argument '$a'" >&2; usage >&2; exit 2 ;;
  esac
done
[ "$WANT_ONLY" = 0 ] || { echo "bench.sh: --only needs a section name (bigfile, delta or warm)" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN="$ROOT/scripts/gen-tree.py"
LIB="$ROOT/scripts/lib/benchlib.py"
BENCH_DIR=${BENCH_DIR:-$ROOT/bench-out}
SEED=${BENCH_SEED:-1}
if [ "$QUICK" = 1 ]; then
  BIG_SCALE=${BENCH_BIG_SCALE:-25} BIG_REPS=${BENCH_BIG_REPS:-3}
else
  BIG_SCALE=${BENCH_BIG_SCALE:-100} BIG_REPS=${BENCH_BIG_REPS:-7}
fi
if [ "$QUICK" = 1 ]; then
  MODE=quick SIZE_MB=${BENCH_SIZE_MB:-20} REPS=${BENCH_REPS:-3}
  HF_RUNS=${BENCH_HF_RUNS:-100} HF_WARMUP=${BENCH_HF_WARMUP:-10} HF_ROUNDS=${BENCH_HF_ROUNDS:-2}
else
  MODE=full SIZE_MB=${BENCH_SIZE_MB:-200} REPS=${BENCH_REPS:-7}
  HF_RUNS=${BENCH_HF_RUNS:-1000} HF_WARMUP=${BENCH_HF_WARMUP:-50} HF_ROUNDS=${BENCH_HF_ROUNDS:-3}
fi
WARM_SIZES=${BENCH_WARM_SIZES:-10 15000}
# sha256 of `gen-tree.py hash` for the default seed; update when gen-tree.py changes on purpose.
declare -A PINNED=(
  [1:20]=aa9e278c88eca91b82651cde88cbe00cd2eb45ec0c014843b627676c86a021b7
  [1:200]=9a7e2b249e9bf050f48647934206909a8957e8eea6de9db14da9963103c6aa4d
)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bench.sh: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# ------------------------------------------------------------------------------ tools
case "$BENCH_DIR" in *[[:space:]]*) die "BENCH_DIR must not contain whitespace (hyperfine -N splits commands): '$BENCH_DIR'" ;; esac
[ "${BASH_VERSINFO[0]}" -ge 5 ] || die "bash >= 5 is needed (EPOCHREALTIME)"
missing_apt=()
have hyperfine || missing_apt+=(hyperfine)
[ -x /usr/bin/time ] || missing_apt+=(time)
if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    log "installing ${missing_apt[*]} (apt-get)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}" >&2 \
      || die "could not install ${missing_apt[*]}; install the Debian packages '${missing_apt[*]}' and retry"
  else
    die "missing ${missing_apt[*]}: install the Debian package(s) '${missing_apt[*]}' (apt-get install ${missing_apt[*]}) and retry"
  fi
fi
for t in cargo python3 tar gzip zstd strip awk sync; do
  have "$t" || die "'$t' is required but not on PATH"
done
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is required (for --sort=name)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' || die "python3 >= 3.8 is required"

# ------------------------------------------------------------------------------ work dirs
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
W="$BENCH_DIR/work"
LOG="$BENCH_DIR/bench.log"
RAW="$BENCH_DIR/raw.txt"
: >"$LOG"
: >"$RAW"
rm -f "$BENCH_DIR"/hyperfine-*.json "$BENCH_DIR/results.json" "$BENCH_DIR/results.txt"
# A previous, interrupted run's trees are moved aside, not deleted now (ext4 trap, see above).
OLD=()
if [ -e "$W" ]; then
  OLD+=("$BENCH_DIR/old-work.$$")
  mv "$W" "${OLD[0]}"
fi
for o in "$BENCH_DIR"/old-work.*; do
  if [ -e "$o" ] && [[ " ${OLD[*]} " != *" $o "* ]]; then OLD+=("$o"); fi
done
mkdir -p "$W"
cleanup() {
  local st=$?
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "BENCH_KEEP=1: work trees kept in $W"
  else
    log "removing work trees (deleting many files is slow on ext4; this may take a few minutes)"
    local t0=$SECONDS
    chmod -R u+rwx "$W" 2>/dev/null || true
    rm -rf "$W" "${OLD[@]}" || true
    log "removed in $((SECONDS - t0)) s"
  fi
  [ $st = 0 ] || log "failed (exit $st); tools' output is in $LOG"
}
trap cleanup EXIT

rec() { printf '%s %s\n' "$1" "$2" >>"$RAW"; }
note() { log "note: $*"; rec note "$*"; }

# timed CMD... : runs CMD with its output in the log, after a `sync`; sets T_SEC (wall) and
# T_RSS_KB (peak RSS); returns CMD's status.
T_SEC='' T_RSS_KB=''
timed() {
  local rss="$W/.rss" t0 t1 st=0
  sync
  t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$rss" "$@" >>"$LOG" 2>&1 || st=$?
  t1=$EPOCHREALTIME
  T_SEC=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  T_RSS_KB=$(tail -n 1 "$rss")
  return $st
}
# last lines of the log, for error messages
log_tail() { tail -n "${1:-5}" "$LOG" | sed 's/^/    /' >&2; }

# app_env DIR NAME : prints env(1) arguments to run the packed app NAME with a fresh, private home
# and cache in DIR, no update checks, and none of the launcher's <PREFIX>_* overrides inherited.
app_env() {
  local p=${2^^}
  p=${p//-/_}
  mkdir -p -m 700 "$1/home" "$1/cache"
  printf '%s\n' env -u "${p}_HOME" -u "${p}_CACHE_HOME" -u "${p}_VERSION" -u "${p}_LOG" \
    "HOME=$1/home" "XDG_CACHE_HOME=$1/cache" "${p}_AUTO_UPDATE=0"
}
# cache_entry DIR : the app's entry bin/noop inside the extracted tree under DIR/cache (not temp dirs)
cache_entry() {
  local rel
  rel=$(cd "$1/cache" && find . -path '*/bin/noop' -not -path '*/.*' -type f | head -n 1)
  [ -n "$rel" ] && echo "$1/cache/${rel#./}"
}
# tree_hash DIR : digest JSON of DIR (launcher/extractor metadata `.sea*` at the top is ignored)
tree_hash() { python3 "$GEN" hash "$1" --exclude-prefix .sea; }
json_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

rec mode "$MODE"
rec date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
rec host "$(uname -srm)"
rec cpus "$(nproc)"
rec git "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
rec seed "$SEED"
rec size_mb "$SIZE_MB"
rec unpack_reps "$REPS"
rec hyperfine_params "-N --warmup $HF_WARMUP --runs $HF_RUNS x $HF_ROUNDS rounds"
log "mode $MODE: ${SIZE_MB} MB tree, seed $SEED, $REPS unpack repetitions, hyperfine $HF_RUNS runs x $HF_ROUNDS rounds; work in $W"

# ------------------------------------------------------------------------------ build
if [ -n "${BENCH_SEA_PACK:-}" ]; then
  # Benchmark prebuilt binaries instead (e.g. another checkout's): the stub is the sea-launcher
  # next to it, as `sea-pack build` itself assumes.
  SEA_PACK=$(realpath "$BENCH_SEA_PACK")
  STUB=$(realpath "${BENCH_LAUNCHER:-$(dirname "$SEA_PACK")/sea-launcher}")
  log "using prebuilt $SEA_PACK and $STUB (BENCH_SEA_PACK)"
  note "prebuilt binaries from BENCH_SEA_PACK=$BENCH_SEA_PACK"
else
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --locked -p sea-pack -p sea-launcher) >>"$LOG" 2>&1 || { log_tail 20; die "cargo build failed"; }
  TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  SEA_PACK="$TARGET_DIR/release/sea-pack"
  STUB="$TARGET_DIR/release/sea-launcher"
fi
[ -x "$SEA_PACK" ] && [ -x "$STUB" ] || die "sea-pack or sea-launcher not found or not executable: $SEA_PACK, $STUB"
HAVE_INSPECT=0 HAVE_EXTRACT=0
"$SEA_PACK" inspect --help >/dev/null 2>&1 && HAVE_INSPECT=1
"$SEA_PACK" extract --help >/dev/null 2>&1 && HAVE_EXTRACT=1
[ $HAVE_INSPECT = 1 ] || note "sea-pack has no 'inspect' yet: payload size read from the trailer"
[ $HAVE_EXTRACT = 1 ] || note "sea-pack has no 'extract' yet: its rows are skipped"

strip -o "$W/sea-launcher.stripped" "$STUB"
rec launcher_bytes "$(stat -L -c %s "$STUB")"
SMALL_FILES=${BENCH_SMALL_FILES:-4000}
rec launcher_stripped_bytes "$(stat -L -c %s "$W/sea-launcher.stripped")"

# ------------------------------------------------------------------------------ 8. big files
# bigfile_section: see 8. in the header. Appends to $BENCH_DIR/bigfile-raw.txt, prints the table.
bigfile_section() {
  local braw="$BENCH_DIR/bigfile-raw.txt" bt="$W/bigtree" bbin="$W/big" bu="$W/big-unpack" rep k m n d
  : >"$braw"
  brec() { printf '%s %s\n' "$1" "$2" >>"$braw"; }
  brec date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  brec scale "$BIG_SCALE"
  log "big files: generating the tree (gen-tree.py bigtree --scale $BIG_SCALE)"
  python3 "$GEN" bigtree "$bt" --scale "$BIG_SCALE" --seed "$SEED" >>"$LOG"
  local bstats bsha
  bstats=$(tree_hash "$bt")
  bsha=$(json_get "$bstats" sha256)
  brec tree "$bstats"
  log "big files: tree $bstats"
  log "big files: tar | zstd -19 -T0 (the single-frame reference)"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$bt" -cf "$W/bigtree.tar" .
  zstd -q -19 -T0 -f "$W/bigtree.tar" -o "$W/bigtree.tar.zst"
  brec zstd19_bytes "$(stat -L -c %s "$W/bigtree.tar.zst")"
  log "big files: sea-pack build"
  timed "$SEA_PACK" build "$bt" --name big --version 1.0.0 --entry bin/noop -o "$bbin" || { log_tail; die "sea-pack build (big files) failed"; }
  brec pack_seconds "$T_SEC"
  local bjson=""
  if [ $HAVE_INSPECT = 1 ] && "$SEA_PACK" inspect --json "$bbin" >"$W/big-inspect.json" 2>>"$LOG"; then bjson="$W/big-inspect.json"; fi
  read -r psize _ < <(python3 "$LIB" payload-size "$bbin" "$STUB" ${bjson:+"$bjson"})
  brec payload_bytes "$psize"
  brec binary_bytes "$(stat -L -c %s "$bbin")"
  brec stub_bytes "$(stat -L -c %s "$STUB")"
  brec artifact_bytes "$(python3 "$LIB" artifact-size "$bbin" "$STUB" ${bjson:+"$bjson"})"
  mkdir -p "$bu"
  local bmethods=(tar cold)
  [ $HAVE_EXTRACT = 1 ] && bmethods+=(extract)
  big_run() { # big_run METHOD DEST
    case "$1" in
      tar) mkdir "$2"; timed tar -I zstd -xf "$W/bigtree.tar.zst" -C "$2" ;;
      extract) timed "$SEA_PACK" extract "$bbin" "$2" ;;
      cold) mapfile -t envargs < <(app_env "$2" big); timed "${envargs[@]}" "$bbin" ;;
    esac
  }
  log "big files: one untimed run per method (warms the cache, checks the round trip)"
  for m in "${bmethods[@]}"; do
    big_run "$m" "$bu/check-$m" || { log_tail; die "big files: '$m' failed"; }
    case "$m" in
      cold) t=$(cache_entry "$bu/check-$m") && t=$(dirname "$(dirname "$t")") ;;
      *) t=$bu/check-$m ;;
    esac
    if [ -n "$t" ] && [ "$(json_get "$(tree_hash "$t")" sha256)" = "$bsha" ]; then brec "roundtrip_$m" identical; else brec "roundtrip_$m" differs; fi
  done
  brec loadavg "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
  log "big files: $BIG_REPS interleaved repetitions of: ${bmethods[*]}"
  for ((rep = 0; rep < BIG_REPS; rep++)); do
    n=${#bmethods[@]}
    for ((k = 0; k < n; k++)); do
      m=${bmethods[$(((k + rep) % n))]}
      sleep 0.5
      big_run "$m" "$bu/$m-$rep" || { log_tail; die "big files: '$m' failed"; }
      brec "${m}_s" "$T_SEC"
      brec "${m}_rss_kb" "$T_RSS_KB"
      log "  big rep $((rep + 1))/$BIG_REPS $m: ${T_SEC}s, ${T_RSS_KB} KB"
    done
  done
  python3 - "$braw" >"$BENCH_DIR/bigfile.txt" <<'PY'
import json, sys
raw = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition(" ")
    raw.setdefault(k, []).append(v)
def med(k):
    xs = sorted(float(x) for x in raw.get(k, []))
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2 if xs else None
tree = json.loads(raw["tree"][0])
print(f"Big files ({raw['date'][0]}, scale {raw['scale'][0]} %): {tree['bytes'] / 2**20:.1f} MiB in {tree['files']} files; load {raw['loadavg'][0]}")
print("| measurement | sea | reference | ratio | target | verdict |")
print("| --- | --- | --- | --- | --- | --- |")
p, z = int(raw["payload_bytes"][0]), int(raw["zstd19_bytes"][0])
print(f"| payload size | {p / 2**20:.2f} MiB | tar \\| zstd -19 -T0: {z / 2**20:.2f} MiB | {p / z:.3f}x | <= 1.01x | {'PASS' if p / z <= 1.01 else 'FAIL'} |")
b, stub, art = int(raw["binary_bytes"][0]), int(raw["stub_bytes"][0]), int(raw["artifact_bytes"][0])
q = (b - stub) / z
print(f"| whole packed file | {b / 2**20:.2f} MiB | stub {stub / 2**20:.2f} MiB + tar \\| zstd -19 -T0 | {q:.3f}x (binary - stub) | <= stub + 1.02x | {'PASS' if q <= 1.02 else 'FAIL'} |")
print(f"| update artifact | {art / 2**20:.2f} MiB | tar \\| zstd -19 -T0: {z / 2**20:.2f} MiB | {art / z:.3f}x | <= 1.02x | {'PASS' if art / z <= 1.02 else 'FAIL'} |")
print(f"| pack time | {float(raw['pack_seconds'][0]):.1f} s | | | | |")
tar = med("tar_s")
for m, label in (("cold", "cold start of the packed binary"), ("extract", "sea-pack extract")):
    t = med(f"{m}_s")
    if t is None:
        continue
    rss = max(int(x) for x in raw[f"{m}_rss_kb"]) / 1024
    ok = t / tar <= 0.8
    print(f"| {label} (median of {len(raw[m + '_s'])}) | {t:.3f} s | tar -I zstd -xf: {tar:.3f} s | {t / tar:.2f}x | <= 0.8x | {'PASS' if ok else 'FAIL'} |")
    if m == "cold":
        print(f"| {label}, issue 11's target | | | {t / tar:.2f}x | <= 0.55x | {'PASS' if t / tar <= 0.55 else 'FAIL'} |")
    print(f"| {label}, peak RSS (max) | {rss:.1f} MiB | tar + zstd: {max(int(x) for x in raw['tar_rss_kb']) / 1024:.1f} MiB | | <= 32 MB | {'PASS' if rss * 2**20 <= 32e6 else 'FAIL'} |")
for m in ("tar", "cold", "extract"):
    if f"roundtrip_{m}" in raw:
        print(f"round trip {m}: {raw['roundtrip_' + m][0]}")
PY
  cat "$BENCH_DIR/bigfile.txt"
}

case "$ONLY" in
  "") ;;
  bigfile)
    bigfile_section
    grep -q FAIL "$BENCH_DIR/bigfile.txt" && [ "$STRICT" = 1 ] && exit 1
    exit 0
    ;;
  delta)
    # shellcheck source=lib/bench-delta.sh
    . "$ROOT/scripts/lib/bench-delta.sh"
    delta_section | tee "$BENCH_DIR/results.txt"
    exit 0
    ;;
  warm)
    # shellcheck source=lib/bench-warm.sh
    . "$ROOT/scripts/lib/bench-warm.sh"
    st=0
    warm_section || st=$?
    [ "$STRICT" = 1 ] && exit $st
    exit 0
    ;;
  *) die "--only takes 'bigfile', 'delta' or 'warm', not '$ONLY'" ;;
esac

# ------------------------------------------------------------------------------ 1. the tree
TREE="$W/tree"
log "generating the ${SIZE_MB} MB tree (seed $SEED)"
python3 "$GEN" tree "$TREE" --size-mb "$SIZE_MB" --seed "$SEED" >>"$LOG"
STATS=$(tree_hash "$TREE")
SHA=$(json_get "$STATS" sha256)
rec tree_stats "$STATS"
log "tree: $STATS"
pinned=${PINNED[$SEED:$SIZE_MB]:-}
if [ -n "$pinned" ] && [ "$SHA" = "$pinned" ]; then
  rec tree_deterministic PASS
  rec tree_deterministic_how "equals the digest pinned in bench.sh"
else
  log "generating the tree a second time to check determinism"
  python3 "$GEN" tree "$W/tree-again" --size-mb "$SIZE_MB" --seed "$SEED" >>"$LOG"
  SHA2=$(json_get "$(tree_hash "$W/tree-again")" sha256)
  if [ "$SHA2" != "$SHA" ]; then
    rec tree_deterministic FAIL
    rec tree_deterministic_how "two generations differ ($SHA2)"
  elif [ -n "$pinned" ]; then
    rec tree_deterministic FAIL
    rec tree_deterministic_how "stable within this run but differs from the pinned digest $pinned (gen-tree.py changed?)"
  else
    rec tree_deterministic PASS
    rec tree_deterministic_how "generated twice, identical (no pinned digest for this seed/size)"
  fi
fi

# ------------------------------------------------------------------------------ 3. solid archives
log "tar of the tree, then gzip -9, zstd -19, zstd -19 -T0 (slow: zstd -19 runs ~2 MB/s)"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$TREE" -cf "$W/tree.tar" .
rec tar_bytes "$(stat -L -c %s "$W/tree.tar")"
timed sh -c 'gzip -9 -c "$1" >"$1.gz"' sh "$W/tree.tar"
rec gzip9_seconds "$T_SEC"
rec tar_gzip9_bytes "$(stat -L -c %s "$W/tree.tar.gz")"
timed zstd -q -19 -T0 -f "$W/tree.tar" -o "$W/tree.tar.mt.zst"
rec zstd19mt_seconds "$T_SEC"
rec tar_zstd19mt_bytes "$(stat -L -c %s "$W/tree.tar.mt.zst")"
timed zstd -q -19 -f "$W/tree.tar" -o "$W/tree.tar.zst"
rec zstd19_seconds "$T_SEC"
rec tar_zstd19_bytes "$(stat -L -c %s "$W/tree.tar.zst")"

# ------------------------------------------------------------------------------ 2. pack
BIN="$W/bench"
log "sea-pack build (default compression)"
timed "$SEA_PACK" build "$TREE" --name bench --version 1.0.0 --entry bin/noop -o "$BIN" || { log_tail; die "sea-pack build failed"; }
rec pack_seconds "$T_SEC"
rec pack_rss_kb "$T_RSS_KB"
rec pack_compression "default, zstd:19"
rec binary_bytes "$(stat -L -c %s "$BIN")"
rec binary_minus_stub_bytes "$(($(stat -L -c %s "$BIN") - $(stat -L -c %s "$STUB")))"
INSPECT_JSON=""
if [ $HAVE_INSPECT = 1 ]; then
  if "$SEA_PACK" inspect --json "$BIN" >"$W/inspect.json" 2>>"$LOG"; then
    INSPECT_JSON="$W/inspect.json"
  else
    note "sea-pack inspect --json failed on the packed binary (see bench.log)"
  fi
fi
read -r psize psrc < <(python3 "$LIB" payload-size "$BIN" "$STUB" ${INSPECT_JSON:+"$INSPECT_JSON"})
rec payload_bytes "$psize"
rec payload_source "$psrc"
# The update artifact is the package without the stub (sea-pack release copies exactly that).
rec artifact_bytes "$(python3 "$LIB" artifact-size "$BIN" "$STUB" ${INSPECT_JSON:+"$INSPECT_JSON"})"

# ------------------------------------------------------------------------------ 3b. many small files
small_section() {
  local st="$W/smalltree" sbin="$W/small" rel="$W/small-release"
  log "small files: gen-tree.py smalltree --files $SMALL_FILES"
  python3 "$GEN" smalltree "$st" --files "$SMALL_FILES" --seed "$SEED" >>"$LOG"
  rec small_tree "$(tree_hash "$st")"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$st" -cf "$W/smalltree.tar" .
  zstd -q -19 -f "$W/smalltree.tar" -o "$W/smalltree.tar.zst"
  rec small_zstd19_bytes "$(stat -L -c %s "$W/smalltree.tar.zst")"
  "$SEA_PACK" keygen -o "$W/small.key" >>"$LOG" 2>&1 || { log_tail; die "sea-pack keygen failed"; }
  "$SEA_PACK" build "$st" --name small --version 1.0.0 --entry bin/noop --sign-key "$W/small.key" -o "$sbin" >>"$LOG" 2>&1 \
    || { log_tail; die "sea-pack build (small files) failed"; }
  rec small_binary_bytes "$(stat -L -c %s "$sbin")"
  rec small_stub_bytes "$(stat -L -c %s "$STUB")"
  "$SEA_PACK" release "$sbin" --base-url https://example.invalid/small --sign-key "$W/small.key" -o "$rel" --deltas 0 >>"$LOG" 2>&1 \
    || { log_tail; die "sea-pack release (small files) failed"; }
  local art
  art=$(find "$rel" -maxdepth 1 -name 'small-1.0.0-*.sea' | head -n 1)
  [ -n "$art" ] && rec small_artifact_bytes "$(stat -L -c %s "$art")"
}
small_section
log "payload $psize bytes ($psrc); tar|zstd -19 $(stat -L -c %s "$W/tree.tar.zst") bytes"

# ------------------------------------------------------------------------------ 4-5. unpack
U="$W/unpack"
mkdir -p "$U"
EXTRACT_PRECREATE=0
METHODS=(tar cold)

run_method() { # run_method METHOD DEST : one unpack into the fresh DEST; sets T_SEC/T_RSS_KB
  case "$1" in
    tar)
      mkdir "$2"
      timed tar -I zstd -xf "$W/tree.tar.zst" -C "$2" ;;
    extract)
      [ $EXTRACT_PRECREATE = 0 ] || mkdir "$2"
      timed "$SEA_PACK" extract "$BIN" "$2" ;;
    cold)
      mapfile -t envargs < <(app_env "$2" bench)
      timed "${envargs[@]}" "$BIN" ;;
  esac
}
# the tree a method produced in DEST
method_tree() {
  case "$1" in
    tar | extract) echo "$2" ;;
    cold) e=$(cache_entry "$2") && dirname "$(dirname "$e")" ;;
  esac
}

log "unpack: one untimed run per method (warms the cache, checks the round trip)"
if [ $HAVE_EXTRACT = 1 ]; then
  if run_method extract "$U/check-extract"; then
    METHODS+=(extract)
  else
    EXTRACT_PRECREATE=1
    if run_method extract "$U/check-extract2"; then
      METHODS+=(extract)
      note "sea-pack extract needs an existing directory; the timed runs create it first"
    else
      log_tail
      rec unpack_extract_skip "SKIP: sea-pack extract failed (see bench.log)"
    fi
  fi
else
  rec unpack_extract_skip "SKIP: sea-pack has no extract command yet"
fi
run_method tar "$U/check-tar" || { log_tail; die "tar -I zstd -xf failed"; }
run_method cold "$U/check-cold" || { log_tail; die "cold start of the packed binary failed"; }
for m in "${METHODS[@]}"; do
  d=$U/check-$m
  [ "$m" = extract ] && [ $EXTRACT_PRECREATE = 1 ] && d=$U/check-extract2
  t=$(method_tree "$m" "$d")
  if [ -n "$t" ] && [ "$(json_get "$(tree_hash "$t")" sha256)" = "$SHA" ]; then
    rec "roundtrip_$m" identical
  else
    rec "roundtrip_$m" "differs"
    note "the tree produced by '$m' differs from the input (${t:-no tree found})"
  fi
done

rec loadavg_unpack "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
log "unpack: $REPS interleaved repetitions of: ${METHODS[*]}"
for ((rep = 0; rep < REPS; rep++)); do
  n=${#METHODS[@]}
  for ((k = 0; k < n; k++)); do
    m=${METHODS[$(((k + rep) % n))]}
    sleep 0.5
    run_method "$m" "$U/$m-$rep" || { log_tail; die "unpack with '$m' failed"; }
    rec "unpack_${m}_s" "$T_SEC"
    rec "unpack_${m}_rss_kb" "$T_RSS_KB"
    log "  rep $((rep + 1))/$REPS $m: ${T_SEC}s, ${T_RSS_KB} KB"
  done
done

# ------------------------------------------------------------------------------ 6. warm start
NOOP="$W/noop"
if have cc && printf 'int main(void) { return 0; }\n' >"$W/noop.c" && cc -O2 -o "$NOOP" "$W/noop.c" 2>>"$LOG"; then
  :
else
  cp /bin/true "$NOOP"
  note "no C compiler: the warm-start app is a copy of /bin/true"
fi
rec warm_sizes "$WARM_SIZES"
rec loadavg_warm "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
for n in $WARM_SIZES; do
  log "warm start, $n-file payload"
  flat="$W/flat-$n"
  python3 "$GEN" flat "$flat" --files $((n - 1)) --seed "$SEED" >>"$LOG"
  mkdir -p "$flat/bin"
  install -m 0755 "$NOOP" "$flat/bin/noop"
  app="$W/warm$n"
  "$SEA_PACK" build "$flat" --name "warm$n" --version 1.0.0 --entry bin/noop -o "$app" >>"$LOG" 2>&1 || { log_tail; die "packing the $n-file payload failed"; }
  mapfile -t envargs < <(app_env "$W/warm-home-$n" "warm$n")
  "${envargs[@]}" "$app" >>"$LOG" 2>&1 || { log_tail; die "first run of the $n-file app failed"; }
  if ! entry=$(cache_entry "$W/warm-home-$n"); then
    rec "warm_${n}_skip" "SKIP: extracted entry not found under the cache"
    continue
  fi
  # hyperfine inherits the environment: the packed app must find its warm cache.
  files=()
  for ((round = 0; round < HF_ROUNDS; round++)); do
    out="$BENCH_DIR/hyperfine-warm$n-$round.json"
    if ((round % 2 == 0)); then order=(-n packed "$app" -n direct "$entry"); else order=(-n direct "$entry" -n packed "$app"); fi
    "${envargs[@]}" hyperfine -N --style basic --warmup "$HF_WARMUP" --runs "$HF_RUNS" --export-json "$out" "${order[@]}" >>"$LOG" 2>&1 \
      || { log_tail; die "hyperfine failed"; }
    files+=("$out")
  done
  python3 "$LIB" hyperfine-times "$RAW" "warm_$n" "${files[@]}"
  for ((k = 0; k < 10; k++)); do
    "${envargs[@]}" /usr/bin/time -f %M -o "$W/.rss" "$app" >>"$LOG" 2>&1
    rec "warm_${n}_rss_kb" "$(tail -n 1 "$W/.rss")"
    /usr/bin/time -f %M -o "$W/.rss" "$entry" >>"$LOG" 2>&1
    rec "warm_${n}_direct_rss_kb" "$(tail -n 1 "$W/.rss")"
  done
done

# The same warm start against the peer, wrappe -e none (scripts/lib/bench-warm.sh).
# shellcheck source=lib/bench-warm.sh
. "$ROOT/scripts/lib/bench-warm.sh"
warm_section >&2 || true

bigfile_section >&2

# ------------------------------------------------------------------------------ report
log "done measuring"
st=0
python3 "$LIB" report "$RAW" "$BENCH_DIR/results.json" >"$BENCH_DIR/results.txt" || st=$?
[ "$st" -le 1 ] || die "report failed"
cat "$BENCH_DIR/results.txt"
echo
cat "$BENCH_DIR/bigfile.txt"
echo
cat "$BENCH_DIR/warm.txt"
log "results: $BENCH_DIR/results.json, $BENCH_DIR/results.txt, $BENCH_DIR/bigfile.txt"
if [ "$STRICT" = 1 ] && { [ "$st" != 0 ] || grep -q FAIL "$BENCH_DIR/bigfile.txt" "$BENCH_DIR/warm.txt"; }; then exit 1; fi
exit 0
