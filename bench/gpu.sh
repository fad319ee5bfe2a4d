#!/usr/bin/env bash
# bench/gpu.sh: the one prepared run for a GPU session (issue 7, CUDA backend): build for Hopper,
# run the GPU tests (kernels, whole model, NCCL, the CUDA training CLI), benchmark training and
# inference of the tutorial model at batch 64 and 256 (fp32, tf32, bf16) side by side with the
# PyTorch reference model on the same GPU, benchmark the kernels, then (time allowing) time every
# kernel of both with Nsight Compute and run the compute-sanitizer checks. Built to finish inside
# one 10-minute device command on one H200 (about 6-8 minutes expected; steps past the time guard
# are skipped, never half-run).
#
#   here, first:  bash bench/gpu-bundle.sh      (the programs built here, in .gpubundle/: see (b))
#   then:         run(command="bash bench/gpu.sh", carry=[".gpubundle"], timeout_s=600)
#
# Results go to $OUT (the device tool's folder that comes back; default build-gpu/results), at
# most 7 files: env.txt, build.log, tests.txt, bench.txt, profile.txt, sanitizer.txt, summary.txt.
# Environment: BUILD (default build-gpu), ARCH (default 90a), JOBS (default nproc),
# TIME_BUDGET (seconds, default 480, which leaves a 15-minute device session room for a short
# rerun: later steps are skipped once it is spent), KERNELS_ONLY=1 (skip (a) and (b)).
#
# Programs, the first of these that works:
#  (a) the project's CMake build, where the machine has its libraries (libyaml, jansson, OpenBLAS,
#      MPI; NCCL from the toolkit or PyTorch's nvidia-nccl wheel);
#  (b) the carried bundle of bench/gpu-bundle.sh: the same programs built on the development
#      machine for sm_90a without MPI (one process), with their libraries; refused when it was
#      built from other sources than this tree; CUDA's own libraries are this machine's;
#  (c) the kernels only: nvcc for src/model/*.cu plus the CPU layers for the reference, with
#      OpenBLAS or the plain sgemm of tests/gpu/fallback: the kernel tests and benchmark alone.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build-gpu}
RES=${OUT:-$BUILD/results}
ARCH=${ARCH:-90a}
JOBS=${JOBS:-$(nproc)}
BUDGET=${TIME_BUDGET:-480}
mkdir -p "$BUILD" "$RES"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
SUMMARY=$RES/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - SECONDS)); }
cd "$SRC"

# ---- 0. what this machine has -----------------------------------------------------------------------
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")}
NVCC=$CUDA_HOME/bin/nvcc
PY=python3
$PY -c 'import torch' 2>/dev/null || PY=/usr/bin/python3
# NCCL and cuBLAS may come with the toolkit or only with the Python wheels (nvidia-nccl-cu13, nvidia-cublas)
pywheel_dir() { $PY -c "import importlib, os; m = importlib.import_module('nvidia.$1'); print(list(m.__path__)[0])" 2>/dev/null; }
NCCL_INC="" NCCL_LIB=""
if [ -e "$CUDA_HOME/include/nccl.h" ]; then NCCL_INC=$CUDA_HOME/include; NCCL_LIB=$(ls "$CUDA_HOME"/lib64/libnccl.so* 2>/dev/null | head -1); fi
if [ -z "$NCCL_INC" ] && d=$(pywheel_dir nccl) && [ -e "$d/include/nccl.h" ]; then
    NCCL_INC=$d/include; NCCL_LIB=$(ls "$d"/lib/libnccl.so* | head -1)
fi
CUBLAS_INC=$CUDA_HOME/include CUBLAS_LIB=""
CUBLAS_LIB=$(ls "$CUDA_HOME"/lib64/libcublas.so "$CUDA_HOME"/lib64/libcublas.so.* 2>/dev/null | head -1)
if [ -z "$CUBLAS_LIB" ] && d=$(pywheel_dir cublas); then
    CUBLAS_INC=$d/include; CUBLAS_LIB=$(ls "$d"/lib/libcublas.so* | head -1)
fi
{
    echo "date: $(date -u)"; uname -a
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv || echo "nvidia-smi: not available"
    "$NVCC" --version | tail -2
    gcc --version | head -1; cmake --version | head -1
    for p in yaml-0.1 jansson openblas; do echo "pkg-config $p: $(pkg-config --modversion $p 2>/dev/null || echo missing)"; done
    echo "mpicc: $(command -v mpicc || echo missing)"
    echo "nccl: ${NCCL_INC:-missing} ${NCCL_LIB}"
    echo "cublas: ${CUBLAS_LIB:-missing}"
    echo "compute-sanitizer: $(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo missing)"
    echo "python: $PY $($PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1)"
} >"$RES/env.txt" 2>&1
cat "$RES/env.txt"

# ---- 1. build ------------------------------------------------------------------------------------------
# In order: (a) the project's CMake build, where the machine has its libraries; (b) the bundle of
# bench/gpu-bundle.sh, built on the development machine and carried (carry=[".gpubundle"]);
# (c) the kernels only. (a) and (b) run everything below; (c) the kernel tests and benchmark.
BIN=""
MODE=""
BUNDLE=$SRC/.gpubundle/eir-gpu-bundle.tar.xz
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}  # PyTorch runs with its own libraries, whatever the bundle needs
have_deps() { pkg-config --exists yaml-0.1 jansson openblas 2>/dev/null && command -v mpicc >/dev/null; }
if [ "${KERNELS_ONLY:-0}" != 1 ] && have_deps; then
    {
        echo "== CMake build (CUDA arch $ARCH)"
        extra=()
        [ -n "$NCCL_INC" ] && extra+=("-DNCCL_INCLUDE_DIR=$NCCL_INC" "-DNCCL_LIBRARY=$NCCL_LIB")
        targets=(test_gpu_kernels test_gpu_nccl test_gpu_model eir-bench-gpu-kernels eir-bench-train eir-dist
                 eir-predict st_compare)
        pkg-config --exists libh2o-evloop openssl 2>/dev/null && targets+=(eir-serve)
        if cmake -S "$SRC" -B "$BUILD/cmake" -DCMAKE_BUILD_TYPE=Release -DEIR_CUDA=ON \
            -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${extra[@]}" &&
            cmake --build "$BUILD/cmake" -j"$JOBS" --target "${targets[@]}"; then
            echo "CMAKE_BUILD_OK"
        fi
    } >"$RES/build.log" 2>&1
    grep -qs CMAKE_BUILD_OK "$RES/build.log" && BIN=$BUILD/cmake MODE=cmake
else
    echo "== no CMake build: $([ "${KERNELS_ONLY:-0}" = 1 ] && echo KERNELS_ONLY=1 ||
        echo "this machine lacks libyaml/jansson/OpenBLAS (pkg-config) or MPI (mpicc)")" >"$RES/build.log"
fi
if [ -z "$BIN" ] && [ "${KERNELS_ONLY:-0}" != 1 ] && [ -e "$BUNDLE" ]; then
    {
        echo "== the carried bundle ($BUNDLE, from bench/gpu-bundle.sh)"
        # tar needs the xz program for -J; Python's tarfile has lzma built in
        rm -rf "$BUILD/bundle" && mkdir -p "$BUILD/bundle" && { tar -C "$BUILD/bundle" -xJf "$BUNDLE" ||
            $PY -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$BUNDLE" "$BUILD/bundle"; } &&
            cat "$BUILD/bundle/BUNDLE_INFO" || echo "cannot unpack"
        here=$(bash "$SRC/bench/gpu-bundle-hash.sh" "$SRC")
        if [ "$here" != "$(cat "$BUILD/bundle/SOURCE_HASH" 2>/dev/null)" ]; then
            echo "STALE: the bundle was built from other sources than this tree (run bench/gpu-bundle.sh again)"
        else
            # CUDA's libraries from this machine: the toolkit's, else PyTorch's pip wheels (nvidia-*)
            for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
                ldconfig -p | grep -q "$lib " && continue
                f=$(ls "$CUDA_HOME"/lib64/$lib "$CUDA_HOME"/targets/*/lib/$lib 2>/dev/null | head -1)
                [ -n "$f" ] || f=$(find $($PY -c 'import nvidia, os; print(" ".join(nvidia.__path__))' 2>/dev/null) \
                    -name "$lib" 2>/dev/null | head -1)
                [ -n "$f" ] && export LD_LIBRARY_PATH=$(dirname "$f")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
                echo "$lib: ${f:-from ldconfig or missing}"
            done
            echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
            missing=$(for b in "$BUILD"/bundle/bin/*; do ldd "$b"; done | grep "not found" | sort -u)
            if [ -n "$missing" ]; then echo "UNRESOLVED: $missing"; else echo "BUNDLE_OK"; fi
        fi
    } >>"$RES/build.log" 2>&1
    if grep -q BUNDLE_OK "$RES/build.log"; then
        BIN=$BUILD/bundle/bin MODE=bundle
        export LD_LIBRARY_PATH  # for every program below (CUDA's libraries only)
    fi
fi
if [ -z "$BIN" ]; then
    # kernels-only build: nvcc + gcc, no MPI / yaml / jansson needed
    {
        echo "== kernels-only build (the CMake build failed above, or KERNELS_ONLY=1)"
        K=$BUILD/kernels
        mkdir -p "$K/obj"
        DEFS="-DEIR_HAVE_CUDA=1 -D_POSIX_C_SOURCE=200809L"
        BLAS_CFLAGS="-I$SRC/tests/gpu/fallback" BLAS_LIBS="" BLAS_OBJ="$SRC/tests/gpu/fallback/cblas_ref.c"
        if pkg-config --exists openblas 2>/dev/null; then
            BLAS_CFLAGS=$(pkg-config --cflags openblas) BLAS_LIBS=$(pkg-config --libs openblas) BLAS_OBJ=""
        fi
        ok=1
        ls "$SRC"/src/model/*.cu | xargs -P "$JOBS" -I{} sh -c \
            "'$NVCC' -O3 -std=c++17 -gencode=arch=compute_$ARCH,code=sm_$ARCH -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter \
             $DEFS -I'$SRC/src' -I'$CUBLAS_INC' -c {} -o '$K/obj/'\$(basename {} .cu).cu.o" || ok=0
        for c in "$SRC"/src/model/layers_*.c "$SRC"/src/common/rng.c "$SRC"/src/common/util.c \
            "$SRC"/src/train/optimizer.c $BLAS_OBJ; do
            gcc -std=c11 -O2 -fopenmp -Wall -Wextra -Wno-unused-parameter $DEFS -I"$SRC/src" $BLAS_CFLAGS \
                -c "$c" -o "$K/obj/$(basename "$c" .c).o" || ok=0
        done
        for t in test_gpu_kernels bench_gpu_kernels; do
            gcc -std=c11 -O2 -fopenmp -Wall -Wextra -Wno-unused-parameter $DEFS -I"$SRC/src" -I"$SRC/tests" \
                -c "$SRC/tests/gpu/$t.c" -o "$K/$t.o" || ok=0
        done
        LIBS="-L$CUDA_HOME/lib64 -lcudart $CUBLAS_LIB -Wl,-rpath,$(dirname "$CUBLAS_LIB"):$CUDA_HOME/lib64 $BLAS_LIBS -fopenmp -lm"
        g++ "$K/test_gpu_kernels.o" "$K"/obj/*.o $LIBS -o "$K/test_gpu_kernels" || ok=0
        g++ "$K/bench_gpu_kernels.o" "$K"/obj/*.o $LIBS -o "$K/eir-bench-gpu-kernels" || ok=0
        [ $ok = 1 ] && echo "KERNELS_BUILD_OK"
    } >>"$RES/build.log" 2>&1
    grep -q KERNELS_BUILD_OK "$RES/build.log" && BIN=$BUILD/kernels MODE=kernels-only
fi
if [ -z "$BIN" ]; then
    note "BUILD FAILED after ${SECONDS}s: see build.log"
    tail -40 "$RES/build.log"
    exit 1
fi
note "build: $MODE in ${SECONDS}s (arch $ARCH)"
grep -iE "warning" "$RES/build.log" | head -20

# ---- 2. tests ------------------------------------------------------------------------------------------
{
    echo "== test_gpu_kernels"
    "$BIN/test_gpu_kernels"
    echo "exit code $?"
    if [ "$MODE" != kernels-only ]; then
        echo "== test_gpu_model (whole model and 30 training steps vs the CPU; tf32 / bf16 bounds)"
        timeout 180 "$BIN/test_gpu_model"
        echo "exit code $?"
        echo "== test_gpu_nccl (one rank)"
        timeout 120 "$BIN/test_gpu_nccl"
        echo "exit code $?"
        echo "== tests/gpu/cli_train_cuda.sh (eir-dist --device cuda vs cpu, resume, predict, NCCL vs MPI)"
        timeout 240 bash "$SRC/tests/gpu/cli_train_cuda.sh" "$BIN" "$SRC"
        echo "exit code $?"
    fi
} >"$RES/tests.txt" 2>&1
grep -E "FAIL|check\(s\) failed|SKIP|exit code|emu:|error|^ok:|worst|steps" "$RES/tests.txt" | head -60
note "tests: $(grep -c ' ok ' "$RES/tests.txt") kernel checks ok, $(grep -c ' FAIL \|^FAIL' "$RES/tests.txt") failed; $(grep 'exit code' "$RES/tests.txt" | tr '\n' ' ')"

# ---- 3. benchmarks -----------------------------------------------------------------------------------------
{
    if [ "$MODE" != kernels-only ]; then
        for b in 64 256; do
            for m in fp32 tf32 bf16; do
                [ "$(left)" -gt 150 ] || { echo "skipped eir-dist batch $b $m: time budget"; continue; }
                echo "== eir-bench-train --device cuda --batch $b --math $m"
                timeout 120 "$BIN/eir-bench-train" --device cuda --batch $b --math $m --train-steps 20 --infer-steps 20
            done
        done
    fi
    # EIR's model as EIR runs it on torch 2.x (torch's RMSNorm and scaled_dot_product_attention):
    # the baseline; the spelled-out forms of eir_model.py at batch 256 for context (and as the
    # baseline should torch's own ops fail here)
    torch_bench() { LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH timeout 150 $PY tools/reference/bench_torch.py --device cuda \
        --train-steps 20 --infer-steps 20 --warmup 3 "$@"; }
    echo "== PyTorch baseline ($PY tools/reference/bench_torch.py --device cuda, fp32, TF32 off)"
    for b in 64 256; do
        [ "$(left)" -gt 120 ] || { echo "skipped batch $b: time budget"; continue; }
        torch_bench --batch $b --infer-batches $b --ops native || torch_bench --batch $b --infer-batches $b --ops reference
    done
    [ "$(left)" -gt 150 ] && torch_bench --batch 256 --infer-batches 256 --ops reference
    [ "$(left)" -gt 100 ] && { echo "== eir-bench-gpu-kernels (tutorial sizes; plain fp32)";
        timeout 90 "$BIN/eir-bench-gpu-kernels" --batch 64 --batch 256; }
} >"$RES/bench.txt" 2>&1
cat "$RES/bench.txt"
grep '^{' "$RES/bench.txt" >>"$SUMMARY"
# eir-dist / PyTorch ratios, same GPU, same run (fp32 vs fp32; tf32 and bf16 against fp32 PyTorch)
$PY - "$RES/bench.txt" <<'PYEOF' | tee -a "$SUMMARY"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for kind in ("native", "reference"):  # PyTorch with torch's own ops (EIR as it runs), then spelled out
    torch = {r["batch"]: r for r in rows if "torch" in r and r.get("ops", "reference").startswith(kind)}
    for r in rows:
        if "math" not in r or r["batch"] not in torch:
            continue
        t = torch[r["batch"]]
        print("ratio batch %d %s vs PyTorch fp32 (%s ops): training %.2fx (%.0f vs %.0f samples/s), inference %.2fx "
              "(%.0f vs %.0f)" % (r["batch"], r["math"], kind, r["train_samples_per_s"] / t["train_samples_per_s"],
                                  r["train_samples_per_s"], t["train_samples_per_s"],
                                  r["infer_samples_per_s"] / t["infer_samples_per_s"], r["infer_samples_per_s"],
                                  t["infer_samples_per_s"]))
PYEOF

# ---- 4. where the GPU time goes: every kernel of a short run timed by Nsight Compute -----------------------
# One metric (the kernel's duration), the GPU's own clocks, warm caches: eir-dist's step (two warm-up
# and one measured training step, three inference batches) and PyTorch's (two training steps, two
# inference batches) at batch 256, fp32, grouped by kernel (bench/ncu_summary.py).
NCU=$(command -v ncu || ls "$CUDA_HOME"/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
{
    if [ -z "$NCU" ]; then
        echo "ncu: not available"
    elif [ "$MODE" = kernels-only ]; then
        echo "profile skipped: no eir-bench-train in a kernels-only build"
    elif [ "$(left)" -lt 110 ]; then
        echo "profile skipped: time budget"
    else
        NCU_ARGS=(--clock-control none --cache-control none --metrics gpu__time_duration.sum -f)
        timeout 70 "$NCU" "${NCU_ARGS[@]}" -o "$BUILD/prof-eir" "$BIN/eir-bench-train" --device cuda --batch 256 \
            --math fp32 --train-steps 1 --infer-steps 1 >"$BUILD/prof-eir.log" 2>&1 || tail -5 "$BUILD/prof-eir.log"
        "$NCU" --import "$BUILD/prof-eir.ncu-rep" --csv --page raw --metrics gpu__time_duration.sum >"$BUILD/prof-eir.csv" &&
            $PY bench/ncu_summary.py "$BUILD/prof-eir.csv" --label "eir-dist, batch 256, fp32 (3 training steps, 3 inference batches)"
        echo
        LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH timeout 90 "$NCU" "${NCU_ARGS[@]}" -o "$BUILD/prof-torch" $PY \
            tools/reference/bench_torch.py --device cuda --batch 256 --infer-batches 256 --train-steps 1 --infer-steps 1 --warmup 1 \
            >"$BUILD/prof-torch.log" 2>&1 || tail -5 "$BUILD/prof-torch.log"
        "$NCU" --import "$BUILD/prof-torch.ncu-rep" --csv --page raw --metrics gpu__time_duration.sum >"$BUILD/prof-torch.csv" &&
            $PY bench/ncu_summary.py "$BUILD/prof-torch.csv" --label "PyTorch, batch 256, fp32 (2 training steps, 2 inference batches)"
    fi
} >"$RES/profile.txt" 2>&1
head -30 "$RES/profile.txt"

# ---- 5. compute-sanitizer (bounded; skipped when time is short) -------------------------------------------
CS=$(command -v compute-sanitizer || ls "$CUDA_HOME/bin/compute-sanitizer" 2>/dev/null || true)
{
    if [ -z "$CS" ]; then
        echo "compute-sanitizer: not available"
    else
        if [ "$(left)" -gt 150 ]; then
            echo "== memcheck (all kernels)"
            timeout 140 "$CS" --tool memcheck --leak-check no "$BIN/test_gpu_kernels" 2>&1 | tail -25
        else echo "memcheck skipped: time budget"; fi
        if [ "$(left)" -gt 100 ]; then
            echo "== racecheck (the kernels with shared memory and barriers)"
            timeout 90 "$CS" --tool racecheck "$BIN/test_gpu_kernels" attention colsum embedding 2>&1 | tail -25
        else echo "racecheck skipped: time budget"; fi
        if [ "$(left)" -gt 60 ]; then
            echo "== synccheck"
            timeout 50 "$CS" --tool synccheck "$BIN/test_gpu_kernels" attention colsum embedding rmsnorm dropout 2>&1 | tail -10
        else echo "synccheck skipped: time budget"; fi
    fi
} >"$RES/sanitizer.txt" 2>&1
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|skipped|not available|Error" "$RES/sanitizer.txt" | head -10 | tee -a "$SUMMARY"
note "total ${SECONDS}s"
