#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time, one at a time.
#
#   gateway/fuzz/run.sh [seconds-per-target] [target ...]
#
# Defaults: 600 seconds each, every target (filter patch validate bulk admin). Needs cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable toolchain it runs with RUSTC_BOOTSTRAP=1, which lets
# cargo-fuzz pass its `-Z` flags. Inputs are at most 64 KiB, a run is stopped past 2 GiB of RSS,
# and one input taking over 10 s is a timeout. New corpus entries go to `corpus/<target>/`
# (not committed); a crash, leak, out-of-memory or timeout input is copied into
# `regressions/<target>/`, which `cargo test -p scim-gateway --test fuzz_regressions` runs.
# Logs are in `logs/<target>.log`. The runs are niced; set NICE=0 to run them at full priority.

set -uo pipefail

FUZZ="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$FUZZ/../.." && pwd)"
SECONDS_EACH="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(filter patch validate bulk admin)

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NICE="${NICE:-10}"
# Safe Rust: no sanitizer (faster), but debug assertions and overflow checks on.
BUILD_FLAGS=(--fuzz-dir "$FUZZ" --sanitizer none --debug-assertions)
FUZZ_FLAGS=(-max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=65536
    -print_final_stats=1)

# The fuzz workspace starts from the repository's dependency versions.
[ -f "$FUZZ/Cargo.lock" ] || cp "$ROOT/Cargo.lock" "$FUZZ/Cargo.lock"

cd "$ROOT/gateway"
echo "building ${TARGETS[*]}"
nice -n "$NICE" cargo fuzz build "${BUILD_FLAGS[@]}" || exit 1

mkdir -p "$FUZZ/logs"
summary=()
for t in "${TARGETS[@]}"; do
    mkdir -p "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t" "$FUZZ/regressions/$t"
    log="$FUZZ/logs/$t.log"
    echo "fuzzing $t for ${SECONDS_EACH}s (log: $log)"
    start=$(date +%s)
    nice -n "$NICE" cargo fuzz run "${BUILD_FLAGS[@]}" "$t" \
        "$FUZZ/corpus/$t" "$FUZZ/corpus-seed/$t" "$FUZZ/regressions/$t" -- \
        "${FUZZ_FLAGS[@]}" -artifact_prefix="$FUZZ/artifacts/$t/" >"$log" 2>&1
    status=$?
    took=$(($(date +%s) - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    found=0
    for a in "$FUZZ/artifacts/$t"/{crash,leak,oom,timeout}-*; do
        [ -e "$a" ] || continue
        cp "$a" "$FUZZ/regressions/$t/"
        rm "$a"
        found=$((found + 1))
    done
    summary+=("$(printf '%-9s %5ss  %12s execs  exit %3s  %s new regression input(s)' \
        "$t" "$took" "${execs:-?}" "$status" "$found")")
done

echo
echo "summary (seconds-per-target: $SECONDS_EACH)"
printf '%s\n' "${summary[@]}"
