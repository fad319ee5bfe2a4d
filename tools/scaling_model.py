#!/usr/bin/env python3
"""Data-parallel scaling model for eir-dist (docs/scaling.md): per-step compute time vs ring
all-reduce time of the fp32 gradient buffer, T_ar = 2(N-1)*alpha + 2(N-1)/N * bytes / bandwidth.

    python3 tools/scaling_model.py [--step-ms T1] [--params P] [--per-gpu-batch 64]

T1 is the one-GPU step time at the per-GPU batch; without --step-ms it is estimated from the
model's FLOPs at an assumed sustained rate (see --tflops). Weak scaling: every GPU keeps its batch,
so compute per step stays T1 and the all-reduce is added (or hidden by the bucket overlap up to T1's
backward share)."""
import argparse


def flops_per_sample(L=1024, d=64, W=128, layers=4, ffn=256, fusion_in=512, fusion=256, head=256, K=2):
    windows = -(-L // W)
    per_window_layer = (2 * W * d * 3 * d + 2 * W * d * d  # q,k,v and out projections
                        + 2 * 2 * W * W * d                # QK^T and PV
                        + 2 * W * d * 2 * ffn + 2 * W * ffn * d)  # SwiGLU w1,w2 and w3
    transformer = windows * layers * per_window_layer
    mlp = 2 * (2 * fusion_in * fusion + fusion_in * fusion) + 2 * 2 * fusion * fusion * 1 + 2 * (4 * 2 * head * head) + 2 * head * K
    fwd = transformer + mlp
    return 3 * fwd  # forward + backward (2x)


def allreduce_s(n, nbytes, bw_gbs, alpha_us):
    if n == 1:
        return 0.0
    return 2 * (n - 1) * alpha_us * 1e-6 + 2 * (n - 1) / n * nbytes / (bw_gbs * 1e9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--step-ms", type=float, default=None, help="measured one-GPU step time (ms) of the tutorial model")
    ap.add_argument("--tflops", type=float, default=20.0, help="sustained TFLOP/s assumed when no step time is given")
    ap.add_argument("--per-gpu-batch", type=int, default=64)
    ap.add_argument("--backward-share", type=float, default=2 / 3, help="part of a step that backward takes (overlap window)")
    a = ap.parse_args()
    links = [("NVLink (H100/H200 NVSwitch, ~400 GB/s bus bandwidth, 3 us)", 400.0, 3.0),
             ("100 Gb/s network (12.5 GB/s, 10 us)", 12.5, 10.0)]
    models = [("tutorial model", 1_069_634, 1.0), ("10x larger model", 10_696_340, 10.0)]
    f = flops_per_sample()
    for mname, params, scale in models:
        nbytes = 4 * params
        if a.step_ms is not None:
            t1 = a.step_ms * 1e-3 * scale
            how = f"measured {a.step_ms:.2f} ms x {scale:g}"
        else:
            t1 = f * scale * a.per_gpu_batch / (a.tflops * 1e12)
            how = f"estimated: {f * scale / 1e9:.2f} GFLOP/sample x {a.per_gpu_batch} at {a.tflops:g} TFLOP/s"
        print(f"\n### {mname}: {params:,} parameters, {nbytes / 2**20:.1f} MiB of fp32 gradients; one-GPU step {t1 * 1e3:.2f} ms ({how})\n")
        for lname, bw, alpha in links:
            print(f"{lname}:\n")
            print("| GPUs | all-reduce ms | step ms, no overlap | efficiency | step ms, overlapped | efficiency |")
            print("|---:|---:|---:|---:|---:|---:|")
            for n in (1, 2, 4, 8, 16, 32, 64):
                ar = allreduce_s(n, nbytes, bw, alpha)
                plain = t1 + ar
                hidden = min(ar, a.backward_share * t1)
                over = t1 + ar - hidden
                print(f"| {n} | {ar * 1e3:.3f} | {plain * 1e3:.2f} | {t1 / plain:.0%} | {over * 1e3:.2f} | {t1 / over:.0%} |")
            print()


if __name__ == "__main__":
    main()
