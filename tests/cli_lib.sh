# lib.sh: helpers for the CLI tests (sourced, not a test itself).
# Usage in a test: source "$(dirname "$0")/lib.sh"; BUILD=$1 SRC=$2
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d /tmp/eir-cli-test.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# expect_fail CODE PATTERN cmd...: runs cmd, checks its exit code and that stderr matches PATTERN.
expect_fail() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$TMP/out.txt" 2>"$TMP/err.txt" || rc=$?
  [ "$rc" = "$code" ] || { cat "$TMP/err.txt" >&2; fail "expected exit $code, got $rc: $*"; }
  grep -q -- "$pattern" "$TMP/err.txt" || { cat "$TMP/err.txt" >&2; fail "stderr lacks '$pattern': $*"; }
}

# make_tiny_dataset DIR: 200 small text files with a learnable ham/spam label, configs g/i/o.yaml
# with output_folder "run" (relative: tests run from their own folder).
make_tiny_dataset() {
  local d=$1 i
  mkdir -p "$d/files"
  echo "ID,Label" > "$d/labels.csv"
  for i in $(seq 1 200); do
    if [ $((i % 2)) = 0 ]; then
      printf 'BUY NOW cheap offer %d %s' "$i" "$(head -c $((i * 3)) /dev/zero | tr '\0' 'x')" > "$d/files/s$i.txt"
      echo "s$i,spam" >> "$d/labels.csv"
    else
      printf 'Dear colleague, the meeting notes %d %s' "$i" "$(head -c $((i * 2)) /dev/zero | tr '\0' 'y')" > "$d/files/s$i.txt"
      echo "s$i,ham" >> "$d/labels.csv"
    fi
  done
  cat > "$d/g.yaml" <<EOT
basic_experiment:
  output_folder: run
  n_epochs: 3
  batch_size: 16
  valid_size: 0.2
  memory_dataset: true
evaluation_checkpoint:
  sample_interval: 10
  checkpoint_interval: 10
  n_saved_models: 2
optimization:
  lr: 0.001
lr_schedule:
  warmup_steps: 5
training_control:
  mixing_alpha: 0.5
EOT
  cat > "$d/i.yaml" <<EOT
input_info:
  input_source: $d/files
  input_name: txt
  input_type: bytes
input_type_info:
  max_length: 64
model_config:
  window_size: 16
  embedding_dim: 16
  pool: avg
  position: embed
  model_init_config:
    num_layers: 2
    num_heads: 2
EOT
  cat > "$d/o.yaml" <<EOT
output_info:
  output_source: $d/labels.csv
  output_name: out
  output_type: tabular
output_type_info:
  target_cat_columns: [Label]
model_config:
  model_init_config:
    fc_task_dim: 32
EOT
}

# The rank-count invariance check (tests/cli/dist_invariance.sh, tests/multinode/mpi_train.sh):
# the tiny dataset's config with mixing_alpha 0 and dropout, position dropout and stochastic
# depth on; runs with any number of ranks must end with the same parameters within
# INVARIANCE_RTOL (relative) and the same validation perf-average to 4 decimals.
INVARIANCE_RTOL=1e-5
invariance_cfg() {  # invariance_cfg DIR: sets INV_CFG to eir-dist's arguments for make_tiny_dataset DIR
  local d=$1
  INV_CFG=(--global_configs "$d/g.yaml" --input_configs "$d/i.yaml" --output_configs "$d/o.yaml"
           --g.training_control.mixing_alpha=0.0 --i.model_config.model_init_config.dropout=0.1
           --i.model_config.position_dropout=0.1 --o.model_config.model_init_config.stochastic_depth_p=0.3)
}
# compare_runs RUN_A RUN_B NAME: the two run folders agree as above (fails the test otherwise)
compare_runs() {
  local a=$1 b=$2 name=$3
  "$BUILD/st_compare" "$a/training_state.safetensors" "$b/training_state.safetensors" params "$INVARIANCE_RTOL" \
    || fail "$name: parameters differ"
  cut -d, -f1,3 "$a/validation_average_history.log" | awk -F, 'NR>1{printf "%s,%.4f\n",$1,$2}' > "$TMP/v1"
  cut -d, -f1,3 "$b/validation_average_history.log" | awk -F, 'NR>1{printf "%s,%.4f\n",$1,$2}' > "$TMP/v2"
  cmp "$TMP/v1" "$TMP/v2" || { paste "$TMP/v1" "$TMP/v2"; fail "$name: validation perf-average differs"; }
}
