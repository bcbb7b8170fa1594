# Delta section of scripts/bench.sh (`scripts/bench.sh --only delta`), sourced after the build:
# uses SEA_PACK, W, log, rec, note, timed, die, log_tail from bench.sh.
#
# Three release pairs from scripts/lib/gen-delta.py (fixed seed), each packed at the default
# compression (zstd:19) as 1.0.0 and 2.0.0 of app `dbench`:
#   eight  — eight incompressible 1 MiB files, 2.0.0 replaces one.   Target: delta <= 15 % of full.
#   nm     — ~10,000 JS-like files in 500 packages, one package changes. Target: <= 5 %.
#   native — a 40 MiB native-like module rebuilt (addresses shift in a third of it, code inserted)
#            and 10 % of 600 JS files edited. Target: <= 50 %, and below the naive
#            `zstd -19 --long=31 --patch-from=v1.tar v2.tar` of the whole tar stream.
# Per pair: `sea-pack release` of 2.0.0 with deltas vs `--deltas 0` (the difference is the delta
# build time; target <= 2 x the pack time of 2.0.0), then a real client update over loopback HTTP
# (python3 http.server): 1.0.0 is run once (its bundled tree is the base), then
# `--sea-update` is timed with /usr/bin/time (wall, peak RSS), from the directory with deltas
# and from the one without (download + extraction of the full artifact), alternately in fresh
# caches, DELTA_REPS (3) times each; medians. Targets: delta update time <= full update time;
# peak RSS <= 64 MB + the largest changed file. The installed tree's digest is compared with 2.0.0's source tree.
# Figures go to $RAW as delta_<pair>_<figure> and to a table on stdout.

delta_section() {
  local GENDELTA="$ROOT/scripts/lib/gen-delta.py" D="$W/delta" port key pub kind
  mkdir -p "$D"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  key="$D/release.key"
  pub=$("$SEA_PACK" keygen -o "$key" 2>>"$LOG" | awk '{ print $NF }' | tail -n 1)
  [ -n "$pub" ] || die "sea-pack keygen failed"
  local feed="http://127.0.0.1:$port/stable.json"
  local rows=()
  for kind in eight nm native; do
    local P="$D/$kind"
    log "delta: generating the '$kind' pair"
    python3 "$GENDELTA" "$kind" "$P/src" --seed "$SEED" >>"$LOG"
    mkdir -p "$P/bin"
    local v
    for v in 1 2; do
      timed "$SEA_PACK" build "$P/src/v$v" --name dbench --version "$v.0.0" --entry bin/noop \
        --feed "$feed" --public-key "$pub" --sign-key "$key" -o "$P/bin/dbench-$v" \
        || { log_tail; die "sea-pack build failed"; }
    done
    local pack_s=$T_SEC
    local site
    for site in delta full; do
      local flags=()
      [ $site = full ] && flags=(--deltas 0)
      "$SEA_PACK" release "$P/bin/dbench-1" --base-url "http://127.0.0.1:$port" --sign-key "$key" \
        -o "$P/site-$site" "${flags[@]}" >>"$LOG" 2>&1 || { log_tail; die "release failed"; }
      timed "$SEA_PACK" release "$P/bin/dbench-2" --base-url "http://127.0.0.1:$port" --sign-key "$key" \
        -o "$P/site-$site" "${flags[@]}" || { log_tail; die "release failed"; }
      eval "rel_${site}_s=\$T_SEC"
    done
    local full_b delta_b
    full_b=$(stat -c %s "$P"/site-delta/dbench-2.0.0-*.sea)
    delta_b=$(stat -c %s "$P"/site-delta/dbench-2.0.0-*.from-1.0.0.delta)
    local build_s
    build_s=$(awk -v a="$rel_delta_s" -v b="$rel_full_s" 'BEGIN { d = a - b; printf "%.3f", d < 0 ? 0 : d }')
    local naive_b=-
    if [ $kind = native ]; then
      for v in 1 2; do
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$P/src/v$v" -cf "$P/v$v.tar" .
      done
      zstd -q -19 --long=31 --patch-from="$P/v1.tar" "$P/v2.tar" -o "$P/naive.zst" >>"$LOG" 2>&1
      naive_b=$(stat -c %s "$P/naive.zst")
    fi
    # A real client, over loopback HTTP, each run in a fresh cache: full and delta alternately,
    # DELTA_REPS times (3), medians reported. Alternating matters: `release` just unpacked and
    # deleted two trees, and creating files right after a large delete is much slower on ext4
    # (see the header of bench.sh); whichever side ran first would pay for it.
    local mode rep ts_delta=() ts_full=() rss_delta=() rss_full=()
    for rep in $(seq "${DELTA_REPS:-3}"); do
      for mode in full delta; do
        local C="$P/client-$mode-$rep"
        mkdir -p -m 700 "$C/home" "$C/cache"
        python3 -m http.server "$port" --bind 127.0.0.1 --directory "$P/site-$mode" >>"$LOG" 2>&1 &
        local srv=$!
        local tries=0
        until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; do
          tries=$((tries + 1)); [ $tries -lt 100 ] || die "http.server did not start"; sleep 0.1
        done
        local envs=(env -u DBENCH_HOME -u DBENCH_CACHE_HOME -u DBENCH_VERSION "HOME=$C/home"
          "XDG_CACHE_HOME=$C/cache" DBENCH_UPDATE_TIMEOUT=120 DBENCH_LOG=info)
        "${envs[@]}" "$P/bin/dbench-1" >>"$LOG" 2>&1 || { kill "$srv"; log_tail; die "dbench 1.0.0 does not run"; }
        timed "${envs[@]}" "$P/bin/dbench-1" --sea-update || { kill "$srv"; log_tail; die "--sea-update failed"; }
        kill "$srv"
        wait "$srv" 2>/dev/null || true
        eval "ts_${mode}+=(\$T_SEC) rss_${mode}+=(\$T_RSS_KB)"
        eval "line_${mode}=\$(grep -o 'updated 1.0.0 -> 2.0.0: .*' \"\$LOG\" | tail -n 1)"
        local tree
        tree=$(find "$C/cache" -mindepth 1 -maxdepth 6 -type d -name '2.0.0-*' -not -name '.*' | head -n 1)
        [ -n "$tree" ] || die "no 2.0.0 tree installed by the $mode update"
        [ "$(tree_hash "$tree")" = "$(tree_hash "$P/src/v2")" ] || die "the $mode update installed other bytes than 2.0.0"
      done
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
    local upd_delta_s upd_full_s upd_delta_rss upd_full_rss
    upd_delta_s=$(median "${ts_delta[@]}") upd_full_s=$(median "${ts_full[@]}")
    upd_delta_rss=$(median "${rss_delta[@]}") upd_full_rss=$(median "${rss_full[@]}")
    rec "delta_${kind}_update_delta_samples_s" "${ts_delta[*]}"
    rec "delta_${kind}_update_full_samples_s" "${ts_full[*]}"
    case "$line_delta" in *"(delta from 1.0.0)"*) ;; *) die "the '$kind' update did not use the delta: $line_delta" ;; esac
    local largest
    largest=$(find "$P/src/v2" -type f -printf '%s\n' | sort -n | tail -n 1)
    rec "delta_${kind}_full_bytes" "$full_b"
    rec "delta_${kind}_delta_bytes" "$delta_b"
    rec "delta_${kind}_naive_bytes" "$naive_b"
    rec "delta_${kind}_pack_s" "$pack_s"
    rec "delta_${kind}_build_s" "$build_s"
    rec "delta_${kind}_update_delta_s" "$upd_delta_s"
    rec "delta_${kind}_update_full_s" "$upd_full_s"
    rec "delta_${kind}_update_delta_rss_kb" "$upd_delta_rss"
    rec "delta_${kind}_update_full_rss_kb" "$upd_full_rss"
    rec "delta_${kind}_line" "$line_delta"
    rows+=("$(awk -v k="$kind" -v f="$full_b" -v d="$delta_b" -v n="$naive_b" -v p="$pack_s" -v b="$build_s" \
      -v ud="$upd_delta_s" -v uf="$upd_full_s" -v r="$upd_delta_rss" -v l="$largest" 'BEGIN {
        pct = 100 * d / f; npct = (n == "-") ? "-" : sprintf("%.1f%%", 100 * n / f)
        lim = (k == "eight") ? 15 : (k == "nm") ? 5 : 50
        ok = (pct <= lim) && (b <= 2 * p) && (ud <= uf) && (r * 1024 <= 64 * 1048576 + l) && (n == "-" || d < n)
        printf "%-7s %9.2f MB %9.3f MB %6.1f%% (<=%d%%) %8s %7.1fs %7.1fs %7.2fs %7.2fs %6.1f MB  %s",
          k, f / 1e6, d / 1e6, pct, lim, npct, p, b, ud, uf, r / 1024, ok ? "ok" : "MISSED" }')")
  done
  printf '\nDelta updates (same run; full = the .sea artifact, naive = zstd -19 --long=31 --patch-from of the tar)\n'
  printf '%-7s %12s %12s %15s %8s %8s %8s %8s %8s %9s\n' pair full delta ratio naive pack build "upd(d)" "upd(f)" "rss(d)"
  printf '%s\n' "${rows[@]}"
}
