#!/usr/bin/env bash
# The global stage over windows (beyond EIR, issue 17): a tiny model with two global layers over
# 4 windows trains end to end; 1 and 2 ranks agree (rank-count invariance); an interrupted run
# resumes bit for bit; its keys are in the defaulted config and the model file, so eir-predict and
# eir-serve load it with no flag (and answer alike); the same config without the keys is EIR's
# model (no global_* anywhere in its run folder).
source "$(dirname "$0")/../cli_lib.sh"
D=$TMP/data; make_tiny_dataset "$D"
GKEYS=(--i.model_config.model_init_config.global_layers=2 --i.model_config.model_init_config.global_heads=2
       --i.model_config.model_init_config.global_embedding_dim=8)
invariance_cfg "$D"; CFG=("${INV_CFG[@]}" "${GKEYS[@]}")
run() {  # run NAME NP [extra args]
  local name=$1 np=$2; shift 2
  mkdir -p "$TMP/$name" && cd "$TMP/$name"
  timeout 120 mpirun -np "$np" "$BUILD/eir-dist" "${CFG[@]}" "$@" > log.txt 2>&1 || { cat log.txt; fail "$name ($np ranks)"; }
}
run r1 1
grep -q "^ *global_layers: 2$" "$TMP/r1/run/configs/input_configs.yaml" || { cat "$TMP/r1/run/configs/input_configs.yaml"; fail "defaulted config lacks global_layers"; }
grep -q "^ *global_embedding_dim: 8$" "$TMP/r1/run/configs/input_configs.yaml" || fail "defaulted config lacks global_embedding_dim"
run r2 2
compare_runs "$TMP/r1/run" "$TMP/r2/run" "global stage: 2 ranks against 1"
pass "global stage: 1 and 2 ranks agree"

# interrupted at iteration 13 and resumed from the run folder alone: identical state
mkdir -p "$TMP/rr" && cd "$TMP/rr"
rc=0; EIR_DIST_INTERRUPT_AT=13 timeout 120 mpirun -np 1 "$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || rc=$?
[ "$rc" = 75 ] || { cat log.txt; fail "interrupted run should exit 75, got $rc"; }
timeout 120 "$BUILD/eir-dist" --resume run >> log.txt 2>&1 || { cat log.txt; fail "resume"; }
cmp "$TMP/r1/run/training_state.safetensors" run/training_state.safetensors || fail "resumed state differs"
pass "global stage: bit-exact resume"

# eir-predict loads it with no flag; the model file says what it is
cd "$TMP"
M=$(ls "$TMP"/r1/run/saved_models/*.safetensors | tail -1)
grep -aq 'global_layers.\{1,4\}2,' "$M" || fail "model file metadata lacks global_layers"
grep -aq 'global_stage.layers.1.ffn.w3.weight' "$M" || fail "model file lacks the global layers' tensors"
"$BUILD/eir-predict" --model-path "$M" --input-folder "$D/files" --output-folder "$TMP/pred" \
  --labels "$D/labels.csv" --evaluate > pred.txt || fail "eir-predict"
[ "$(wc -l < pred/predictions.csv)" = 201 ] || fail "predictions rows"
pass "global stage: eir-predict"

# eir-serve answers one request with eir-predict's probabilities
if [ -x "$BUILD/eir-serve" ] && command -v curl >/dev/null; then
  "$BUILD/eir-serve" --model-path "$M" --host 127.0.0.1 --port 0 --threads 1 > serve.log 2>&1 & SPID=$!
  trap 'kill -KILL $SPID 2>/dev/null || true; rm -rf "$TMP"' EXIT
  for _ in $(seq 1 300); do grep -qs 'eir-serve: ready' serve.log && break; kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  grep -q 'eir-serve: ready' serve.log || { cat serve.log; fail "eir-serve not ready"; }
  PORT=$(grep -o 'listening on https\?://127.0.0.1:[0-9]*' serve.log | sed 's/.*://')
  printf '[{"txt":"%s"}]' "$(base64 -w0 "$D/files/s17.txt")" > req.json
  code=$(curl -s -o body.json -w '%{http_code}' --max-time 30 --http2-prior-knowledge -H 'content-type: application/json' \
    --data-binary @req.json "http://127.0.0.1:$PORT/predict" || true)
  [ "$code" = 200 ] || { cat body.json; fail "eir-serve answered $code"; }
  want=$(awk -F, '$1 == "s17" { printf "{\"result\":[{\"out\":{\"Label\":{\"ham\":%s,\"spam\":%s}}}]}", $2, $3 }' pred/predictions.csv)
  [ "$(cat body.json)" = "$want" ] || { echo "got:  $(cat body.json)"; echo "want: $want"; fail "eir-serve differs from eir-predict"; }
  kill -TERM $SPID; wait $SPID || fail "eir-serve exit code"
  pass "global stage: eir-serve"
fi

# EIR's model: none of it
mkdir -p "$TMP/eir" && cd "$TMP/eir"
timeout 120 "$BUILD/eir-dist" "${INV_CFG[@]}" --g.basic_experiment.n_epochs=1 > log.txt 2>&1 || { cat log.txt; fail "EIR run"; }
! grep -rq "global_" run/configs run/serializations || fail "an EIR config's run folder mentions global_*"
! grep -aq "global_stage\|global_layers" run/saved_models/*.safetensors || fail "an EIR model file mentions the global stage"
pass "EIR's model untouched"

expect_fail 2 "needs model_config.window_size > 0" "$BUILD/eir-dist" "${INV_CFG[@]}" "${GKEYS[@]}" \
  --i.model_config.window_size=0
pass "global stage: config errors"
