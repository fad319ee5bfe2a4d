#!/usr/bin/env bash
# Kill-and-resume soak (issue 16): what survives what no signal handler sees (SIGKILL, the OOM
# killer, a lost node).
#   tests/soak/kill_resume.sh BUILD SRC [--kills N] [--ranks-kill]
# 1. A training run (the tiny data set, validation, model files and the training state every
#    2 iterations) is SIGKILLed at N random moments, many of them inside checkpoint
#    and model-file writes, and resumed after each (started afresh when it died before its first
#    state); it must end with a training state, model files and histories bit-identical to the
#    uninterrupted run, and no torn or unverifiable file may ever be loaded (a resume that refuses
#    a file fails the soak).
# 2. With --ranks-kill: one rank of `mpirun -np 4` is SIGKILLed mid-run; the job must end within
#    10 s with a non-zero status, and resume with 2 ranks to the 1-rank parameters (1e-5, as the
#    invariance test).
# CI runs a short version (ctest: soak_kill_resume, 6 kills + the rank kill); the long one is
#   bash tests/soak/kill_resume.sh build . --kills 20 --ranks-kill
set -euo pipefail
BUILD_ARG=$1 SRC_ARG=$2; shift 2
KILLS=6 RANKS_KILL=false
while [ $# -gt 0 ]; do
  case $1 in
    --kills) KILLS=$2; shift 2 ;;
    --ranks-kill) RANKS_KILL=true; shift ;;
    *) echo "kill_resume.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
set -- "$BUILD_ARG" "$SRC_ARG"
source "$(dirname "$0")/../cli_lib.sh"
D=$TMP/data; make_tiny_dataset "$D"
CFG=(--global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml"
     --g.basic_experiment.n_epochs=$(( KILLS / 2 > 6 ? KILLS / 2 + 2 : 6 )) --g.evaluation_checkpoint.checkpoint_interval=2
     --g.evaluation_checkpoint.sample_interval=2 --g.training_control.early_stopping_patience=0)

# the uninterrupted run, timed
mkdir -p "$TMP/ref" && cd "$TMP/ref"
t0=$(date +%s%N)
"$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || { cat log.txt; fail "uninterrupted run"; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
iters=$(grep -c . run/train_average_history.log); iters=$((iters - 1))
echo "uninterrupted: $iters iterations in $ms ms"

mkdir -p "$TMP/soak" && cd "$TMP/soak"
rows() { if [ -f run/train_average_history.log ]; then wc -l < run/train_average_history.log; else echo 0; fi; }
kills=0 fresh=0 resumes=0 attempts=0
while :; do
  attempts=$((attempts + 1))
  [ $attempts -le $((KILLS * 4 + 20)) ] || fail "no end after $attempts starts"
  if [ -s run/training_state.safetensors ]; then
    args=(--resume run); resumes=$((resumes + 1))
  else
    rm -rf run; args=("${CFG[@]}"); fresh=$((fresh + 1))
  fi
  "$BUILD/eir-dist" "${args[@]}" > "log$attempts.txt" 2>&1 & pid=$!
  if [ $kills -lt "$KILLS" ]; then
    # let the run get 1 .. (half its share of the kills left) iterations further, then 0-80 ms
    # more, so the kill lands anywhere: in a step, a validation, a model-file or state write
    share=$(( (iters - $(rows)) / (KILLS - kills + 1) / 2 )); [ $share -ge 1 ] || share=1
    want=$(( 1 + RANDOM % share ))
    for _ in $(seq 1 500); do  # started (a resume has rewritten the histories to its checkpoint)
      grep -qs 'Starting Training' "log$attempts.txt" && break
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.01
    done
    n0=$(rows)
    for _ in $(seq 1 600); do
      kill -0 "$pid" 2> /dev/null || break
      [ $(( $(rows) - n0 )) -ge $want ] && break
      sleep 0.003
    done
    sleep "$(awk -v s="$RANDOM" 'BEGIN{srand(s); printf "%.3f", 0.08 * rand()}')"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  fi
  rc=0; wait "$pid" 2> /dev/null || rc=$?
  if [ "$rc" = 0 ]; then break; fi
  [ "$rc" = 137 ] || { tail -20 "log$attempts.txt"; fail "a start after a kill failed with status $rc (a torn or unverifiable file?)"; }
done
cmp "$TMP/ref/run/training_state.safetensors" run/training_state.safetensors || fail "training state differs from the uninterrupted run"
for f in "$TMP"/ref/run/saved_models/*; do cmp "$f" "run/saved_models/$(basename "$f")" || fail "model $(basename "$f") differs"; done
[ "$(ls run/saved_models)" = "$(ls "$TMP/ref/run/saved_models")" ] || { ls run/saved_models; fail "other model files than the uninterrupted run's"; }
for f in train_average_history.log validation_average_history.log; do cmp "$TMP/ref/run/$f" "run/$f" || fail "$f differs"; done
[ "$kills" = "$KILLS" ] || fail "only $kills of $KILLS kills landed before the run ended"
left=$(find run -name '*.tmp.*' | wc -l)
[ "$left" = 0 ] || { find run -name '*.tmp.*'; fail "temporary files of killed writes left after the last resume"; }
cleaned=$(cat log*.txt | grep -c 'Removed [0-9]* temporary file' || true)
pass "$kills SIGKILLs ($fresh fresh starts, $resumes resumes; $cleaned resumes removed temporaries of killed writes): state, model files and histories bit-identical"

if $RANKS_KILL; then
  command -v mpirun > /dev/null || { echo "SKIP: no mpirun"; exit 0; }
  R1=(--g.training_control.mixing_alpha=0.0)  # mixup pairs rows within a rank: compare without it
  mkdir -p "$TMP/r1" && cd "$TMP/r1"
  "$BUILD/eir-dist" "${CFG[@]}" "${R1[@]}" > log.txt 2>&1 || { cat log.txt; fail "1-rank run"; }
  mkdir -p "$TMP/rk" && cd "$TMP/rk"
  mpirun -np 4 "$BUILD/eir-dist" "${CFG[@]}" "${R1[@]}" > log.txt 2>&1 & mp=$!
  for _ in $(seq 1 200); do [ -s run/training_state.safetensors ] && break; sleep 0.05; done
  victim=$(pgrep -P "$mp" eir-dist | sed -n 3p)
  [ -n "$victim" ] || fail "no rank to kill"
  t0=$(date +%s%N); kill -9 "$victim"
  rc=0; timeout 60 tail --pid="$mp" -f /dev/null || true; wait "$mp" || rc=$?
  secs=$(( ($(date +%s%N) - t0) / 1000000000 ))
  [ "$rc" != 0 ] || fail "the job survived a killed rank"
  [ "$secs" -le 10 ] || fail "the job took $secs s to end after a rank was killed"
  timeout 300 mpirun -np 2 "$BUILD/eir-dist" --resume run >> log.txt 2>&1 || { tail -20 log.txt; fail "resume with 2 ranks"; }
  "$BUILD/st_compare" "$TMP/r1/run/training_state.safetensors" run/training_state.safetensors params 1e-5 ||
    fail "resumed parameters differ from 1 rank's"
  pass "one rank of 4 SIGKILLed: the job ended in $secs s (status $rc); resumed with 2 ranks to the 1-rank parameters"
fi
