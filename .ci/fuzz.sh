#!/usr/bin/env bash
# Fuzzing: builds every cargo-fuzz target in fuzz/ and runs each for a
# bounded time, starting from the checked-in corpus (fuzz/corpus/<target>).
# Fails on the first crash, panic, timeout or out-of-memory, printing the
# reproducer. See FUZZING.md.
#
#   FUZZ_SECONDS     seconds per target (default 30); e.g. 3600 for a long run
#   FUZZ_TARGETS     space-separated targets (default: all of `cargo fuzz list`)
#   FUZZ_SANITIZER   none (default) or address; see FUZZING.md for why none
#   FUZZ_TARGET_DIR  build directory (default: $CARGO_TARGET_DIR/fuzz or target/fuzz)
#   FUZZ_JOBS        libFuzzer processes per target (default 1)
#   FUZZ_SEED        libFuzzer's -seed (default 1, so CI's gate replays the
#                    same inputs run to run; 0 for a random seed, as long
#                    exploratory runs should use)
#
# cargo-fuzz needs nightly compiler flags; on a stable toolchain
# RUSTC_BOOTSTRAP=1 enables them (set here, for the fuzz build only).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-none}"
target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/fuzz}"
jobs="${FUZZ_JOBS:-1}"
seed="${FUZZ_SEED:-1}"
export RUSTC_BOOTSTRAP=1
export CARGO_INCREMENTAL=0

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo install cargo-fuzz --locked"
    cargo install cargo-fuzz --locked
fi

fuzz=(cargo fuzz)
flags=(--sanitizer "$sanitizer" --target-dir "$target_dir")

echo "== cargo fuzz build (sanitizer: $sanitizer)"
"${fuzz[@]}" build "${flags[@]}"

targets="${FUZZ_TARGETS:-$("${fuzz[@]}" list)}"
# New inputs go to a scratch corpus; the checked-in one is only read.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in $targets; do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "$scratch/$target" "fuzz/corpus/$target" "fuzz/artifacts/$target"
    options=(
        "-max_total_time=$seconds"
        "-seed=$seed"
        # One input must not take more than 10 s, nor 2 GB.
        -timeout=10
        -rss_limit_mb=2048
        -print_final_stats=1
        "-artifact_prefix=fuzz/artifacts/$target/"
    )
    if [ -f "fuzz/dicts/$target.dict" ]; then
        options+=("-dict=fuzz/dicts/$target.dict")
    fi
    if [ "$jobs" -gt 1 ]; then
        options+=("-fork=$jobs")
    fi
    log="$scratch/$target.log"
    if "${fuzz[@]}" run "${flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" \
        -- "${options[@]}" >"$log" 2>&1; then
        # The last status line and the final stats: the run's figures.
        grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 || true
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    else
        failed=1
        echo "!! $target failed:"
        # The panic (or libFuzzer's error) and the input, then the end.
        grep -E -A 12 "panicked at|ERROR: libFuzzer" "$log" | head -n 40 || true
        echo "!! the end of its output:"
        tail -n 40 "$log"
        for artifact in "fuzz/artifacts/$target"/*; do
            [ -e "$artifact" ] || continue
            echo "!! reproducer: $artifact"
            echo "!!   reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${flags[*]} $target $artifact"
        done
    fi
done
exit "$failed"
