#!/usr/bin/env bash
# Runs one coverage-guided fuzz target of fuzz/ with AFL++ (cargo-afl, stable toolchain) for a
# fixed time and prints its executions and crashes.
#
#   scripts/fuzz.sh TARGET SECONDS [OUT]      # targets: fuzz/src/bin/*.rs
#
# Needs `cargo install cargo-afl` and `cargo afl config --build` once (AFL++ is built from the
# crate's sources). Crashes land in OUT/default/crashes: commit each under fuzz/regressions/TARGET/
# (the crates' tests replay them).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target="$1"
secs="$2"
out="${3:-$(mktemp -d)/$target}"
mkdir -p "$(dirname "$out")"
cargo afl build --release --bin "$target" >/dev/null 2>&1
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_QUIET=1
# Targets that run the model or burn a template's whole fuel get more time before an input
# counts as a hang.
timeout=()
case "$target" in
  http | chat_template) timeout=(-t 5000) ;;
esac
cargo afl fuzz -i "seeds/$target" -o "$out" -V "$secs" "${timeout[@]}" -- "target/release/$target" >/dev/null 2>&1 || true
stats="$out/default/fuzzer_stats"
execs=$(awk -F' *: *' '$1 == "execs_done" {print $2}' "$stats")
crashes=$(awk -F' *: *' '$1 == "saved_crashes" || $1 == "unique_crashes" {print $2}' "$stats" | head -1)
hangs=$(awk -F' *: *' '$1 == "saved_hangs" || $1 == "unique_hangs" {print $2}' "$stats" | head -1)
paths=$(awk -F' *: *' '$1 == "corpus_count" || $1 == "paths_total" {print $2}' "$stats" | head -1)
echo "$target: ${secs} s, $execs executions, $paths corpus entries, $crashes crashes, $hangs hangs ($out)"
