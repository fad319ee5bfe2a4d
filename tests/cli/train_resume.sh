#!/usr/bin/env bash
# Trains a tiny model end to end: the run folder's files, bit-exact resume after an interruption,
# refusal to reuse a finished run folder, eir-predict on the result, corrupted files refused.
source "$(dirname "$0")/../cli_lib.sh"
D=$TMP/data; make_tiny_dataset "$D"
CFG=(--global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml")

# straight run
mkdir -p "$TMP/a" && cd "$TMP/a"
"$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || { cat log.txt; fail "straight run"; }
for f in logging_history.log meta/eir_version.txt model_architecture/model_info.txt configs/global_config.yaml \
         configs/input_configs.yaml configs/output_configs.yaml configs/fusion_config.yaml \
         serializations/bytes_input_serializations/txt/vocab.json serializations/transformers/out/Label.json \
         train_average_history.log validation_average_history.log training_curve_LOSS-AVERAGE.svg \
         training_curve_PERF-AVERAGE.svg results/out/Label/validation_Label_history.log \
         results/out/Label/train_Label_history.log results/out/Label/training_curve_MCC.svg \
         results/out/Label/samples/30/predictions.csv training_state.safetensors; do
  [ -s "run/$f" ] || fail "run folder lacks $f"
done
[ "$(wc -l < run/train_average_history.log)" = 31 ] || fail "train history should have 30 rows"
[ "$(wc -l < run/validation_average_history.log)" = 4 ] || fail "validation history should have 3 rows"
head -1 run/results/out/Label/validation_Label_history.log | grep -q '^iteration,out_Label_acc,out_Label_ap-macro,out_Label_loss,out_Label_mcc,out_Label_roc-auc-macro$' || fail "validation history header"
ls run/saved_models/run_checkpoint_*_perf-average=*.safetensors >/dev/null || fail "no model file"
[ "$(ls run/saved_models | wc -l)" -le 2 ] || fail "more than n_saved_models files kept"
grep -q "Total parameters" run/logging_history.log || fail "log lacks the parameter count"
pass "straight run and run folder"

# refuses to train into a finished run folder
expect_fail 2 "already holds a run" "$BUILD/eir-dist" "${CFG[@]}"
pass "finished run folder refused"

# interrupted at iteration 13, then resumed with the run's own configs: identical files
mkdir -p "$TMP/b" && cd "$TMP/b"
rc=0; EIR_DIST_INTERRUPT_AT=13 "$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || rc=$?
[ "$rc" = 75 ] || { cat log.txt; fail "interrupted run should exit 75, got $rc"; }
[ -s run/training_state.safetensors ] || fail "no training state after the interruption"
ls run/*.tmp.* 2>/dev/null && fail "temporary files left behind"
"$BUILD/eir-dist" --resume run >> log.txt 2>&1 || { cat log.txt; fail "resume"; }
cmp "$TMP/a/run/training_state.safetensors" run/training_state.safetensors || fail "resumed state differs from the straight run"
for f in "$TMP"/a/run/saved_models/*; do cmp "$f" "run/saved_models/$(basename "$f")" || fail "model $f differs"; done
cmp "$TMP/a/run/train_average_history.log" run/train_average_history.log || fail "train history differs"
cmp "$TMP/a/run/validation_average_history.log" run/validation_average_history.log || fail "validation history differs"
pass "bit-exact resume"

# a real SIGTERM mid-run saves the state and exits 75
mkdir -p "$TMP/c" && cd "$TMP/c"
"$BUILD/eir-dist" "${CFG[@]}" --g.basic_experiment.n_epochs=100000 --g.training_control.early_stopping_patience=0 > log.txt 2>&1 & pid=$!
for _ in $(seq 1 100); do grep -q "step 1[0-9]" log.txt 2>/dev/null && break; sleep 0.1; done
# a second process on the same run folder is refused while the first runs
expect_fail 2 "in use by another eir-dist process" "$BUILD/eir-dist" --resume run
sleep 0.5; kill -TERM $pid; rc=0; wait $pid || rc=$?
[ "$rc" = 75 ] || { cat log.txt; fail "SIGTERM should exit 75, got $rc"; }
grep -q "Training state saved" log.txt || fail "no state-saved message"
pass "SIGTERM saves the state"

# eir-predict on the best model
cd "$TMP"
M=$(ls "$TMP"/a/run/saved_models/*.safetensors | tail -1)
"$BUILD/eir-predict" --model-path "$M" --input-folder "$D/files" --output-folder "$TMP/pred" \
  --labels "$D/labels.csv" --evaluate > pred.txt || fail "eir-predict"
head -1 pred/predictions.csv | grep -q '^ID,ham,spam,predicted,true_label$' || fail "predictions header"
[ "$(wc -l < pred/predictions.csv)" = 201 ] || fail "predictions rows"
grep -q '"mcc"' pred/calculated_metrics.json || fail "metrics json"
pass "eir-predict"

# up-front memory limits (issue 16): refused before allocating, exit 2, naming the keys and the estimate
mkdir -p "$TMP/mem" && cd "$TMP/mem"
expect_fail 2 "does not fit in memory.*input_type_info.max_length=100000000" \
  "$BUILD/eir-dist" "${CFG[@]}" --i.input_type_info.max_length=100000000
expect_fail 2 "estimated .* against 1.0 MiB (--max-memory" "$BUILD/eir-dist" "${CFG[@]}" --max-memory 1M
expect_fail 2 "max-memory: expected a positive size" "$BUILD/eir-dist" "${CFG[@]}" --max-memory 5x
[ ! -e run/training_state.safetensors ] || fail "a refused run wrote a training state"
expect_fail 2 "prediction does not fit in memory.*--max-memory" "$BUILD/eir-predict" --model-path "$M" \
  --input-folder "$D/files" --output-folder "$TMP/mem/p" --batch-size 4096 --max-memory 2M
if [ -x "$BUILD/eir-serve" ]; then
  expect_fail 2 "eir-serve does not fit in memory.*x 2 model copies" "$BUILD/eir-serve" --model-path "$M" \
    --host 127.0.0.1 --port 0 --threads 2 --workers 2 --max-batch 4096 --max-memory 2M
fi
cd "$TMP"
pass "memory limits up front"

# corrupted and truncated files are refused with a clear message
cp "$M" bad.safetensors
printf 'X' | dd of=bad.safetensors bs=1 seek=$(( $(stat -c %s bad.safetensors) - 10 )) conv=notrunc 2>/dev/null
expect_fail 2 "checksum" "$BUILD/eir-predict" --model-path bad.safetensors --input-folder "$D/files" --output-folder "$TMP/p2"
head -c 1000 "$M" > trunc.safetensors
expect_fail 2 "trunc.safetensors" "$BUILD/eir-predict" --model-path trunc.safetensors --input-folder "$D/files" --output-folder "$TMP/p2"
cp -r "$TMP/b/run" "$TMP/d"; cd "$TMP"
head -c 5000 "$TMP/a/run/training_state.safetensors" > d/training_state.safetensors
sed -i "s#output_folder: run#output_folder: $TMP/d#" d/configs/global_config.yaml
expect_fail 2 "cannot resume" "$BUILD/eir-dist" --resume "$TMP/d"
pass "corrupted checkpoints refused"
