#!/usr/bin/env bash
# Step time across two "nodes" on a shaped network (issue 18 item 3): two network namespaces
# joined by a bridge (tests/multinode/netns-cluster.sh), each node's link shaped with tc netem
# (rate + one-way delay on its egress), eir-dist started with `mpirun --host a:1,b:1` (2 ranks) or
# `--host a:2,b:2` (4 ranks) over Open MPI's TCP transport, and the gradient all-reduce done
# either in 1 MiB buckets during backward (EIR_DIST_BUCKET_MB=1) or as one blocking all-reduce
# after backward (EIR_DIST_BUCKET_MB=0): the knobs and the synthetic data of bench/dist_overlap.sh.
# Modes (--modes, any of): bucketed (1 MiB buckets), blocking (EIR_DIST_BUCKET_MB=0), and bucketN
# for buckets of N MiB (bucket0.25, bucket4, bucket16: EIR_DIST_BUCKET_MB=N, 0 < N <= 65536), so
# the bucket size can be tuned from the same runs (docs/scaling.md, "Past these machines").
# Models: the tutorial model (examples/spam: d=64, 4 layers, 8 heads, windows of 128) at
# max_length 256 as in dist_overlap.sh (823,490 parameters, 3.1 MiB of gradients), and one 11x
# larger (d=256, 8 layers: 9,253,378 parameters, 35.3 MiB); the table shows each one's MiB.
# Prints a Markdown table: per network, model, ranks and all-reduce, the step time (median
# [min-max] over the repeats), the mean wait for the gradients after backward and the time one
# all-reduce of the whole buffer took alone. Step time = the run's training time per optimizer
# step after the first (from eir-dist's samples/s at the end, which excludes the first step's time).
#
# Usage: bench/netem_scaling.sh [--build DIR] [--repeats R] [--epochs E] [--ranks "2 4"]
#          [--models "tutorial large"] [--networks "none 10gbit:0.1ms 1gbit:0.1ms 1gbit:1ms"]
#          [--modes "bucketed blocking bucket4 ..."] [--out FILE]
# Defaults: the full measurement (all of the above, 3 repeats, 4 epochs of 7 steps each at a
# global batch of 32); it takes hours on a 2-core machine (the larger model's step is seconds).
# Needs root (network namespaces, tc). The namespaces are removed on exit, also when interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$here/build REPEATS=3 EPOCHS=4 RANKS="2 4" MODELS="tutorial large"
NETWORKS="none 10gbit:0.1ms 1gbit:0.1ms 1gbit:1ms" MODES="bucketed blocking" OUT=""
die() { echo "netem_scaling: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --networks) NETWORKS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;  # the header comment; starts nothing
    *) die "unknown argument '$1' (--help)" ;;
  esac
done
for r in $RANKS; do case $r in 2|4) ;; *) die "--ranks: 2 and/or 4 (ranks spread over the two nodes)" ;; esac; done
for m in $MODELS; do case $m in tutorial|large) ;; *) die "--models: tutorial and/or large" ;; esac; done
# EIR_DIST_BUCKET_MB of a mode: bucketed 1, blocking 0, bucketN N (MiB); empty when not a mode
mode_mb() {
  case $1 in
    bucketed) echo 1 ;;
    blocking) echo 0 ;;
    bucket*) [[ ${1#bucket} =~ ^[0-9]+(\.[0-9]+)?$ ]] \
               && awk -v n="${1#bucket}" 'BEGIN {exit !(n > 0 && n <= 65536)}' && echo "${1#bucket}" ;;
  esac
}
# the table's "all-reduce" text of a mode
mode_text() {
  case $1 in
    blocking) echo "one blocking after backward" ;;
    *) echo "$(mode_mb "$1") MiB buckets" ;;
  esac
}
[ -n "$MODES" ] || die "--modes: at least one of bucketed, blocking, bucketN"
for m in $MODES; do
  [ -n "$(mode_mb "$m")" ] || die "--modes: bucketed (1 MiB buckets), blocking (one all-reduce after backward) or bucketN (N MiB buckets, 0 < N <= 65536, e.g. bucket4, bucket0.25), not '$m'"
done
for n in $NETWORKS; do [ "$n" = none ] || [[ $n =~ ^[0-9.]+[kmg]?bit:[0-9.]+m?s$ ]] || die "--networks: none or RATE:DELAY (e.g. 1gbit:0.1ms), not '$n'"; done
# the arguments first (no root needed to be told they are wrong), then what the runs need
[ -x "$BUILD/eir-dist" ] || die "$BUILD/eir-dist not found (--build DIR)"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, tc netem)"

NC=$here/tests/multinode/netns-cluster.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TMP=$(mktemp -d /tmp/eir-netem.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; bash "$NC" down "$TMP/net" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
bash "$NC" up "$TMP/net" 2
# shellcheck disable=SC1091
source "$TMP/net/cluster.env"
if ! bash "$NC" netem-ok "$TMP/net"; then
  for n in $NETWORKS; do
    [ "$n" = none ] || [[ ${n#*:} =~ ^0+(\.0+)?(ms|us|s)$ ]] \
      || die "this kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set): '$n' needs a delay; only rates (RATE:0ms, tbf) can be shaped here"
  done
fi

# the data and configs of bench/dist_overlap.sh
mkdir -p "$TMP/files"; echo "ID,Label" > "$TMP/labels.csv"
for i in $(seq 1 256); do head -c $((200 + i * 7)) /dev/urandom > "$TMP/files/f$i.bin"; echo "f$i,c$((i % 2))" >> "$TMP/labels.csv"; done
BATCH=32
cat > "$TMP/g.yaml" <<EOT
basic_experiment: {output_folder: run, n_epochs: $EPOCHS, batch_size: $BATCH, valid_size: 32, memory_dataset: true}
evaluation_checkpoint: {sample_interval: 100000}
EOT
cat > "$TMP/i.yaml" <<EOT
input_info: {input_source: $TMP/files, input_name: b, input_type: bytes}
input_type_info: {max_length: 256}
model_config: {window_size: 128, embedding_dim: 64, pool: avg, position: embed, model_init_config: {num_layers: 4, num_heads: 8}}
EOT
cat > "$TMP/o.yaml" <<EOT
output_info: {output_source: $TMP/labels.csv, output_name: o, output_type: tabular}
output_type_info: {target_cat_columns: [Label]}
EOT
model_args() {
  case $1 in
    tutorial) ;;
    large) echo "--i.model_config.embedding_dim=256 --i.model_config.model_init_config.num_layers=8" ;;
  esac
}

# one run: prints "step_ms wait_ms alone_ms MiB" (or fails)
measure() {  # measure MODEL RANKS MODE
  local hosts mb log line sps steps
  hosts=$([ "$2" = 2 ] && echo a:1,b:1 || echo a:2,b:2)
  mb=$(mode_mb "$3")
  log=$TMP/log.txt
  rm -rf "$TMP/run"
  # shellcheck disable=SC2046
  (cd "$TMP" && EIR_DIST_BUCKET_MB=$mb bash "$NC" exec "$TMP/net" a mpirun -np "$2" --host "$hosts" \
     --mca plm_rsh_agent "$TMP/net/rsh" --mca plm_rsh_no_tree_spawn 1 --mca btl tcp,self,vader \
     --mca btl_tcp_if_include "$SUBNET.0/24" --mca oob_tcp_if_include "$SUBNET.0/24" \
     "$BUILD/eir-dist" --global_configs g.yaml --input_configs i.yaml --output_configs o.yaml $(model_args "$1") \
     > "$log" 2>&1) || { tail -30 "$log" >&2; echo "netem_scaling: the run failed ($1, $2 ranks, $3)" >&2; return 1; }
  line=$(grep "gradient all-reduce" "$log") || { tail -30 "$log" >&2; return 1; }
  sps=$(grep -oE '[0-9.]+ samples/s' "$log" | tail -1 | cut -d' ' -f1)
  steps=$(sed -n 's/.*Training finished after \([0-9]*\) iterations.*/\1/p' "$log")
  [ -n "$sps" ] && [ -n "$steps" ] && [ "$steps" -gt 1 ] || { tail -30 "$log" >&2; echo "netem_scaling: no step rate in the log" >&2; return 1; }
  # samples/s at the end = steps x batch / (time after the first step): per step after the first
  awk -v s="$sps" -v n="$steps" -v b="$BATCH" \
      -v w="$(echo "$line" | sed -E 's/.*wait after backward ([0-9.]+) ms.*/\1/')" \
      -v a="$(echo "$line" | sed -E 's/.*alone took ([0-9.]+) ms.*/\1/')" \
      -v m="$(echo "$line" | sed -E 's/.*all-reduce: ([0-9.]+) MiB.*/\1/')" \
      'BEGIN {printf "%.2f %s %s %s\n", 1000 * n * b / (s * (n - 1)), w, a, m}'
}

# median [min-max] of a column of numbers
stats() { sort -g | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f [%.2f-%.2f]", m, v[1], v[NR]}'; }

R=$TMP/results.txt; : > "$R"
start=$(date +%s)
for net in $NETWORKS; do
  if [ "$net" = none ]; then bash "$NC" shape "$TMP/net" off
  else bash "$NC" shape "$TMP/net" "${net%%:*}" "${net#*:}"; fi
  # repeats outermost: a slow drift of the machine spreads over every cell alike
  for rep in $(seq 1 "$REPEATS"); do
    for model in $MODELS; do
      for np in $RANKS; do
        for mode in $MODES; do
          echo "netem_scaling: network $net, $model, $np ranks, $mode, repeat $rep ($(( $(date +%s) - start )) s)" >&2
          # in the background and waited for: an interrupt reaches the traps at once
          measure "$model" "$np" "$mode" > "$TMP/m.txt" & wait $!
          echo "$net $model $np $mode $(cat "$TMP/m.txt")" >> "$R"
        done
      done
    done
  done
done
bash "$NC" shape "$TMP/net" off

{
  echo "### Step time on two namespace nodes over a shaped network ($(date -u +%Y-%m-%d), $(getconf _NPROCESSORS_ONLN) CPUs, $REPEATS repeat(s), $EPOCHS epoch(s) x 7 steps, global batch $BATCH)"
  echo
  echo "Network: tc netem on each node's link (egress): rate and one-way delay (RATE:0ms without sch_netem: tbf, rate only); none = the bridge unshaped."
  echo "All-reduce: N MiB buckets = EIR_DIST_BUCKET_MB=N, each bucket reduced during backward as soon as it is done (bucketed: 1 MiB);"
  echo "one blocking after backward = EIR_DIST_BUCKET_MB=0."
  echo "Step ms: median [min-max] over the repeats; wait: mean wait for the gradients after backward"
  echo "(median of the repeats); alone: one all-reduce of the whole buffer (median)."
  echo
  echo "| network | model (gradients) | ranks | all-reduce | step ms | wait after backward ms | whole buffer alone ms |"
  echo "|---|---|---:|---|---:|---:|---:|"
  for net in $NETWORKS; do
    for model in $MODELS; do
      for np in $RANKS; do
        for mode in $MODES; do
          rows=$(awk -v n="$net" -v m="$model" -v r="$np" -v o="$mode" '$1 == n && $2 == m && $3 == r && $4 == o' "$R")
          [ -n "$rows" ] || continue
          mib=$(echo "$rows" | awk 'NR == 1 {print $8}')
          echo "| $net | $model ($mib MiB) | $np | $(mode_text "$mode") | $(echo "$rows" | awk '{print $5}' | stats) | $(echo "$rows" | awk '{print $6}' | stats | cut -d' ' -f1) | $(echo "$rows" | awk '{print $7}' | stats | cut -d' ' -f1) |"
        done
      done
    done
  done
} > "$TMP/table.md"
cat "$TMP/table.md"
[ -z "$OUT" ] || cp "$TMP/table.md" "$OUT"
