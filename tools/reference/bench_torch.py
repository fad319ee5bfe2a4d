#!/usr/bin/python3
"""bench_torch.py: PyTorch throughput of the tutorial model, the baseline eir-dist is measured against.

  /usr/bin/python3 tools/reference/bench_torch.py [--threads 2] [--batch 64]
      [--train-steps 3] [--infer-steps 4] [--warmup 1] [--device cpu|cuda]

Training = one EIR iteration per step (spec §4): train mode (dropout 0.1, stochastic depth 0.1),
embedding lookup, mixup on embeddings (alpha 0.5, as the tutorial), forward, CE loss, backward,
clip_grad_norm_(1.0), AdamW (lr 3e-4, wd 1e-4 on >=2-D params). Inference = eval mode, no grad,
lookup + forward + softmax. Random byte tokens (0..255) with random <pad> tails, random labels.
Warm-up steps are excluded. --device cuda runs the same model on the GPU in fp32 (TF32 matmuls
off, torch's default) with torch's fused AdamW (EIR's optimizer on a GPU), synchronising before
each clock read. --ops (default auto): torch's own RMSNorm and scaled_dot_product_attention where
torch has them (>= 2.4), as EIR runs, else eir_model.py's spelled-out forms. Prints one JSON line:
  {"train_samples_per_s": .., "infer_samples_per_s": .., "threads": .., "torch": .., ...}
At ~4-8 training samples/s on 2 cores (torch 1.13) the defaults take 1-2 minutes.
"""
import argparse
import json
import os
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=3, help="measured training steps")
    ap.add_argument("--infer-steps", type=int, default=4, help="measured inference batches")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured steps before each phase")
    ap.add_argument("--mixing-alpha", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--ops", choices=["auto", "native", "reference"], default="auto",
                    help="native: torch's RMSNorm and scaled_dot_product_attention, as EIR runs on torch 2.x; "
                         "reference: the spelled-out forms of eir_model.py (torch 1.13); auto: native where available")
    args = ap.parse_args()
    native = args.ops == "native" or (args.ops == "auto" and em.native_ops_available())
    em.use_native_ops(native)

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch.py: --device cuda but torch sees no GPU")
    cfg = em.tutorial_config()
    model = em.build_model(cfg, seed=args.seed).to(dev)
    if args.device == "cuda":
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=3e-4, betas=(0.9, 0.999), eps=1e-8, fused=True)
    else:
        opt = em.make_optimizer(model, lr=3e-4, wd=1e-4)
    g = torch.Generator().manual_seed(args.seed + 1)
    tokens, labels = random_batch(cfg, args.batch, g)
    tokens = {k: v.to(dev) for k, v in tokens.items()}
    labels = {o: {c: v.to(dev) for c, v in cols.items()} for o, cols in labels.items()}

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def one_train_step():
        mix = None
        if args.mixing_alpha > 0:
            mix = em.sample_mixup(args.mixing_alpha, args.batch)
        em.train_step(model, opt, tokens, labels, lr=3e-4, clip=1.0, mix=mix)

    for _ in range(args.warmup):
        one_train_step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.train_steps):
        one_train_step()
    sync()
    train_s = time.perf_counter() - t0

    model.eval()
    with torch.no_grad():
        ops_diff = None
        if native:  # the same model either way: eval-mode logits, native vs spelled-out ops
            em.use_native_ops(False)
            ref = model(model.embed(tokens))
            em.use_native_ops(True)
            nat = model(model.embed(tokens))
            ops_diff = max(float((nat[o][c] - ref[o][c]).abs().max()) for o in ref for c in ref[o])

        def one_infer():
            outs = model(model.embed(tokens))
            for cols in outs.values():
                for lg in cols.values():
                    torch.softmax(lg, dim=-1)
        for _ in range(args.warmup):
            one_infer()
        sync()
        t0 = time.perf_counter()
        for _ in range(args.infer_steps):
            one_infer()
        sync()
        infer_s = time.perf_counter() - t0

    res = {
        "train_samples_per_s": round(args.batch * args.train_steps / train_s, 3),
        "infer_samples_per_s": round(args.batch * args.infer_steps / infer_s, 3),
        "threads": args.threads,
        "device": torch.cuda.get_device_name(dev) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "ops": "native (F.rms_norm, F.scaled_dot_product_attention)" if native else "reference (spelled out)",
        "ops_logits_max_abs_diff": ops_diff,
        "batch": args.batch,
        "train_steps": args.train_steps,
        "infer_steps": args.infer_steps,
        "warmup": args.warmup,
        "parameters": em.count_parameters(model),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
