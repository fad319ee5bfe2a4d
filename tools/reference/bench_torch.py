#!/usr/bin/python3
"""bench_torch.py: PyTorch throughput of the tutorial model, the baseline eir-dist is measured against.

  /usr/bin/python3 tools/reference/bench_torch.py [--threads N] [--batch 64] [--infer-batches 1,8,64]
      [--min-steps 3] [--min-time 2] [--warmup 1] [--mode both|train|infer] [--device cpu|cuda]
      [--train-steps N] [--infer-steps N]

The same phases and rules as eir-bench-train (bench/bench_train.c): inference at each of
--infer-batches, then training at --batch, each for at least --min-steps steps and --min-time
seconds after --warmup unmeasured ones (--train-steps / --infer-steps N: exactly N), and the
process's peak resident memory after each phase. bench/train_bench.sh runs it in every thread
count and allocator setting (the environment it is started in) and takes the best as the baseline.

Training = one EIR iteration per step (spec §4): train mode (dropout 0.1, stochastic depth 0.1),
zero_grad, embedding lookup, mixup on embeddings (alpha 0.5, as the tutorial), forward, CE loss,
backward, clip_grad_norm_(1.0), AdamW (lr 3e-4, wd 1e-4 on >=2-D params). Inference = eval mode
under torch.inference_mode() (cheaper than no_grad), lookup + forward + softmax. Random byte
tokens (0..255) with random <pad> tails, random labels.
Tuned as PyTorch's own performance guide advises for CPUs: torch.set_num_threads (and the
caller's OMP_NUM_THREADS), AdamW with foreach=True (the multi-tensor path: torch 1.13 has no CPU
fused AdamW; same update up to rounding), inference_mode; the allocator (glibc thresholds,
jemalloc, tcmalloc) is the caller's environment. --device cuda runs the same model on the GPU
in fp32 (TF32 matmuls off, torch's default) with torch's fused AdamW (EIR's optimizer on a GPU),
synchronising before each clock read. --ops (default auto): torch's own RMSNorm and
scaled_dot_product_attention where torch has them (>= 2.4), as EIR runs, else eir_model.py's
spelled-out forms. Prints one JSON line last:
  {"side": "pytorch", "threads": .., "infer": {"1": {"samples_per_s": ..}, ..}, "train": {..}, ..}
"""
import argparse
import ctypes
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eir_model as em  # noqa: E402


def random_batch(cfg: em.ModelConfig, batch: int, g: torch.Generator):
    tokens = {}
    for s in cfg.inputs:
        t = torch.randint(0, 256, (batch, s.max_length), generator=g, dtype=torch.int64)
        lengths = torch.randint(s.max_length // 4, s.max_length + 1, (batch,), generator=g)
        for i, n in enumerate(lengths.tolist()):
            t[i, n:] = em.PAD_TOKEN  # shorter files are right-padded (spec §2.2)
        tokens[s.input_name] = t
    labels = {}
    for o in cfg.outputs:
        labels[o.output_name] = {c: torch.randint(0, k, (batch,), generator=g)
                                 for c, k in zip(o.target_cat_columns, o.num_classes)}
    return tokens, labels


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def blas_core() -> str:
    """The OpenBLAS kernel set torch's BLAS (Debian: libblas.so.3 -> OpenBLAS) runs, if OpenBLAS."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "not OpenBLAS"


def run_phase(step, warmup, min_steps, min_time, sync):
    """warmup unmeasured steps, then measured ones until >= min_steps and >= min_time seconds."""
    for _ in range(warmup):
        step()
    sync()
    n, t0, dt = 0, time.perf_counter(), 0.0
    while n < min_steps or dt < min_time:
        step()
        sync()
        n += 1
        dt = time.perf_counter() - t0
    return dt, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64, help="training batch")
    ap.add_argument("--infer-batches", default="1,8,64")
    ap.add_argument("--min-steps", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured steps before each phase")
    ap.add_argument("--train-steps", type=int, default=0, help="exactly N measured training steps")
    ap.add_argument("--infer-steps", type=int, default=0, help="exactly N measured inference batches")
    ap.add_argument("--mode", choices=["both", "train", "infer"], default="both")
    ap.add_argument("--mixing-alpha", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--ops", choices=["auto", "native", "reference"], default="auto",
                    help="native: torch's RMSNorm and scaled_dot_product_attention, as EIR runs on torch 2.x; "
                         "reference: the spelled-out forms of eir_model.py (torch 1.13); auto: native where available")
    args = ap.parse_args()
    infer_batches = [int(b) for b in args.infer_batches.split(",") if b]
    native = args.ops == "native" or (args.ops == "auto" and em.native_ops_available())
    em.use_native_ops(native)

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch.py: --device cuda but torch sees no GPU")
    cfg = em.tutorial_config()
    model = em.build_model(cfg, seed=args.seed).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}]
    if args.device == "cuda":
        opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, fused=True)
    else:
        opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.999), eps=1e-8, foreach=True)
    g = torch.Generator().manual_seed(args.seed + 1)
    max_b = max([args.batch] + infer_batches)
    tokens, labels = random_batch(cfg, max_b, g)
    tokens = {k: v.to(dev) for k, v in tokens.items()}
    labels = {o: {c: v.to(dev) for c, v in cols.items()} for o, cols in labels.items()}

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def sliced(b):
        return ({k: v[:b] for k, v in tokens.items()},
                {o: {c: v[:b] for c, v in cols.items()} for o, cols in labels.items()})

    res = {"side": "pytorch", "threads": args.threads, "batch": args.batch, "torch": torch.__version__,
           "device": torch.cuda.get_device_name(dev) if args.device == "cuda" else "cpu",
           "blas_core": blas_core(), "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
           "ld_preload": os.environ.get("LD_PRELOAD", ""),
           "malloc_env": " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")),
           "ops": "native (F.rms_norm, F.scaled_dot_product_attention)" if native else "reference (spelled out)",
           "parameters": em.count_parameters(model)}
    exact_i, exact_t = args.infer_steps > 0, args.train_steps > 0

    if args.mode in ("both", "infer"):
        model.eval()
        res["infer"] = {}
        with torch.inference_mode():
            if native:  # the same model either way: eval-mode logits, native vs spelled-out ops
                tk, _ = sliced(min(max_b, 8))
                em.use_native_ops(False)
                ref = model(model.embed(tk))
                em.use_native_ops(True)
                nat = model(model.embed(tk))
                res["ops_logits_max_abs_diff"] = max(float((nat[o][c] - ref[o][c]).abs().max())
                                                     for o in ref for c in ref[o])
            for b in infer_batches:
                tk, _ = sliced(b)

                def one_infer():
                    outs = model(model.embed(tk))
                    for cols in outs.values():
                        for lg in cols.values():
                            torch.softmax(lg, dim=-1)
                s, n = run_phase(one_infer, args.warmup, args.infer_steps if exact_i else args.min_steps,
                                 0.0 if exact_i else args.min_time, sync)
                res["infer"][str(b)] = {"samples_per_s": round(b * n / s, 3), "steps": n, "seconds": round(s, 4)}
        res["infer_peak_rss_mib"] = round(peak_rss_mib(), 1)

    if args.mode in ("both", "train"):
        tk, lb = sliced(args.batch)

        def one_train_step():
            mix = em.sample_mixup(args.mixing_alpha, args.batch) if args.mixing_alpha > 0 else None
            em.train_step(model, opt, tk, lb, lr=3e-4, clip=1.0, mix=mix)
        s, n = run_phase(one_train_step, args.warmup, args.train_steps if exact_t else args.min_steps,
                         0.0 if exact_t else args.min_time, sync)
        res["train"] = {"batch": args.batch, "samples_per_s": round(args.batch * n / s, 3), "steps": n,
                        "seconds": round(s, 4)}
        res["train_peak_rss_mib"] = round(peak_rss_mib(), 1)
        # the keys bench/gpu.sh reads
        res["train_samples_per_s"] = res["train"]["samples_per_s"]
    if "infer" in res and str(args.batch) in res["infer"]:
        res["infer_samples_per_s"] = res["infer"][str(args.batch)]["samples_per_s"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
