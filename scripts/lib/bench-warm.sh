# Warm start of sea against its peer `wrappe -e none`, in the same run (issue 11, target 2).
# Sourced by scripts/bench.sh (`--only warm`, and after section 6 of a full run); uses its
# helpers (log, die, have, rec, note, app_env, cache_entry) and variables (W, BENCH_DIR, LOG,
# GEN, SEED, SEA_PACK, STUB, HF_RUNS, HF_WARMUP, HF_ROUNDS, QUICK).
#
# What is measured, and how:
#  - Payloads: BENCH_PEER_SIZES (default "1 15000") files, `gen-tree.py flat` plus `bin/noop`, a
#    no-op C program (`int main(void) { return 0; }`; a copy of /bin/true without a C compiler).
#    The same tree is packed by `sea-pack build` and by `wrappe -e none -i none` (wrappe 1.0.6,
#    installed with `cargo install wrappe --version 1.0.6 --locked` into $BENCH_DIR/tools when no
#    wrappe 1.0.6 is on PATH; `-e none`: no check of the unpacked files on start, its fastest).
#  - Each packed binary runs once (the cold start unpacks), then ONE `hyperfine -N` run per round
#    measures three commands: the entry exec'd directly from sea's extracted tree, sea, wrappe;
#    HF_ROUNDS rounds whose order rotates, HF_RUNS runs each. Reported: medians over all rounds,
#    and each packer's time added over the direct exec. Target: sea added <= wrappe added.
#  - Per start (mean of BENCH_PEER_PERF_RUNS=200): page faults, context switches, task clock and,
#    where the CPU exposes it, instructions (`perf stat`; GNU time's counters without perf).
#  - Launcher peak RSS on a warm start (GNU time %M, the largest of 10): target <= 8 MB.
#  - The stripped stub: target <= 3 MB, or <= 4 MB when it is statically linked (the issue's
#    allowance for static linking that buys the warm start). MB are MiB, as in benchlib.py.
# Output: $BENCH_DIR/warm.txt (the table) and warm_peer_* lines in $BENCH_DIR/raw.txt.

WRAPPE_VERSION=1.0.6

# ensure_wrappe: sets WRAPPE to a wrappe $WRAPPE_VERSION, installing it when missing.
ensure_wrappe() {
  local w
  for w in "$BENCH_DIR/tools/bin/wrappe" "$(command -v wrappe 2>/dev/null || true)" "$HOME/.cargo/bin/wrappe"; do
    if [ -n "$w" ] && [ -x "$w" ] && "$w" --version 2>/dev/null | grep -qx "wrappe $WRAPPE_VERSION"; then
      WRAPPE=$w
      return 0
    fi
  done
  log "wrappe $WRAPPE_VERSION is missing: installing it (cargo install wrappe --version $WRAPPE_VERSION --locked --root $BENCH_DIR/tools; a few minutes)"
  note "installed wrappe $WRAPPE_VERSION with cargo into $BENCH_DIR/tools"
  cargo install wrappe --version "$WRAPPE_VERSION" --locked --root "$BENCH_DIR/tools" >>"$LOG" 2>&1 ||
    { log_tail 20; die "cargo install wrappe --version $WRAPPE_VERSION failed"; }
  WRAPPE="$BENCH_DIR/tools/bin/wrappe"
}

# apply_env env [-u NAME]... [NAME=VALUE]...: app_env's env(1) arguments applied to this shell
# (use it in a subshell), so that what is measured next is the app alone, not env(1) too.
apply_env() {
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      -u) unset "$2"; shift 2 ;;
      *=*) export "${1?}"; shift ;;
      *) die "apply_env: unexpected '$1'" ;;
    esac
  done
}

# perf_counts CMD...: mean per start of page faults, context switches, task clock (ms) and
# instructions ('-' when unavailable), on one line.
perf_counts() {
  local runs=${BENCH_PEER_PERF_RUNS:-200} out="$W/.perf"
  if have perf && perf stat -x, -e task-clock -- true >/dev/null 2>&1; then
    local events=task-clock,page-faults,context-switches
    perf stat -x, -e instructions -- true 2>&1 >/dev/null | grep -q '^[0-9]' && events+=,instructions
    perf stat -x, -r "$runs" -e "$events" -o "$out" -- "$@" >/dev/null 2>&1 || { echo "- - - -"; return; }
    python3 - "$out" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0] and f[0][0].isdigit():
        v[f[2].split(":")[0]] = float(f[0])
g = lambda k, fmt: fmt.format(v[k]) if k in v else "-"
print(g("page-faults", "{:.1f}"), g("context-switches", "{:.2f}"), g("task-clock", "{:.3f}"), g("instructions", "{:.0f}"))
PY
  else
    local sum_f=0 sum_c=0 f v c k
    for ((k = 0; k < runs; k++)); do
      /usr/bin/time -f '%R %w %c' -o "$out" "$@" >/dev/null 2>&1
      read -r f v c <"$out"
      sum_f=$((sum_f + f)) sum_c=$((sum_c + v + c))
    done
    python3 -c "print(f'{$sum_f/$runs:.1f} {$sum_c/$runs:.2f} - -')"
  fi
}

warm_section() {
  ensure_wrappe
  local sizes=${BENCH_PEER_SIZES:-1 15000} noop="$W/peer-noop" n
  if have cc && printf 'int main(void) { return 0; }\n' >"$W/peer-noop.c" && cc -O2 -o "$noop" "$W/peer-noop.c" 2>>"$LOG"; then
    :
  else
    cp /bin/true "$noop"
    note "no C compiler: the warm-start app is a copy of /bin/true"
  fi
  [ -f "$W/sea-launcher.stripped" ] || strip -o "$W/sea-launcher.stripped" "$STUB"
  local stub_bytes stub_static=0
  stub_bytes=$(stat -L -c %s "$W/sea-launcher.stripped")
  # Static: no program interpreter (a static PIE has no PT_INTERP, only its own relocations).
  if ! readelf -lW "$STUB" 2>/dev/null | grep -q 'Requesting program interpreter'; then stub_static=1; fi
  rec warm_peer_stub_bytes "$stub_bytes"
  rec warm_peer_stub_static "$stub_static"
  rec warm_peer_wrappe "$("$WRAPPE" --version)"
  rec warm_peer_loadavg "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
  for n in $sizes; do
    log "warm start against wrappe -e none, $n-file payload"
    local flat="$W/peer-flat-$n" sea="$W/peer-sea$n" wr="$W/peer-wrappe$n" home="$W/peer-home-$n"
    python3 "$GEN" flat "$flat" --files $((n - 1)) --seed "$SEED" >>"$LOG"
    mkdir -p "$flat/bin"
    install -m 0755 "$noop" "$flat/bin/noop"
    "$SEA_PACK" build "$flat" --name "peer$n" --version 1.0.0 --entry bin/noop -o "$sea" >>"$LOG" 2>&1 ||
      { log_tail; die "sea-pack build of the $n-file payload failed"; }
    "$WRAPPE" -e none -i none -c 3 "$flat" bin/noop "$wr" >>"$LOG" 2>&1 ||
      { log_tail; die "wrappe of the $n-file payload failed"; }
    local envargs
    mapfile -t envargs < <(app_env "$home" "peer$n")
    # wrappe unpacks under the temporary directory: a private one, kept between its runs.
    envargs+=("TMPDIR=$home/tmp")
    mkdir -p "$home/tmp"
    "${envargs[@]}" "$sea" >>"$LOG" 2>&1 || { log_tail; die "first run of sea's $n-file app failed"; }
    "${envargs[@]}" "$wr" >>"$LOG" 2>&1 || { log_tail; die "first run of wrappe's $n-file app failed"; }
    local entry
    entry=$(cache_entry "$home") || die "sea's extracted entry not found under $home/cache"
    local cmds=("direct:$entry" "sea:$sea" "wrappe:$wr") files=() r k
    for ((r = 0; r < HF_ROUNDS; r++)); do
      local args=()
      for ((k = 0; k < 3; k++)); do
        local c=${cmds[$(((k + r) % 3))]}
        args+=(-n "${c%%:*}" "${c#*:}")
      done
      "${envargs[@]}" hyperfine -N --style basic --warmup "$HF_WARMUP" --runs "$HF_RUNS" \
        --export-json "$BENCH_DIR/hyperfine-peer$n-$r.json" "${args[@]}" >>"$LOG" 2>&1 || { log_tail; die "hyperfine failed"; }
      files+=("$BENCH_DIR/hyperfine-peer$n-$r.json")
    done
    local side
    for side in direct sea wrappe; do
      local cmd=$entry
      [ $side = sea ] && cmd=$sea
      [ $side = wrappe ] && cmd=$wr
      rec "warm_peer_${n}_${side}_counts" "$(apply_env "${envargs[@]}" && perf_counts "$cmd")"
    done
    local rss=0 one
    for ((k = 0; k < 10; k++)); do
      "${envargs[@]}" /usr/bin/time -f %M -o "$W/.rss" "$sea" >>"$LOG" 2>&1
      one=$(tail -n 1 "$W/.rss")
      [ "$one" -gt "$rss" ] && rss=$one
    done
    rec "warm_peer_${n}_sea_rss_kb" "$rss"
    python3 - "$RAW" "$n" "${files[@]}" <<'PY'
import json, statistics, sys
raw, n = sys.argv[1], sys.argv[2]
times = {}
for path in sys.argv[3:]:
    for r in json.load(open(path))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
with open(raw, "a") as out:
    for k, v in times.items():
        out.write(f"warm_peer_{n}_{k}_median_ms {statistics.median(v) * 1000:.4f}\n")
        out.write(f"warm_peer_{n}_{k}_runs {len(v)}\n")
PY
  done
  warm_report "$sizes" | tee "$BENCH_DIR/warm.txt"
}

# warm_report SIZES: the table of warm.txt, from raw.txt.
warm_report() {
  python3 - "$RAW" "$1" "$HF_RUNS" "$HF_ROUNDS" <<'PY'
import sys
raw = {}
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").partition(" ")
    raw[k] = v
sizes, runs, rounds = sys.argv[2].split(), sys.argv[3], sys.argv[4]
ok = True
print(f"warm start against {raw['warm_peer_wrappe']} -e none, same hyperfine -N run, {runs} runs x {rounds} rotating rounds, median "
      f"(load {raw.get('warm_peer_loadavg', '?')})")
print()
print("| payload | direct exec | sea | wrappe | sea added | wrappe added | sea/wrappe | target sea <= wrappe |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
added = {}
for n in sizes:
    d, s, w = (float(raw[f"warm_peer_{n}_{k}_median_ms"]) for k in ("direct", "sea", "wrappe"))
    sa, wa = s - d, w - d
    added[n] = sa
    verdict = "PASS" if sa <= wa else "FAIL"
    ok &= verdict == "PASS"
    ratio = f"{sa / wa:.2f}x" if wa > 0 else "-"
    print(f"| {n} files | {d:.3f} ms | {s:.3f} ms | {w:.3f} ms | +{sa:.3f} ms | +{wa:.3f} ms | {ratio} | {verdict} |")
print()
print("| per start (mean) | page faults | context switches | task clock | instructions |")
print("| --- | --- | --- | --- | --- |")
for n in sizes:
    for k in ("direct", "sea", "wrappe"):
        f, c, t, i = raw[f"warm_peer_{n}_{k}_counts"].split()
        print(f"| {k}, {n} files | {f} | {c} | {t} ms | {i} |")
print()
if len(sizes) > 1:
    lo, hi = sizes[0], sizes[-1]
    print(f"sea added, {hi} files - {lo} file(s): {added[hi] - added[lo]:+.3f} ms (flat: within the run's noise)")
for n in sizes:
    rss = int(raw[f"warm_peer_{n}_sea_rss_kb"])
    v = "PASS" if rss <= 8 * 1024 else "FAIL"
    ok &= v == "PASS"
    print(f"launcher peak RSS, warm, {n} files: {rss / 1024:.1f} MiB (target <= 8 MB: {v})")
b, static = int(raw["warm_peer_stub_bytes"]), raw["warm_peer_stub_static"] == "1"
limit = 4 if static else 3
v = "PASS" if b <= limit * 1024 * 1024 else "FAIL"
ok &= v == "PASS"
kind = "static" if static else "dynamic"
print(f"sea-launcher stub, stripped, {kind}: {b / 1024 / 1024:.2f} MiB ({b} bytes; target <= {limit} MB: {v})")
sys.exit(0 if ok else 1)
PY
}
