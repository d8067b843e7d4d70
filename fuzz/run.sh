#!/usr/bin/env bash
# Fuzz the protocol decoder and the matchmaking core with libFuzzer on the stable toolchain
# (what `cargo fuzz` does, without needing nightly: coverage instrumentation only, no ASan,
# which safe Rust does not need to find panics).
#
#   fuzz/run.sh decode 300     # target, seconds (default: both targets, 60 s each)
set -euo pipefail
cd "$(dirname "$0")"
TARGETS=${1:-decode core}
SECS=${2:-60}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}
# As cargo-fuzz sets them; with --target they reach only the fuzzed code, not build scripts.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --release --bins --target "$TRIPLE"
for t in $TARGETS; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "fuzz: $t for ${SECS}s" >&2
  "$CARGO_TARGET_DIR/$TRIPLE/release/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$SECS" -max_len=4096 -print_final_stats=1
done
