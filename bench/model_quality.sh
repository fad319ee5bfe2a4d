#!/usr/bin/env bash
# Issue 17 item 4 in one command: the EIR-exact tutorial model against the global-stage model on
# two tasks (spam: Label; header-body: Match), 3 seeds each, at equal training FLOPs and at equal
# training time, best validation MCC and ROC-AUC single-crop and whole-file, mean and spread.
# Fetches and builds the data (scripts/fetch-spam-corpus.sh, scripts/make-header-body-task.sh) and
# eir-dist (BUILD, Release) when missing, then runs bench/model_quality.py, which writes the
# generated section of docs/model-quality.md and docs/bench/model_quality_<date>.csv (+ _validations.csv).
# Usage: bench/model_quality.sh [--quick] [--tasks spam,header-body] [--models eir,global]
#                               [--seeds 1,2,3] [--build DIR] [--work DIR] [--doc FILE] [--csv FILE]
#                               [--report-only --work DIR]
# Budgets and models are environment variables (MQ_TIME_S, MQ_FLOP_EIR_SAMPLES, MQ_GLOBAL_MAX_LENGTH,
# ...; the header of bench/model_quality.py lists them with their defaults). About 90 minutes on a
# 2-core machine with the defaults (12 runs of ~4 min training plus validation); --quick is a smoke
# test of the whole chain (tiny budgets, a 48-message validation set, results kept in the work
# folder, not in docs/). An interrupted run continues with the same --work.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
tasks=spam,header-body
report_only=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[$i]} in
    --build) BUILD=${args[$((i + 1))]} ;;
    --tasks) tasks=${args[$((i + 1))]} ;;
    --report-only) report_only=1 ;;
    -h|--help) exec /usr/bin/python3 bench/model_quality.py --help ;;
  esac
done
if [ $report_only = 0 ]; then
  bash scripts/fetch-spam-corpus.sh
  case ",$tasks," in *,header-body,*) bash scripts/make-header-body-task.sh ;; esac
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target eir-dist -j"$(nproc)" >/dev/null
fi
exec /usr/bin/python3 bench/model_quality.py "$@"
