#!/usr/bin/env bash
# Long inputs with the global stage (issue 17 item 2): eir-bench-train's training and inference
# throughput and peak memory for the tutorial model (1 KiB, EIR's) next to the same local stage
# over 8 and 16 KiB with a global stage of 2 layers (4 heads, width 64) across its windows.
# Interleaved rounds (default 3), one process per shape and round (so each peak RSS is its own:
# the process's peak, i.e. training's); medians with min and max. Writes Markdown to stdout (and --out FILE).
# Usage: bench/long_inputs.sh [--build DIR] [--rounds N] [--threads T] [--out FILE]
# About 5 minutes on a 2-core machine with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build; ROUNDS=3; THREADS=$(nproc); OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "long_inputs: unknown argument $1 (see the header)" >&2; exit 2 ;;
  esac
done
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target eir-bench-train -j"$(nproc)" >/dev/null
# name max_length global_layers training_batch
SHAPES=("tutorial-1KiB 1024 0 64" "global-8KiB 8192 2 16" "global-16KiB 16384 2 8")
raw=$(mktemp); trap 'rm -f "$raw"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for s in "${SHAPES[@]}"; do
    read -r name L G B <<< "$s"
    line=$("$BUILD/eir-bench-train" --threads "$THREADS" --batch "$B" --infer-batches 1,8 --max-length "$L" \
           --global-layers "$G" --global-heads 4 --global-dim 64 --min-steps 3 --min-time 3 --warmup 1 | grep '^{')
    echo "$name $line" >> "$raw"
  done
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
kern=$("$BUILD/eir-bench-train" --sgemm --threads "$THREADS" | grep '^{')
/usr/bin/python3 - "$raw" "$ROUNDS" "$THREADS" "$cpu" "$kern" "$OUT" <<'PY'
import json, statistics, sys, datetime
raw, rounds, threads, cpu, sg, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5]), sys.argv[6]
rows = {}
for line in open(raw):
    name, js = line.split(" ", 1)
    rows.setdefault(name, []).append(json.loads(js))
def fmt(v):
    v = sorted(v); return f"{statistics.median(v):.2f} [{v[0]:.2f}-{v[-1]:.2f}]"
L = [f"Long inputs, {datetime.date.today()}: `bash bench/long_inputs.sh --rounds {rounds}` on {cpu}, {threads} thread(s), "
     f"kernels {rows[next(iter(rows))][0]['kernels']}; OpenBLAS sgemm 2048^3 ceiling {sg['sgemm_2048_gflops']:.1f} GFLOP/s "
     f"(same run). Medians [min-max] of {rounds} interleaved rounds.\n",
     "| model | max_length | global layers | forward GFLOP/sample | training batch | training samples/s | training KiB/s | training GFLOP/s | peak RSS training (MiB) | inference b1 samples/s | inference b8 samples/s |",
     "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for name, rs in rows.items():
    r0 = rs[0]
    tr = [r["train"]["samples_per_s"] for r in rs]
    kib = [x * r0["max_length"] / 1024 for x in tr]
    gf = [r["train"]["gflops"] for r in rs]
    rss = [r["train_peak_rss_mib"] for r in rs]
    b1 = [r["infer"]["1"]["samples_per_s"] for r in rs]
    b8 = [r["infer"]["8"]["samples_per_s"] for r in rs]
    L.append(f"| {name} | {r0['max_length']} | {r0['global_layers']} | {r0['forward_flops_per_sample']/1e9:.3f} | {r0['train']['batch']} | "
             f"{fmt(tr)} | {fmt(kib)} | {fmt(gf)} | {fmt(rss)} | {fmt(b1)} | {fmt(b8)} |")
text = "\n".join(L) + "\n"
sys.stdout.write(text)
if out:
    open(out, "w").write(text)
PY
