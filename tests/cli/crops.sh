#!/usr/bin/env bash
# Whole-file prediction by averaging over crops (infer/crops.h): eir-predict --crops 1 is the
# default byte for byte; --crops all / N equal the mean of the per-crop probabilities that
# eir-predict gives for each crop written out as its own file (crops cut here, independently);
# --evaluate --crops all prints metrics and the crop count; eir-serve --crops all answers with
# eir-predict's digits (crops of one item spread over several passes, items pooled); training
# with evaluation_crops: all writes the crops histories beside a single-crop history identical to
# a run without it, and resumes them; bad values are refused with the key or flag named.
source "$(dirname "$0")/../cli_lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
D=$TMP/data; make_tiny_dataset "$D"  # max_length 64; files of 38-620 bytes
CFG=(--global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" --g.basic_experiment.n_epochs=2)

# ---- training: evaluation_crops all beside EIR's single-crop validation ------------------------
mkdir -p "$TMP/p" "$TMP/c" && cd "$TMP/p"
"$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || { cat log.txt; fail "plain run"; }
cd "$TMP/c"
"$BUILD/eir-dist" "${CFG[@]}" --g.evaluation_checkpoint.evaluation_crops=all > log.txt 2>&1 || { cat log.txt; fail "run with evaluation_crops"; }
for f in validation_average_history.log results/out/Label/validation_Label_history.log train_average_history.log; do
  cmp "$TMP/p/run/$f" "run/$f" || fail "$f differs from the run without evaluation_crops"
done
[ ! -e "$TMP/p/run/validation_average_history_crops.log" ] || fail "a run without evaluation_crops wrote crops files"
grep -q evaluation_crops "$TMP/p/run/configs/global_config.yaml" && fail "evaluation_crops written when not set"
grep -q '^  evaluation_crops: all$' run/configs/global_config.yaml || fail "evaluation_crops not in the run's config"
head -1 run/validation_average_history_crops.log | grep -q '^iteration,loss-average,perf-average$' || fail "crops history header"
cmp <(head -1 run/results/out/Label/validation_Label_history.log) <(head -1 run/results/out/Label/validation_Label_history_crops.log) ||
  fail "per-target crops history header differs from the single-crop one"
[ "$(cut -d, -f1 run/validation_average_history_crops.log)" = "$(cut -d, -f1 run/validation_average_history.log)" ] ||
  fail "crops history rows at other iterations"
[ "$(wc -l < run/validation_average_history_crops.log)" = 3 ] || fail "crops history should have 2 rows"
# the crops lines come right after each validation's eir.validation lines
awk '/ eir.validation - iteration [0-9]+: perf-average/ { v = NR } / eir.validation.crops - iteration [0-9]+ \(crops all, [0-9.]+ per file\): perf-average/ {
       if (NR != v + 2) bad = 1; n++ } END { exit !(n == 2 && !bad) }' run/logging_history.log ||
  { grep validation run/logging_history.log; fail "crops log lines"; }
# (the "validation took X s" lines hold wall times, which differ from run to run)
cmp <(grep -v 'eir.validation.crops\|validation took' run/logging_history.log | cut -c20-) \
    <(grep -v 'validation took' "$TMP/p/run/logging_history.log" | cut -c20-) ||
  fail "the log differs from the run without evaluation_crops in more than the crops lines"
pass "evaluation_crops: all: crops histories beside an unchanged single-crop history"

# interrupted and resumed: the crops history survives in the training state
mkdir -p "$TMP/cr" && cd "$TMP/cr"
rc=0; EIR_DIST_INTERRUPT_AT=15 "$BUILD/eir-dist" "${CFG[@]}" --g.evaluation_checkpoint.evaluation_crops=all > log.txt 2>&1 || rc=$?
[ "$rc" = 75 ] || { cat log.txt; fail "interrupted run should exit 75, got $rc"; }
"$BUILD/eir-dist" --resume run >> log.txt 2>&1 || { cat log.txt; fail "resume"; }
for f in validation_average_history_crops.log results/out/Label/validation_Label_history_crops.log; do
  cmp "$TMP/c/run/$f" "run/$f" || fail "resumed $f differs from the straight run"
done
pass "crops history resumed"

# bad values of the key
cd "$TMP"
expect_fail 2 'evaluation_checkpoint.evaluation_crops: expected an integer >= 1 or "all", got 0' \
  "$BUILD/eir-dist" "${CFG[@]}" --g.evaluation_checkpoint.evaluation_crops=0
expect_fail 2 'evaluation_checkpoint.evaluation_crops: expected an integer >= 1 or "all", got .some' \
  "$BUILD/eir-dist" "${CFG[@]}" --g.evaluation_checkpoint.evaluation_crops=some
pass "bad evaluation_crops refused"

# ---- eir-predict -----------------------------------------------------------------------------
M=$(ls "$TMP"/c/run/saved_models/*.safetensors | tail -1)
P=("$BUILD/eir-predict" --model-path "$M")
"${P[@]}" --input-folder "$D/files" --output-folder def > def.txt || fail "eir-predict"
"${P[@]}" --input-folder "$D/files" --output-folder one --crops 1 > one.txt || fail "eir-predict --crops 1"
cmp def/predictions.csv one/predictions.csv || fail "--crops 1 differs from the default"
"${P[@]}" --input-folder "$D/files" --output-folder all --crops all > all.txt || fail "eir-predict --crops all"
grep -q '^eir-predict: crops: all (mean [0-9.]* per file: [0-9]* crops for 200 files)$' all.txt || { cat all.txt; fail "crops line"; }
pass "--crops 1 is the default, byte for byte"

# Files of varied bytes (any shift of a crop changes its tokens), of lengths where the rounding
# of the starts matters (151: start 43.5 -> 44; 301: 59.25, 118.5, 177.75), L + 1, exact
# multiples of L and one of 16 crops. Each crop of each file is written out as its own file (cut
# here from the rule in crops.h: n = ceil(len / L) or at most N, start_k = round(k (len - L) /
# (n - 1)), halves up) and predicted alone; the mean of their probabilities in double, rounded to
# float32, must be the multi-crop answer to the digit.
python3 - long <<'PY' || fail "making the long files"
import os, sys
os.makedirs(sys.argv[1])
x = 12345
for n in (40, 65, 128, 151, 171, 192, 301, 1000):
    out = bytearray()
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**31
        out.append(32 + (x >> 16) % 95)
    open(f"{sys.argv[1]}/f{n}.txt", "wb").write(bytes(out))
PY
IDS="f40 f65 f128 f151 f171 f192 f301 f1000"
"${P[@]}" --input-folder long --output-folder ldef > /dev/null || fail "eir-predict on the long files"
"${P[@]}" --input-folder long --output-folder lall --crops all --batch-size 5 > /dev/null || fail "eir-predict --crops all"
"${P[@]}" --input-folder long --output-folder ltwo --crops 2 > /dev/null || fail "eir-predict --crops 2"
python3 - long crops_all crops_two $IDS <<'PY' || fail "cutting crops"
import math, os, sys
from fractions import Fraction
src, out_all, out_two, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
L = 64
for out, cap in ((out_all, None), (out_two, 2)):
    os.makedirs(out)
    for i in ids:
        data = open(f"{src}/{i}.txt", "rb").read()
        n = 1 if len(data) <= L else math.ceil(len(data) / L)
        if cap: n = min(n, cap)
        for k in range(n):
            start = 0 if n == 1 else math.floor(Fraction(k * (len(data) - L), n - 1) + Fraction(1, 2))
            open(f"{out}/{i}_c{k}.txt", "wb").write(data[start:start + L])
PY
"${P[@]}" --input-folder crops_all --output-folder pc_all > /dev/null || fail "eir-predict on the crops"
"${P[@]}" --input-folder crops_two --output-folder pc_two > /dev/null || fail "eir-predict on the crops"
python3 - <<'PY' || fail "--crops all / 2 are not the mean over the crops"
import csv, struct
def rows(p): return {r["ID"]: r for r in csv.DictReader(open(p))}
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
single = rows("ldef/predictions.csv")
for crops, multi, most in (("pc_all", "lall", 16), ("pc_two", "ltwo", 2)):
    c, m = rows(crops + "/predictions.csv"), rows(multi + "/predictions.csv")
    moved = 0
    for i in single:
        parts = sorted((k for k in c if k.startswith(i + "_c")), key=lambda k: int(k.split("_c")[1]))
        assert 1 <= len(parts) <= most, (i, parts)
        for cls in ("ham", "spam"):
            total = 0.0
            for k in parts: total += float(c[k][cls])  # in crop order, as crops.c sums
            want, got = f32(total / len(parts)), float(m[i][cls])
            assert got == want, (multi, i, cls, len(parts), got, want)
        assert m[i]["predicted"] == max(("ham", "spam"), key=lambda k: float(m[i][k])), (i, m[i])
        if len(parts) == 1: assert m[i] == single[i], (i, m[i], single[i])
        moved += m[i]["ham"] != single[i]["ham"]
    assert moved >= 3, f"{multi}: the crops should change some answers"
print("checked", len(single), "files")
PY
pass "--crops all and --crops 2 equal the mean of the per-crop probabilities"

"${P[@]}" --input-folder "$D/files" --output-folder ev --crops all --labels "$D/labels.csv" --evaluate > ev.txt || fail "--evaluate --crops all"
grep -q '^eir-predict: crops: all (mean [0-9.]* per file' ev.txt || { cat ev.txt; fail "--evaluate: no crops line"; }
for key in mcc acc roc-auc-macro ap-macro loss '"crops": "all"' crops_per_file; do
  grep -q "$key" ev/calculated_metrics.json || { cat ev/calculated_metrics.json; fail "metrics lack $key"; }
done
"${P[@]}" --input-folder "$D/files" --output-folder ev1 --labels "$D/labels.csv" --evaluate > ev1.txt || fail "--evaluate"
grep -q crops ev1/calculated_metrics.json && fail "--crops 1 metrics file changed"
pass "--evaluate --crops all prints the metrics and the crops"

expect_fail 2 "--crops: expected \"all\" or an integer >= 1, got '0'" "${P[@]}" --input-folder "$D/files" --output-folder x --crops 0
expect_fail 2 "--crops: expected \"all\" or an integer >= 1, got 'most'" "${P[@]}" --input-folder "$D/files" --output-folder x --crops most
pass "bad --crops refused"

# ---- eir-serve --crops all ---------------------------------------------------------------------
if [ -x "$BUILD/eir-serve" ] && command -v curl > /dev/null; then
  expect_fail 2 "--crops: expected \"all\" or an integer >= 1, got '-2'" "$BUILD/eir-serve" --model-path "$M" --crops -2
  # max batch 3: a file's crops (up to 16) span several passes and share them with other items
  "$BUILD/eir-serve" --model-path "$M" --host 127.0.0.1 --port 0 --crops all --threads 1 --max-batch 3 \
    --max-delay-us 2000 > serve.log 2>&1 &
  SPID=$!
  for _ in $(seq 1 300); do grep -qs 'eir-serve: ready' serve.log && break; kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  grep -q 'eir-serve: ready' serve.log || { cat serve.log; fail "eir-serve --crops all did not start within 30 s"; }
  PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' serve.log | sed 's/.*://')
  item() { printf '{"txt":"%s"}' "$(base64 -w0 "long/$1.txt")"; }
  want() { awk -F, -v id="$1" '$1 == id { printf "{\"out\":{\"Label\":{\"ham\":%s,\"spam\":%s}}}", $2, $3 }' lall/predictions.csv; }
  body='['; expect='{"result":['; first=1
  for id in $IDS; do
    [ $first = 1 ] || { body+=','; expect+=','; }; first=0
    body+=$(item "$id"); expect+=$(want "$id")
  done
  printf '%s]' "$body" > req.json; expect+=']}'
  printf '[%s]' "$(item f1000)" > req1.json
  curl -s --http2-prior-knowledge --max-time 30 --data-binary @req1.json "http://127.0.0.1:$PORT/predict" > got1.json &
  CPID=$!
  code=$(curl -s --http2-prior-knowledge --max-time 30 -o got.json -w '%{http_code}' --data-binary @req.json "http://127.0.0.1:$PORT/predict")
  wait $CPID || true
  [ "$code" = 200 ] || { cat got.json; fail "eir-serve --crops all: status $code"; }
  [ "$(cat got.json)" = "$expect" ] || { echo "got  $(cat got.json)"; echo "want $expect"; fail "eir-serve --crops all differs from eir-predict --crops all"; }
  [ "$(cat got1.json)" = "{\"result\":[$(want f1000)]}" ] || { cat got1.json; fail "eir-serve --crops all: the concurrent request"; }
  curl -s --max-time 10 "http://127.0.0.1:$PORT/info" | grep -q '"crops":"all"' || fail "/info lacks the crop mode"
  kill -TERM $SPID
  for _ in $(seq 1 300); do kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
  kill -0 $SPID 2>/dev/null && fail "eir-serve still running 30 s after SIGTERM"
  rc=0; wait $SPID || rc=$?
  [ "$rc" = 0 ] || { cat serve.log; fail "eir-serve exit code $rc"; }
  if grep -q 'Sanitizer\|runtime error' serve.log; then cat serve.log; fail "sanitizer report"; fi
  pass "eir-serve --crops all answers with eir-predict --crops all's digits"
else
  echo "skipped the eir-serve part: eir-serve or curl missing"
fi
