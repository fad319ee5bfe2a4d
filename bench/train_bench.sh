#!/usr/bin/env bash
# Training and inference throughput of the tutorial model: eir-dist's CPU model vs the PyTorch
# reference model of the golden test (tools/reference/bench_torch.py), same batch, same threads,
# measured in the same run. Prints both, the ratios, and GFLOP/s against the sgemm peak.
# Usage: bench/train_bench.sh [BUILD_DIR] [THREADS] [BATCH]   (needs /usr/bin/python3 with torch:
# scripts/install-deps.sh --reference)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; T=${2:-2}; B=${3:-64}
cmake --build "$BUILD" --target eir-bench-train -j"$(nproc)" >/dev/null
echo "== eir-dist (C, OpenMP + OpenBLAS kernels)"
c=$("$BUILD/eir-bench-train" --threads "$T" --batch "$B" --train-steps 6 --infer-steps 6 | tee /dev/stderr | tail -1)
echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') reference model (tools/reference/eir_model.py)"
p=$(/usr/bin/python3 tools/reference/bench_torch.py --threads "$T" --batch "$B" --train-steps 3 --infer-steps 4 --warmup 1 | tail -1)
echo "$p"
/usr/bin/python3 - "$c" "$p" <<'PY'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print()
print(f"{'':26}{'eir-dist':>12}{'PyTorch':>12}{'ratio':>9}")
for k, name in (("train_samples_per_s", "training samples/s"), ("infer_samples_per_s", "inference samples/s")):
    print(f"{name:26}{c[k]:12.1f}{p[k]:12.1f}{c[k] / p[k]:8.1f}x")
print(f"threads {c['threads']}, batch {c['batch']}; eir-dist reaches {c['train_gflops']:.1f} GFLOP/s training and "
      f"{c['infer_gflops']:.1f} GFLOP/s inference of a {c['sgemm_peak_gflops']:.1f} GFLOP/s sgemm peak")
PY
