#!/usr/bin/env bash
# eir-dist's CPU training and inference throughput against the strongest PyTorch baseline of this
# machine, with the machine's sgemm ceiling, measured in one run: interleaved, repeated rounds
# (default 5), medians with min and max, every PyTorch thread count and allocator, natively and
# restricted to AVX2. Writes a Markdown report to stdout (and --out FILE); bench/train_bench.py
# says what is measured and how. Builds what it needs first: BUILD (Release) and BUILD-avx2
# (the kernels fixed at x86-64-v3).
# Usage: bench/train_bench.sh [--build DIR] [--isa native|avx2|both] [--rounds N] [--threads T]
#                             [--batch B] [--infer-batches 1,8,64] [--allocators a,b] [--out FILE]
# Needs Debian's python3-torch (scripts/install-deps.sh --reference). About 20 minutes per ISA
# setting on a 2-core machine with the defaults; --rounds 1 --isa native for a quick look.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = --build ] && BUILD=${args[$((i + 1))]}
done
jobs=$(nproc)
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "train_bench: Debian's python3-torch is missing: bash scripts/install-deps.sh --reference" >&2; exit 2; }
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target eir-bench-train -j"$jobs" >/dev/null
if grep -qw avx512f /proc/cpuinfo; then  # the AVX2 path, measured on this AVX-512 machine
  [ -f "$BUILD-avx2/CMakeCache.txt" ] || cmake -S . -B "$BUILD-avx2" -DCMAKE_BUILD_TYPE=Release \
    -DEIR_KERNEL_LEVEL=x86-64-v3 -DEIR_CUDA=OFF >/dev/null
  cmake --build "$BUILD-avx2" --target eir-bench-train -j"$jobs" >/dev/null
fi
exec /usr/bin/python3 bench/train_bench.py "$@"
