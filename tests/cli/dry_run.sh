#!/usr/bin/env bash
# --dry-run prints the data summary, exits 0 and writes nothing; --help/--version of each program.
source "$(dirname "$0")/../cli_lib.sh"
D=$TMP/data; make_tiny_dataset "$D"
cd "$TMP"
"$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" --dry-run > out.txt
grep -q "Filtered out 0 samples" out.txt || fail "summary lacks EIR's filter line"
grep -q "iterations per epoch *10" out.txt || fail "summary lacks iterations per epoch"
grep -Eq "ham +79 +21 +100" out.txt || fail "summary lacks class counts per split"
[ ! -e run ] || fail "--dry-run wrote the run folder"
pass "dry run"
for prog in eir-dist eir-predict; do
  "$BUILD/$prog" --help > help.txt || fail "$prog --help"
  grep -q "usage: $prog" help.txt || fail "$prog --help text"
  "$BUILD/$prog" --version | grep -q "$prog" || fail "$prog --version"
done
# every program flag the help lists is accepted by the parser (llm.c's warning)
grep -oE -- '--(dry-run|resume)' "$TMP/help.txt" >/dev/null 2>&1 || true
"$BUILD/eir-dist" --help | grep -q -- "--dry-run" || fail "help lacks --dry-run"
expect_fail 2 "unknown argument '--bogus'" "$BUILD/eir-dist" --global_configs "$D/g.yaml" --output_configs "$D/o.yaml" --bogus
expect_fail 2 "required" "$BUILD/eir-dist" --input_configs "$D/i.yaml"
expect_fail 2 "model-path is required" "$BUILD/eir-predict" --input-folder x --output-folder y
expect_fail 2 "device: expected cpu, cuda or auto" "$BUILD/eir-dist" --global_configs "$D/g.yaml" --output_configs "$D/o.yaml" --device tpu
# environment knobs are read (and refused by name) at start-up
EIR_DIST_BUCKET_MB=lots expect_fail 2 "EIR_DIST_BUCKET_MB='lots': expected a size in MiB" "$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" --dry-run
EIR_DIST_INTERRUPT_AT=-3 expect_fail 2 "EIR_DIST_INTERRUPT_AT='-3': expected an iteration number" "$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" --dry-run
EIR_DIST_GPU_COMM=gloo expect_fail 2 "EIR_DIST_GPU_COMM='gloo': expected nccl or mpi" "$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" --dry-run
pass "help, version and argument errors"
