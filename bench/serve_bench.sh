#!/usr/bin/env bash
# serve_bench.sh: eir-serve against the baseline EIR's eirserve stands for (the PyTorch twin of the
# model behind FastAPI + uvicorn, tools/reference/serve_fastapi.py), driven by h2load in the same
# run, at 1, 2 and 32 items per request and several connection counts; plus the node's own
# offline throughput (eir-predict, same threads) to compare the full-load figures with.
#
#   bench/serve_bench.sh [BUILD_DIR]            (default: build; needs eir-serve, eir-dist, eir-predict)
#
# Environment: BENCH_THREADS (default: online CPUs) threads for each server and for the offline
# run; BENCH_SECONDS (default 4) target length of one node load point; BENCH_BASELINE_SECONDS
# (default 8) target length of one baseline load point (a point always runs at least one request
# per connection, so all requests complete and slow baselines are measured, not cut off);
# BENCH_CONNS (default "1 4 16") connection counts; 32-item requests use the first two.
#
# Model: the tutorial configuration (examples/spam/input.yaml: max_length 1024, window 128,
# d 64, 4 layers, 8 heads; 1,069,634 parameters), trained for 3 steps on synthetic files: an
# untrained model costs the same per sample. Client and servers share the machine: only the
# ratios measured within one run mean anything. Run time: a few minutes on 2 cores.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
THREADS=${BENCH_THREADS:-$(nproc)}
NODE_SECONDS=${BENCH_SECONDS:-4}
BASE_SECONDS=${BENCH_BASELINE_SECONDS:-8}
CONNS=(${BENCH_CONNS:-1 4 16})
PY=/usr/bin/python3  # Debian's python with torch (the pyenv one on PATH has none)

for b in eir-serve eir-dist eir-predict; do [ -x "$BUILD/$b" ] || { echo "serve_bench: $BUILD/$b missing (build first)" >&2; exit 2; }; done
command -v h2load > /dev/null || { echo "serve_bench: h2load missing (apt-get install nghttp2-client)" >&2; exit 2; }
BASELINE=1
$PY -c 'import torch, fastapi, uvicorn' 2> /dev/null ||
  { echo "serve_bench: no baseline ($PY lacks torch/fastapi/uvicorn: apt-get install python3-torch python3-fastapi python3-uvicorn)" >&2; BASELINE=0; }

W=$(mktemp -d /tmp/eir-serve-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
T0=$(date +%s)
log() { echo "[$(($(date +%s) - T0)) s] $*" >&2; }

# ---- the model: tutorial configuration, 3 training steps on synthetic files -------------------
mkdir -p "$W/files"
echo "ID,Label" > "$W/labels.csv"
for i in $(seq 1 96); do
  head -c $((700 + (i * 137) % 1600)) /dev/urandom | base64 -w 76 > "$W/files/f$i.txt"  # 0.9-3 KB of text
  echo "f$i,$([ $((i % 2)) = 0 ] && echo spam || echo ham)" >> "$W/labels.csv"
done
log "training the tutorial model for 3 steps"
(cd "$W" && OMP_NUM_THREADS=$THREADS timeout 300 "$BUILD/eir-dist" \
  --global_configs "$SRC/examples/spam/globals.yaml" --input_configs "$SRC/examples/spam/input.yaml" \
  --output_configs "$SRC/examples/spam/output.yaml" \
  --globals.basic_experiment.output_folder="$W/run" --globals.basic_experiment.n_epochs=1 \
  --globals.basic_experiment.batch_size=16 --globals.basic_experiment.valid_size=48 \
  --globals.evaluation_checkpoint.checkpoint_interval=2 --globals.evaluation_checkpoint.sample_interval=2 \
  --input.input_info.input_source="$W/files" --output.output_info.output_source="$W/labels.csv" > "$W/train.log" 2>&1) ||
  { tail -20 "$W/train.log"; echo "serve_bench: training failed" >&2; exit 1; }
M=$(ls "$W"/run/saved_models/*.safetensors | tail -1)
NAME=spam_email_bytes

# request bodies with 1, 2 and 32 samples
body() {  # body N: the first N files as a /predict body
  local i
  printf '['
  for i in $(seq 1 "$1"); do [ "$i" = 1 ] || printf ','; printf '{"%s":"%s"}' "$NAME" "$(base64 -w0 "$W/files/f$i.txt")"; done
  printf ']'
}
for n in 1 2 32; do body $n > "$W/body$n.json"; done

# ---- offline throughput: eir-predict, the same threads split the same way as the node's workers
# (one single-threaded process per thread), startup removed by a 1-file run of the same shape
offline_run() {  # offline_run FILES_PER_PROCESS -> "wall_seconds cpu_seconds"
  local n=$1 k t0 pids=()
  for k in $(seq 1 "$THREADS"); do
    rm -rf "$W/off$k" && mkdir -p "$W/off$k"
    for i in $(seq 1 "$n"); do ln -s "$W/files/f$(( (i + k * 7) % 96 + 1 )).txt" "$W/off$k/g$i.txt"; done
  done
  t0=$(date +%s.%N)
  for k in $(seq 1 "$THREADS"); do
    OMP_NUM_THREADS=1 /usr/bin/time -f '%U %S' -o "$W/offcpu$k" "$BUILD/eir-predict" --model-path "$M" \
      --input-folder "$W/off$k" --output-folder "$W/offout$k" --batch-size 16 > /dev/null & pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k"; done
  echo "$(echo "$(date +%s.%N) - $t0" | bc -l) $(cat "$W"/offcpu* | awk '{ s += $1 + $2 } END { print s }')"
}
offline() {  # offline [FILES_PER_PROCESS]: prints "samples/s cpu_ms_per_sample" (startup removed)
  # Three interleaved pairs of a 1-file and an N-file run; the medians of the differences give
  # the startup-free rate. A single pair can come out negative (the 1-file run slower than the
  # N-file run on a drifting machine): then, or when the N files take under 1.5x the 1-file run's
  # time, the rate is "nan" (unmeasured) rather than a wrong number.
  local n=${1:-256} k r1 rn rows=""
  for k in 1 2 3; do
    r1=$(offline_run 1)
    rn=$(offline_run "$n")
    rows+="$r1 $rn"$'\n'
  done
  printf '%s' "$rows" | awk -v p="$THREADS" -v n="$n" '
    function med(a,  t) { t = a[1]; if (a[1] > a[2]) { a[1] = a[2]; a[2] = t }
                          if (a[2] > a[3]) { t = a[2]; a[2] = a[3]; a[3] = t }
                          if (a[1] > a[2]) { t = a[1]; a[1] = a[2]; a[2] = t } return a[2] }
    { w[NR] = $3 - $1; c[NR] = $4 - $2; ok = ok && $3 >= 1.5 * $1 } BEGIN { ok = 1 }
    END { dw = med(w); dc = med(c)
          if (NR != 3 || !ok || dw <= 0 || dc <= 0) { print "nan nan"; exit }
          printf "%.2f %.2f\n", p * (n - 1) / dw, 1000 * dc / (p * (n - 1)) }'
}
log "offline throughput ($THREADS x eir-predict, 1 thread each)"
read -r OFFLINE1 OFFCPU1 <<< "$(offline)"
log "offline: $OFFLINE1 samples/s, $OFFCPU1 CPU-ms per sample"

# ---- servers -----------------------------------------------------------------------------------
wait_http() {  # wait_http URL PID SECONDS
  local _
  for _ in $(seq 1 $(( $3 * 10 ))); do
    curl -s -o /dev/null --max-time 2 -f "$1" && return 0
    kill -0 "$2" 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NODE_PORT=$(free_port)
"$BUILD/eir-serve" --model-path "$M" --host 127.0.0.1 --port "$NODE_PORT" --threads "$THREADS" > "$W/node.log" 2>&1 &
NODE_PID=$!; PIDS+=($NODE_PID); disown $NODE_PID
wait_http "http://127.0.0.1:$NODE_PORT/ready" $NODE_PID 60 || { cat "$W/node.log"; echo "serve_bench: eir-serve did not get ready" >&2; exit 1; }
log "eir-serve ready on port $NODE_PORT: $(grep -o 'ready: .*' "$W/node.log")"
if [ $BASELINE = 1 ]; then
  BASE_PORT=$(free_port)
  # the model's configuration for the PyTorch twin: the tutorial's, with this run's names
  $PY - "$SRC/tools/reference" "$W/cfg.json" "$NAME" << 'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import eir_model as em
cfg = em.tutorial_config()
cfg.inputs[0].input_name = sys.argv[3]
cfg.outputs[0].output_name = "spam_output"
cfg.outputs[0].target_cat_columns = ["Label"]
json.dump(cfg.to_json_dict(), open(sys.argv[2], "w"))
EOF
  $PY "$SRC/tools/reference/serve_fastapi.py" --checkpoint "$M" --config "$W/cfg.json" --classes Label=ham,spam \
    --host 127.0.0.1 --port "$BASE_PORT" --threads "$THREADS" > "$W/baseline.log" 2>&1 &
  BASE_PID=$!; PIDS+=($BASE_PID); disown $BASE_PID
  wait_http "http://127.0.0.1:$BASE_PORT/info" $BASE_PID 120 || { cat "$W/baseline.log"; echo "serve_bench: baseline did not start" >&2; exit 1; }
  log "baseline (FastAPI + uvicorn, torch $THREADS threads) ready on port $BASE_PORT"
  # same model, same answers (up to float32 rounding between two implementations)
  curl -s --max-time 120 -H 'content-type: application/json' --data-binary @"$W/body2.json" "http://127.0.0.1:$NODE_PORT/predict" > "$W/node2.json"
  curl -s --max-time 120 -H 'content-type: application/json' --data-binary @"$W/body2.json" "http://127.0.0.1:$BASE_PORT/predict" > "$W/base2.json"
  $PY - "$W/node2.json" "$W/base2.json" << 'EOF' >&2
import json, sys
a, b = (json.load(open(p))["result"] for p in sys.argv[1:3])
d = max(abs(x[o][c][k] - y[o][c][k]) for x, y in zip(a, b) for o in x for c in x[o] for k in x[o][c])
print(f"node vs baseline on the same 2 samples: max |probability difference| = {d:.2e}")
if d > 1e-4:
    sys.exit("serve_bench: the node and the baseline disagree: not the same model?")
EOF
fi

# ---- load points -------------------------------------------------------------------------------
percentile() {  # percentile P N SORTED_FILE: nearest rank, ceil(P * N)
  awk -v p="$1" -v n="$2" 'BEGIN { i = int(p * n); if (i < p * n) i++; if (i < 1) i = 1 } NR == i' "$3"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # user + system time of a process
# one_point URL PROTO_FLAG ITEMS CONNS REQUESTS TAG PID -> "req/s items/s p50_ms p99_ms failed cpu_ms_per_item"
one_point() {
  local url=$1 proto=$2 items=$3 conns=$4 n=$5 tag=$6 pid=$7 out c0 c1
  rm -f "$W/lat.$tag"
  c0=$(cpu_ticks "$pid")
  out=$(timeout 600 h2load $proto -n "$n" -c "$conns" -m 1 -d "$W/body$items.json" -H 'content-type: application/json' \
    --log-file="$W/lat.$tag" "$url" 2>&1) || { echo "$out" >&2; echo "0 0 0 0 $n 0"; return; }
  c1=$(cpu_ticks "$pid")
  local secs ok
  secs=$(sed -n 's/^finished in \([0-9.]*\)\(m\?s\),.*/\1 \2/p' <<< "$out" | awk '{ print ($2 == "ms") ? $1 / 1000 : $1 }')
  ok=$(awk -F'\t' '$2 == 200' "$W/lat.$tag" | wc -l)
  awk -F'\t' '$2 == 200 { print $3 / 1000 }' "$W/lat.$tag" | sort -n > "$W/lat.$tag.sorted"
  local p50 p99
  p50=$(percentile 0.50 "$ok" "$W/lat.$tag.sorted")
  p99=$(percentile 0.99 "$ok" "$W/lat.$tag.sorted")
  awk -v ok="$ok" -v s="$secs" -v it="$items" -v p50="${p50:-0}" -v p99="${p99:-0}" -v n="$n" -v cpu=$((c1 - c0)) \
    -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f %.1f %.1f %.1f %d %.1f\n", ok / s, ok * it / s, p50, p99, n - ok,
                                        (ok > 0) ? 1000 * cpu / hz / (ok * it) : 0 }'
}

is_full_load() {  # is_full_load ITEMS CONNS: at least two items in flight per worker, one connection per worker
  [ $(($1 * $2)) -ge $((4 * THREADS)) ] && [ "$2" -ge "$THREADS" ]
}
rows=()
node_rate=$OFFLINE1
[ "$node_rate" = nan ] && node_rate=50  # unmeasured: size the runs for a modest rate
base_item_s=0  # seconds per item for the baseline, measured by its first point
for items in 1 2 32; do
  conns_list=("${CONNS[@]}")
  [ "$items" = 32 ] && conns_list=("${CONNS[@]:0:2}")
  for c in "${conns_list[@]}"; do
    # node: enough requests for ~NODE_SECONDS at the offline rate, at least 4 per connection
    n=$(awk -v r="$node_rate" -v s="$NODE_SECONDS" -v it="$items" -v c="$c" \
      'BEGIN { n = int(r * s / it); if (n < 4 * c) n = 4 * c; print int((n + c - 1) / c) * c }')
    # full load (every worker always busy): measure offline right before, the machine's load drifts
    adj="- -"
    if is_full_load "$items" "$c"; then
      log "offline   just before the next point"
      adj=$(offline 128)
    fi
    log "node      items=$items conns=$c requests=$n"
    node=$(one_point "http://127.0.0.1:$NODE_PORT/predict" "" "$items" "$c" "$n" "node$items.$c" $NODE_PID)
    base="- - - - - -"
    if [ $BASELINE = 1 ]; then
      # baseline: whole rounds (one request per connection each) filling ~BASE_SECONDS, at least one
      if [ "$base_item_s" = 0 ]; then rounds=3; else
        rounds=$(awk -v t="$BASE_SECONDS" -v s="$base_item_s" -v it="$items" -v c="$c" \
          'BEGIN { r = int(t / (s * it * c)); if (r < 1) r = 1; if (r > 20) r = 20; print r }')
      fi
      log "baseline  items=$items conns=$c requests=$((rounds * c))"
      base=$(one_point "http://127.0.0.1:$BASE_PORT/predict" --h1 "$items" "$c" $((rounds * c)) "base$items.$c" $BASE_PID)
      [ "$base_item_s" = 0 ] && base_item_s=$(awk '{ print ($2 > 0) ? 1 / $2 : 1 }' <<< "$base")
    fi
    rows+=("$items $c $node $base $adj")
  done
done

# offline again after the load points, for the record (the machine's load drifts)
kill -TERM $NODE_PID
[ $BASELINE = 0 ] || kill -TERM $BASE_PID
sleep 1
log "offline throughput again"
read -r OFFLINE2 OFFCPU2 <<< "$(offline)"

# ---- report ------------------------------------------------------------------------------------
echo
echo "eir-serve vs FastAPI+uvicorn+PyTorch (EIR's way of serving), tutorial model (1,069,634 parameters),"
echo "$THREADS threads each, h2load closed loop (one request in flight per connection); node over h2c, baseline over HTTP/1.1"
printf '%-9s %5s | %7s %8s %7s %7s %4s %6s | %7s %8s %8s %8s %4s %6s | %6s %4s\n' \
  "items/req" conns "req/s" "items/s" "p50 ms" "p99 ms" fail "cpu/it" "req/s" "items/s" "p50 ms" "p99 ms" fail "cpu/it" \
  "x i/s" "p99<"
printf '%-9s %5s | %51s | %53s |\n' "" "" "eir-serve" "baseline"
all_4x=1 all_p99=1 full_ok=1 any_full=0
for r in "${rows[@]}"; do
  read -r items c nrq nit n50 n99 nf ncpu brq bit b50 b99 bf bcpu _ <<< "$r"
  ratio="-" lower="-"
  if [ "$bit" != "-" ]; then
    ratio=$(awk -v a="$nit" -v b="$bit" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }')
    lower=$(awk -v a="$n99" -v b="$b99" 'BEGIN { print (a < b) ? "yes" : "NO" }')
    awk -v a="$nit" -v b="$bit" 'BEGIN { exit !(a >= 4 * b) }' || all_4x=0
    [ "$lower" = yes ] || all_p99=0
  fi
  printf '%-9s %5s | %7s %8s %7s %7s %4s %6s | %7s %8s %8s %8s %4s %6s | %6s %4s\n' \
    "$items" "$c" "$nrq" "$nit" "$n50" "$n99" "$nf" "$ncpu" "$brq" "$bit" "$b50" "$b99" "$bf" "$bcpu" "$ratio" "$lower"
done
echo
echo "(cpu/it: CPU-milliseconds the server process spent per item; client excluded)"
printf 'offline (eir-predict, %d processes x 1 thread, batch 16): %s samples/s (%s CPU-ms each) before the load points, %s (%s) after\n' \
  "$THREADS" "$OFFLINE1" "$OFFCPU1" "$OFFLINE2" "$OFFCPU2"
for r in "${rows[@]}"; do
  read -r items c nrq nit _ _ _ ncpu _ _ _ _ _ _ adj adjcpu <<< "$r"
  [ "$adj" = "-" ] && continue
  if [ "$adj" = nan ]; then
    printf 'full load %2s items x %2s conns: %s samples/s; offline just before: unmeasured (start-up dominated the runs)\n' \
      "$items" "$c" "$nit"
    full_unknown=1
    continue
  fi
  eff=$(awk -v a="$nit" -v b="$adj" 'BEGIN { printf "%.0f", 100 * a / b }')
  ceff=$(awk -v a="$ncpu" -v b="$adjcpu" 'BEGIN { printf "%.0f", (a > 0) ? 100 * b / a : 0 }')
  printf 'full load %2s items x %2s conns: %s samples/s = %s%% of offline just before (%s/s); CPU per sample %s ms = %s%% efficiency (offline %s ms)\n' \
    "$items" "$c" "$nit" "$eff" "$adj" "$ncpu" "$ceff" "$adjcpu"
  [ "$eff" -ge 90 ] || full_ok=0
  any_full=1
done
echo
if [ $BASELINE = 1 ]; then
  echo "targets: >= 4x the baseline's items/s at every load: $([ $all_4x = 1 ] && echo met || echo NOT met)"
  echo "         lower p99 than the baseline at every load:  $([ $all_p99 = 1 ] && echo met || echo NOT met)"
fi
[ $any_full = 1 ] || full_ok=0
if [ "${full_unknown:-0}" = 1 ]; then
  echo "         full-load items/s within 10% of offline:   unknown (an offline figure could not be measured)"
else
  echo "         full-load items/s within 10% of offline:   $([ $full_ok = 1 ] && echo met || echo NOT met)"
fi
log "done"
