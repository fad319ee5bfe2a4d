#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: the Release build's ctest suite, the unit
# tests with the CPU kernels fixed one level lower (AVX2 on an AVX-512 machine), the unit tests
# and the CLI tests (leak-checked) under AddressSanitizer + UndefinedBehaviorSanitizer, the
# libFuzzer drivers of tests/fuzz (10 s each, clang), the CUDA backend's tests (ctest -L gpu-emu)
# on the CPU emulation of CUDA (tests/gpu/emu), which needs no GPU, the suite once more in a build
# without MPI (EIR_MPI=OFF: one process), and, where nvcc is present, bench/gpu-bundle.sh (the
# CUDA programs built that way, packed and run from the pack).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/install-deps.sh
jobs=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

echo "== Release build + ctest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

# The CPU kernels are built for AVX-512, AVX2+FMA and baseline x86-64 and one is picked at load
# time (src/model/simd.h): the suite above ran the one this CPU picks; the unit tests (gradient
# checks, golden, batch invariance) run again with the next lower level fixed at build time.
if grep -qw avx512f /proc/cpuinfo; then KLEVEL=x86-64-v3; else KLEVEL=x86-64; fi
echo "== kernels fixed at $KLEVEL (EIR_KERNEL_LEVEL) + unit tests"
cmake -S . -B build-kernels -DCMAKE_BUILD_TYPE=Release -DEIR_KERNEL_LEVEL=$KLEVEL -DEIR_CUDA=OFF >/dev/null
cmake --build build-kernels -j"$jobs" --target unit-tests
(cd build-kernels && ctest --output-on-failure -j"$jobs" -L unit)

echo "== ASan/UBSan build: unit tests, then the CLI tests (train, resume, predict, serve, crops, global stage) under LeakSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEIR_SANITIZE=ON -DEIR_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -L unit)
# Every program a CLI test starts exits leak-free: tests/lsan.supp names only third-party
# libraries (Open MPI and what it loads); full stacks (fast_unwind_on_malloc=0) and Open MPI's
# components kept loaded let those suppressions match their frames.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp OMPI_MCA_mca_base_component_disable_dlclose=1 \
  ctest --output-on-failure -R '^cli_(train_resume|serve|crops|global_stage|dry_run|dist_invariance|dist_failure)$')

echo "== fuzzing: each libFuzzer driver of tests/fuzz for 10 s (ASan + UBSan), seeds and regression inputs first"
bash tests/fuzz/run.sh --seconds 10

echo "== CUDA backend on the CPU emulation (EIR_CUDA=EMU, tests/gpu/emu) + GPU tests"
cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEIR_CUDA=EMU >/dev/null
cmake --build build-emu -j"$jobs" --target gpu-tests  # what ctest -L gpu-emu runs, not the rest
(cd build-emu && ctest --output-on-failure -j"$jobs" -L gpu-emu)

echo "== one-process build without MPI (EIR_MPI=OFF) + ctest"
cmake -S . -B build-single -DCMAKE_BUILD_TYPE=Release -DEIR_MPI=OFF -DEIR_CUDA=OFF >/dev/null
cmake --build build-single -j"$jobs"
(cd build-single && ctest --output-on-failure -j"$jobs" -LE ops)

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
  echo "== the GPU bundle (bench/gpu-bundle.sh: CUDA programs without MPI, with their libraries, for bench/gpu.sh)"
  bash bench/gpu-bundle.sh
fi

echo "== all tests passed"
