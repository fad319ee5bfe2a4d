#!/usr/bin/env bash
# The build without MPI (cmake -DEIR_MPI=OFF, src/dist/comm_single.c): one process trains, resumes
# bit for bit and says what it is; started by a launcher as one of N ranks it refuses (exit 2,
# naming the launcher's variable) instead of training N unrelated copies. scripts/test.sh runs
# the whole suite in such a build (its stage 4); in an MPI build this test skips (77).
source "$(dirname "$0")/../cli_lib.sh"
"$BUILD/eir-dist" --version > "$TMP/version.txt"
if ! grep -q "built without MPI" "$TMP/version.txt"; then
  echo "SKIP: $(cat "$TMP/version.txt"): an MPI build (scripts/test.sh runs this in its EIR_MPI=OFF build)"
  exit 77
fi
D=$TMP/data; make_tiny_dataset "$D"
CFG=(--global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml"
     --g.basic_experiment.n_epochs=2 --device cpu)
mkdir -p "$TMP/a" && cd "$TMP/a"
"$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || { cat log.txt; fail "one-process training"; }
grep -q "1 rank(s)" log.txt || { cat log.txt; fail "the log does not say 1 rank"; }
ls run/saved_models/*.safetensors > /dev/null || fail "no model file"
pass "one process trains"

mkdir -p "$TMP/b" && cd "$TMP/b"
rc=0; EIR_DIST_INTERRUPT_AT=13 "$BUILD/eir-dist" "${CFG[@]}" > log.txt 2>&1 || rc=$?
[ "$rc" = 75 ] || { cat log.txt; fail "interrupted run should exit 75, got $rc"; }
"$BUILD/eir-dist" --resume run --device cpu >> log.txt 2>&1 || { cat log.txt; fail "resume"; }
cmp "$TMP/a/run/training_state.safetensors" run/training_state.safetensors || fail "resumed run differs"
pass "resume is bit-exact"

cd "$TMP"
for v in OMPI_COMM_WORLD_SIZE=2 PMI_SIZE=3 SLURM_STEP_NUM_TASKS=4; do
  expect_fail 2 "this build has no MPI (EIR_MPI=OFF) and runs as one process, but the launcher started ${v#*=} (${v%=*}=" \
    env "$v" "$BUILD/eir-dist" "${CFG[@]}" --dry-run
done
# a batch script's allocation of several tasks is still one process here
SLURM_NTASKS=4 "$BUILD/eir-dist" "${CFG[@]}" --dry-run > dry.txt 2>&1 || { cat dry.txt; fail "SLURM_NTASKS alone"; }
pass "a launcher's N ranks are refused; an allocation alone is not"
