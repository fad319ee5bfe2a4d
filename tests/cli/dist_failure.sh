#!/usr/bin/env bash
# A rank that hits an error (an input file of its shard vanishes mid-run, disk mode) ends the whole
# job within seconds: non-zero exit, a message naming the rank and the file, no half-written files.
source "$(dirname "$0")/../cli_lib.sh"
D=$TMP/data; make_tiny_dataset "$D"
cd "$TMP"
timeout 120 mpirun -np 4 "$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" \
  --output_configs "$D/o.yaml" --g.basic_experiment.memory_dataset=False --g.basic_experiment.n_epochs=100000 --g.training_control.early_stopping_patience=0 \
  > log.txt 2>&1 & pid=$!
for _ in $(seq 1 300); do grep -q "Starting training" log.txt 2>/dev/null && break; sleep 0.1; done
grep -q "Starting training" log.txt || { cat log.txt; fail "training did not start"; }
rm "$D/files/s77.txt"
t0=$(date +%s); rc=0; wait $pid || rc=$?; t1=$(date +%s)
[ "$rc" != 0 ] || fail "the job should fail"
[ "$rc" != 124 ] || fail "the job hung until the timeout"
grep -Eq "rank [0-3]: .*s77.txt" log.txt || { cat log.txt; fail "no message naming the rank and the file"; }
ls run/*.tmp.* run/saved_models/*.tmp.* 2>/dev/null && fail "half-written files left behind"
for f in run/saved_models/*.safetensors run/training_state.safetensors; do
  [ -e "$f" ] || continue
  "$BUILD/st_compare" "$f" "$f" "$( [ "$f" = run/training_state.safetensors ] && echo params || echo input_modules.txt.embedding.weight)" 0 > /dev/null \
    || fail "$f is not a valid checkpoint"
done
pass "a failing rank ends the job in $((t1 - t0)) s with exit $rc"
