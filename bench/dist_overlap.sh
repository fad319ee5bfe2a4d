#!/usr/bin/env bash
# Measures whether the bucketed gradient all-reduce overlaps backward: the same short MPI run
# (2 ranks, synthetic data, the tutorial model at a small length) with buckets of 1 MiB (overlap)
# and with one blocking all-reduce after backward (EIR_DIST_BUCKET_MB=0). Prints eir-dist's own
# per-step figures: mean backward time, the mean wait for the all-reduce after backward, and the
# time one blocking all-reduce of the whole gradient buffer takes on its own (measured at start):
# with buckets, "wait" below "alone" is communication that ran during backward.
# Usage: bench/dist_overlap.sh [BUILD_DIR] [RANKS]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd); NP=${2:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/files"; echo "ID,Label" > "$TMP/labels.csv"
for i in $(seq 1 256); do head -c $((200 + i * 7)) /dev/urandom > "$TMP/files/f$i.bin"; echo "f$i,c$((i % 2))" >> "$TMP/labels.csv"; done
cat > "$TMP/g.yaml" <<EOT
basic_experiment: {output_folder: run, n_epochs: 4, batch_size: 32, valid_size: 32, memory_dataset: true}
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
printf "%-34s %12s %18s %20s %10s\n" "gradient all-reduce" "backward ms" "wait after bwd ms" "whole buffer alone ms" "samples/s"
for mb in 1 0; do
  rm -rf "$TMP/run"
  (cd "$TMP" && EIR_DIST_BUCKET_MB=$mb mpirun -np "$NP" "$BUILD/eir-dist" --global_configs g.yaml --input_configs i.yaml \
     --output_configs o.yaml > log.txt 2>&1)
  line=$(grep "gradient all-reduce" "$TMP/log.txt")
  bwd=$(echo "$line" | sed -E 's/.*mean backward ([0-9.]+) ms.*/\1/')
  wait=$(echo "$line" | sed -E 's/.*wait after backward ([0-9.]+) ms.*/\1/')
  alone=$(echo "$line" | sed -E 's/.*alone took ([0-9.]+) ms.*/\1/')
  sps=$(grep -oE '[0-9.]+ samples/s' "$TMP/log.txt" | tail -1 | cut -d' ' -f1)
  label=$([ "$mb" = 0 ] && echo "one blocking call after backward" || echo "1 MiB buckets during backward")
  printf "%-34s %12s %18s %20s %10s\n" "$label" "$bwd" "$wait" "$alone" "$sps"
done
