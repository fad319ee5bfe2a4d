#!/usr/bin/env bash
# Rank-count invariance: with the same config and seed (mixing_alpha 0; dropout and stochastic
# depth on), 1, 2 and 4 ranks give the same parameters after 30 optimizer steps within 1e-5
# relative and the same validation metrics; validation by crops (evaluation_crops) gives the same
# bits for 1, 2 and 3 ranks; a 4-rank run interrupted at step 13 and resumed with 2 ranks ends
# where the straight runs end.
source "$(dirname "$0")/../cli_lib.sh"
D=$TMP/data; make_tiny_dataset "$D"
invariance_cfg "$D"; CFG=("${INV_CFG[@]}")  # cli_lib.sh: shared with tests/multinode/mpi_train.sh
run() {  # run NAME NP [extra args]
  local name=$1 np=$2; shift 2
  mkdir -p "$TMP/$name" && cd "$TMP/$name"
  timeout 120 mpirun -np "$np" "$BUILD/eir-dist" "${CFG[@]}" "$@" > log.txt 2>&1 || { cat log.txt; fail "$name ($np ranks)"; }
}
run r1 1
run r2 2
run r4 4 --g.basic_experiment.memory_dataset=False
# the communication thread's path: buckets of 16 KiB, several per step (CPU ranks default to one
# blocking all-reduce after backward)
EIR_DIST_BUCKET_MB=0.015625 run r2b 2
nb=$(sed -n 's/.*gradient all-reduce: .* in \([0-9]*\) bucket(s) per step.*/\1/p' "$TMP/r2b/log.txt" | head -1)
[ "${nb:-0}" -ge 2 ] || { grep 'gradient all-reduce' "$TMP/r2b/log.txt"; fail "r2b should reduce several buckets per step"; }
for r in r2 r4 r2b; do
  # parameters within INVARIANCE_RTOL, validation metrics to the printed precision of 4 decimals
  compare_runs "$TMP/r1/run" "$TMP/$r/run" "$r against 1 rank"
done
pass "1, 2 and 4 ranks agree"

# validation by crops (evaluation_crops): with lr 0 the parameters never move, so the crop
# metrics of 1, 2 and 3 ranks (each its own share of the 40 valid files, packed into its own
# passes), from memory or from disk, must be the same bits
for np in 1 2 3; do
  mem=True; [ "$np" = 2 ] && mem=False
  run c$np $np --g.optimization.lr=0.0 --g.basic_experiment.n_epochs=1 --g.basic_experiment.batch_size=12 \
    --g.evaluation_checkpoint.evaluation_crops=all \
    --g.basic_experiment.memory_dataset=$mem
done
for f in validation_average_history_crops.log results/out/Label/validation_Label_history_crops.log; do
  [ -s "$TMP/c1/run/$f" ] || fail "no $f"
  for np in 2 3; do cmp "$TMP/c1/run/$f" "$TMP/c$np/run/$f" || fail "$f: $np ranks differ from 1"; done
done
pass "validation by crops: the same metrics for 1, 2 and 3 ranks, memory and disk"

# 4 ranks interrupted at iteration 13, resumed with 2 ranks
mkdir -p "$TMP/rr" && cd "$TMP/rr"
rc=0; EIR_DIST_INTERRUPT_AT=13 timeout 120 mpirun -np 4 "$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || rc=$?
[ "$rc" = 75 ] || { cat log.txt; fail "interrupted 4-rank run should exit 75, got $rc"; }
timeout 120 mpirun -np 2 "$BUILD/eir-dist" --resume run >> log.txt 2>&1 || { cat log.txt; fail "resume with 2 ranks"; }
"$BUILD/st_compare" "$TMP/r1/run/training_state.safetensors" run/training_state.safetensors params "$INVARIANCE_RTOL" \
  || fail "resumed-with-other-rank-count parameters differ"
pass "resume with a different number of ranks"

# only rank 0 writes: every rank runs in its own folder, the run folder is relative
mkdir -p "$TMP/w"
cat > "$TMP/w/rank.sh" <<EOT
#!/usr/bin/env bash
mkdir -p "$TMP/w/rank\$OMPI_COMM_WORLD_RANK" && cd "$TMP/w/rank\$OMPI_COMM_WORLD_RANK" && exec "$BUILD/eir-dist" "\$@"
EOT
chmod +x "$TMP/w/rank.sh"
cd "$TMP/w"
timeout 120 mpirun -np 4 "$TMP/w/rank.sh" "${CFG[@]}" > log.txt 2>&1 || { cat log.txt; fail "4-rank run"; }
[ -s rank0/run/training_state.safetensors ] || fail "rank 0 wrote no training state"
ls rank0/run/saved_models/*.safetensors > /dev/null || fail "rank 0 wrote no model"
for r in 1 2 3; do
  [ -z "$(ls -A rank$r)" ] || { ls -R rank$r; fail "rank $r wrote files"; }
done
[ "$(grep -c 'Starting training' log.txt)" = 1 ] || fail "more than one rank printed"
pass "only rank 0 writes and prints"
