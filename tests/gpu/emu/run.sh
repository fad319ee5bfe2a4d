#!/usr/bin/env bash
# tests/gpu/emu/run.sh: runs the GPU kernel tests (tests/gpu/test_gpu_kernels.c) on a machine
# WITHOUT a GPU, with the CUDA kernels of src/model/*.cu compiled by g++ against the CPU emulation
# in this folder (cuda_runtime.h: fibers for threads, real barriers, emulated warp intrinsics,
# NaN-poisoned device and shared memory; cublas_v2.h: a reference sgemm). It checks the kernels'
# logic (indexing, layouts, masks, reduction orders, barrier placement) against the CPU layers;
# it says nothing about races, speed, fma contraction or the real cuBLAS: the GPU run
# (bench/gpu.sh) remains the real test.
#
#   tests/gpu/emu/run.sh [WORK_DIR]          EMU_ASAN=1: with AddressSanitizer (slower)
#
# Needs g++ and gcc with OpenMP, OpenBLAS (pkg-config openblas) and MPI's headers; not nvcc, not a
# GPU. The same rewrite (rewrite.pl) builds the whole library against the emulation, with every GPU
# test: cmake -DEIR_CUDA=EMU (tests/gpu/README.md); this script stays the quick kernels-only check.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/eir-cuda-emu.XXXXXX)}
mkdir -p "$WORK/cu" "$WORK/obj"
SAN=""
if [ "${EMU_ASAN:-0}" = 1 ]; then SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"; fi
BLAS_CFLAGS=$(pkg-config --cflags openblas)
BLAS_LIBS=$(pkg-config --libs openblas)
# nccl.h (NCCL over MPI) includes <mpi.h>: cuda_common.h includes nccl.h
MPI_CFLAGS=$(mpicc --showme:compile 2>/dev/null || pkg-config --cflags ompi-c 2>/dev/null || pkg-config --cflags mpich)
DEFS="-DEIR_HAVE_CUDA=1 -DEIR_CUDA_EMU=1 -D_POSIX_C_SOURCE=200809L -DEIR_VERSION=\"emu\""
WARN="-Wall -Wextra -Wno-unused-parameter"
CXXWARN="$WARN -Wno-unknown-pragmas"  # #pragma unroll is nvcc's
# No fma contraction anywhere: the emulated _rn intrinsics and the CPU layers then round alike.
CXXFLAGS="-std=c++17 -O2 -g -ffp-contract=off $CXXWARN $DEFS -D__CUDACC__ -I$SRC/tests/gpu/emu -I$SRC/src $MPI_CFLAGS $SAN"
CFLAGS="-std=c11 -O2 -g -fopenmp $WARN $DEFS -I$SRC/src -I$SRC/tests $BLAS_CFLAGS $SAN"

objs=()
for cu in "$SRC"/src/model/*.cu; do
    name=$(basename "$cu" .cu)
    # kernel<<<grid, block, smem, stream>>>(args)  ->  EMU_LAUNCH(kernel, grid, block, smem, stream)(args)
    perl "$SRC/tests/gpu/emu/rewrite.pl" "$cu" "$WORK/cu/$name.cpp"
    g++ $CXXFLAGS -iquote "$(dirname "$cu")" -c "$WORK/cu/$name.cpp" -o "$WORK/obj/$name.cu.o"
    objs+=("$WORK/obj/$name.cu.o")
done
for c in "$SRC"/src/model/layers_*.c "$SRC"/src/common/rng.c "$SRC"/src/common/util.c "$SRC"/src/train/optimizer.c \
    "$SRC"/tests/gpu/test_gpu_kernels.c; do
    name=$(basename "$c" .c)
    gcc $CFLAGS -c "$c" -o "$WORK/obj/$name.o"
    objs+=("$WORK/obj/$name.o")
done
g++ $SAN -fopenmp "${objs[@]}" $BLAS_LIBS -lm -o "$WORK/test_gpu_kernels_emu"
echo "running $WORK/test_gpu_kernels_emu (CPU emulation of the CUDA kernels)"
"$WORK/test_gpu_kernels_emu"
