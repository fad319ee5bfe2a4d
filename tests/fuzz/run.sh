#!/usr/bin/env bash
# Runs the libFuzzer drivers of tests/fuzz (ASan + UBSan) over their committed corpora.
#
#   tests/fuzz/run.sh [--seconds S | --minutes N] [--build DIR] [DRIVER...]
#
# Each driver runs for S seconds (default 20: what .ci/run does) or N minutes (a longer hunt:
# `tests/fuzz/run.sh --minutes 30`). New interesting inputs go to DIR/fuzz-work/<driver>/ (not
# into the repository); a crash, hang (> 20 s), leak or memory blow-up (> 2.5 GB) stops that
# driver, leaves the input in DIR/fuzz-artifacts/ and makes the script exit 1. To keep a finding
# as a regression case once fixed: cp the artifact to tests/fuzz/corpus/<driver>/regress-<what>.
# Builds DIR (default build-fuzz: CC=clang, -DEIR_FUZZ=ON, no MPI, no CUDA) when needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
secs=20
build=build-fuzz
drivers=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) secs=$2; shift 2 ;;
    --minutes) secs=$(( $2 * 60 )); shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) drivers+=("$1"); shift ;;
  esac
done
command -v clang >/dev/null || { echo "run.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEIR_FUZZ=ON -DEIR_CUDA=OFF -DEIR_MPI=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz-drivers >/dev/null
if [ ${#drivers[@]} = 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    d=$(basename "$f" .c)
    [ -x "$build/$d" ] && drivers+=("$d")
  done
fi
mkdir -p "$build/fuzz-artifacts"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
failed=()
for d in "${drivers[@]}"; do
  work="$build/fuzz-work/$d"
  mkdir -p "$work"
  opts=(-max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1
        -artifact_prefix="$build/fuzz-artifacts/$d-")
  case $d in
    # the node keeps per-connection pools until h2o frees them on its own schedule: its leaks are
    # checked by the LeakSanitizer stage of the CLI tests, not per input here
    fuzz_serve) opts+=(-max_len=8192 -detect_leaks=0) ;;
    fuzz_model_file|fuzz_config) opts+=(-max_len=16384) ;;
    *) opts+=(-max_len=65536) ;;
  esac
  echo "== $d: ${secs} s"
  if "$build/$d" "${opts[@]}" "$work" "tests/fuzz/corpus/$d" > "$build/fuzz-$d.log" 2>&1; then
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)" "$build/fuzz-$d.log" | tr '\n' ' '; echo
  else
    tail -40 "$build/fuzz-$d.log"
    echo "FAIL: $d (log $build/fuzz-$d.log; input in $build/fuzz-artifacts/)"
    failed+=("$d")
  fi
done
[ ${#failed[@]} = 0 ] || { echo "fuzzing found problems in: ${failed[*]}"; exit 1; }
echo "== fuzzing: no findings in ${#drivers[@]} drivers x ${secs} s"
