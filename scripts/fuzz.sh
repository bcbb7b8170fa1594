#!/usr/bin/env bash
# Fuzzes sea-payload's parsers and unpacker with libFuzzer, for a bounded time per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Defaults: 60 seconds, every target (see `fuzz/Cargo.toml`). Targets run one after the other, one
# process each (no -jobs/-workers: the machine's cores are shared). Installs cargo-fuzz (and the
# nightly toolchain) when missing. New corpus entries are kept in fuzz/corpus/<target>/ (only the
# seed-* files are in git); crashes go to fuzz/artifacts/<target>/, logs to fuzz/artifacts/logs/,
# and one line per run is appended to fuzz/artifacts/runs.tsv.
#
# Extra libFuzzer flags can be given in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-rss_limit_mb=1024).
# Exits non-zero if any target crashed, leaked, timed out or ran out of memory.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi
shift $(($# > 0 ? 1 : 0))

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "installing the nightly toolchain (cargo-fuzz needs it for sanitizers)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# The checks the targets rely on must catch planted escapes (fuzz/src/lib.rs tests).
cargo test --quiet --manifest-path fuzz/Cargo.toml --lib

# Default build: release with debug assertions and overflow checks, AddressSanitizer.
if [ $# -gt 0 ]; then
  for target in "${targets[@]}"; do
    cargo +nightly fuzz build "$target"
  done
else
  cargo +nightly fuzz build
fi

logs=fuzz/artifacts/logs
mkdir -p "$logs"
failed=()
printf '\n%-10s %8s %12s %8s %8s  %s\n' target seconds executions exec/s corpus result
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  flags=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
  if [ -f "fuzz/dicts/$target.dict" ]; then
    flags+=(-dict="fuzz/dicts/$target.dict")
  fi
  # shellcheck disable=SC2206 # FUZZ_FLAGS is a list of flags
  flags+=(${FUZZ_FLAGS:-})
  marker="$logs/.start-$target"
  touch "$marker"
  start=$(date +%s)
  set +e
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- "${flags[@]}" >"$log" 2>&1
  status=$?
  set -e
  elapsed=$(($(date +%s) - start))
  new_artifacts=$(find "fuzz/artifacts/$target" -maxdepth 1 -type f -newer "$marker" | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then
    execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  fi
  execs=${execs:-0}
  corpus=$(find "fuzz/corpus/$target" -maxdepth 1 -type f | wc -l)
  if [ "$status" -eq 0 ] && [ "$new_artifacts" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $status; see $log)"
    failed+=("$target")
  fi
  line=$(printf '%-10s %8s %12s %8s %8s  %s' "$target" "$elapsed" "$execs" $((execs / (elapsed > 0 ? elapsed : 1))) "$corpus" "$result")
  echo "$line"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$elapsed" "$execs" "$corpus" "$result" >>fuzz/artifacts/runs.tsv
done

echo
echo "logs: $logs/<target>.log; run history: fuzz/artifacts/runs.tsv"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes in: ${failed[*]}"
  for target in "${failed[@]}"; do
    find "fuzz/artifacts/$target" -maxdepth 1 -type f -newer "$logs/.start-$target" | sed 's/^/  /'
    grep -m1 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)' "$logs/$target.log" | sed 's/^/  /' || true
  done
  echo "reproduce: cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>"
  exit 1
fi
echo "no crashes; crash artifacts would be in fuzz/artifacts/<target>/"
