#!/usr/bin/python3
"""make_golden.py: writes the golden fixtures the C model is checked against.

  /usr/bin/python3 tools/reference/make_golden.py [--out-dir tests/fixtures/golden]

Writes tiny.safetensors (pool avg, position embed, no mixup) and tiny_mixup.safetensors
(pool max, position encode, mixup with a fixed lambda and permutation, 3 fusion blocks, head
width != fusion width). Every dropout and stochastic-depth rate is 0 so the result is
deterministic; float32 throughout (plus a float64 forward of the same weights for reference).
Contents are listed in tools/reference/README.md and in each file's __metadata__["config"].
"""
import argparse
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eir_model as em  # noqa: E402
from st_io import read_safetensors, write_safetensors  # noqa: E402

STEPS = 10
TRAIN = dict(steps=STEPS, lr=1e-2, lr_lb=0.0, b1=0.9, b2=0.999, eps=1e-8, wd=1e-2,
             gradient_clipping=0.6, warmup_steps=3)


def tiny_config(variant: str) -> em.ModelConfig:
    if variant == "tiny":
        inp = em.InputSpec(input_name="tiny_bytes", max_length=10, embedding_dim=8,
                           position="embed", position_dropout=0.0, window_size=4, pool="avg",
                           num_heads=2, num_layers=2, dim_feedforward=0, dropout=0.0)
        fusion = em.FusionSpec(layers=2, fc_task_dim=16, rb_do=0.0, fc_do=0.0,
                               stochastic_depth_p=0.0)
        out = em.OutputSpec(output_name="tiny_output", target_cat_columns=["Sentiment", "Origin"],
                            num_classes=[2, 3], layers=2, fc_task_dim=16, rb_do=0.0, fc_do=0.0,
                            stochastic_depth_p=0.0)
    elif variant == "tiny_mixup":
        inp = em.InputSpec(input_name="tiny_bytes", max_length=10, embedding_dim=8,
                           position="encode", position_dropout=0.0, window_size=4, pool="max",
                           num_heads=2, num_layers=2, dim_feedforward=0, dropout=0.0)
        fusion = em.FusionSpec(layers=3, fc_task_dim=16, rb_do=0.0, fc_do=0.0,
                               stochastic_depth_p=0.0)
        out = em.OutputSpec(output_name="tiny_output", target_cat_columns=["Sentiment", "Origin"],
                            num_classes=[2, 3], layers=2, fc_task_dim=12, rb_do=0.0, fc_do=0.0,
                            stochastic_depth_p=0.0)
    else:
        raise ValueError(variant)
    # all dimensions explicit in the stored config: dim_feedforward auto -> 4d
    inp.dim_feedforward = inp.ffn_dim()
    return em.ModelConfig(inputs=[inp], fusion=fusion, outputs=[out])


def tiny_batch(cfg: em.ModelConfig):
    g = torch.Generator().manual_seed(1234)
    spec = cfg.inputs[0]
    b = 4
    tokens = torch.randint(0, 256, (b, spec.max_length), generator=g, dtype=torch.int64)
    tokens[2, 6:] = em.PAD_TOKEN  # a short "file", right-padded with <pad> (spec §2.2)
    tokens[3, 9] = em.PAD_TOKEN
    labels = OrderedDict()
    labels["Sentiment"] = torch.tensor([0, 1, 1, 0], dtype=torch.int64)
    labels["Origin"] = torch.tensor([2, -1, 0, 1], dtype=torch.int64)  # sample 1 missing
    return {spec.input_name: tokens}, {cfg.outputs[0].output_name: labels}


def forward_loss(model, tokens, labels, mix):
    emb = model.embed(tokens)
    if mix is not None:
        emb = em.mixup_embeddings(emb, mix[0], mix[1])
    outs, feats, fused = model(emb, return_features=True)
    loss, per = em.compute_loss(outs, labels, mix)
    return outs, feats, fused, loss, per


def run_reference(model, tokens, labels, mix, t):
    """Forward + backward at the current weights, then STEPS AdamW steps on the same batch.
    Leaves `model` trained; returns a dict of tensors (dtype of the model)."""
    r = OrderedDict()
    model.train()
    model.zero_grad(set_to_none=False)
    outs, feats, fused, loss, per = forward_loss(model, tokens, labels, mix)
    loss.backward()
    r["outs"], r["feats"], r["fused"], r["loss"], r["per"] = outs, feats, fused, loss.detach(), per
    r["grads"] = OrderedDict((n, p.grad.detach().clone()) for n, p in model.named_parameters())
    opt = em.make_optimizer(model, lr=t["lr"], wd=t["wd"], b1=t["b1"], b2=t["b2"], eps=t["eps"])
    losses, norms, lrs = [], [], []
    for step in range(1, STEPS + 1):
        lr = em.warmup_lr_for_step(step, t["lr"], t["lr_lb"], t["warmup_steps"])
        loss_s, gn, _ = em.train_step(model, opt, tokens, labels, lr, t["gradient_clipping"], mix)
        losses.append(float(loss_s))
        norms.append(float(gn))
        lrs.append(lr)
    r["losses"], r["norms"], r["lrs"] = losses, norms, lrs
    r["params_after"] = OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())
    with torch.no_grad():
        outs_after, _, _, loss_after, _ = forward_loss(model, tokens, labels, mix)
    r["outs_after"], r["loss_after"] = outs_after, loss_after.detach()
    return r


def _rel(a, b):
    """max |a - b| / max |b| (0 when b == 0 everywhere)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = np.abs(b).max()
    return float(np.abs(a - b).max() / s) if s > 0 else float(np.abs(a).max())


def make(variant: str, out_path: str, seed: int = 0) -> dict:
    torch.set_num_threads(1)
    cfg = tiny_config(variant)
    model = em.build_model(cfg, seed=seed)
    em.set_dropout_zero(model)
    tokens, labels = tiny_batch(cfg)
    mix = None
    if variant == "tiny_mixup":
        # lambda chosen so that lambda and 1 - lambda are exact in float32 and float64
        mix = (0.625, torch.tensor([2, 0, 3, 1], dtype=torch.int64))
    in_name = cfg.inputs[0].input_name
    out_name = cfg.outputs[0].output_name
    t = TRAIN

    init_sd = em.state_dict_numpy(model)
    params0 = OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())
    m64 = em.to_float64_same_function(model)  # float64 twin of the same initial weights
    r = run_reference(model, tokens, labels, mix, t)
    r64 = run_reference(m64, tokens, labels, mix, t)

    out = OrderedDict()
    for k, v in init_sd.items():
        out[k] = v
    out[f"tokens.{in_name}"] = tokens[in_name].to(torch.int32)
    for col, y in labels[out_name].items():
        out[f"labels.{out_name}.{col}"] = y.to(torch.int32)
    if mix is not None:
        out["mixup.lambda"] = np.array(mix[0], dtype=np.float32)
        out["mixup.perm"] = mix[1].to(torch.int32)
    out[f"act.{in_name}.features"] = r["feats"][in_name].detach()
    out["act.fusion"] = r["fused"].detach()
    for col, lg in r["outs"][out_name].items():
        out[f"logits.{out_name}.{col}"] = lg.detach()
    for (o, col), v in r["per"].items():
        out[f"loss.{o}.{col}"] = v.detach().reshape(())
    out["loss"] = r["loss"].reshape(())
    for name, g in r["grads"].items():
        out[f"grad.{name}"] = g
    for col, lg in r64["outs"][out_name].items():
        out[f"logits_f64.{out_name}.{col}"] = lg.detach()
    out["loss_f64"] = r64["loss"].reshape(())
    out["train.loss"] = np.array(r["losses"], dtype=np.float32)
    out["train.grad_norm"] = np.array(r["norms"], dtype=np.float32)
    out["train.lr"] = np.array(r["lrs"], dtype=np.float64)
    for k, v in r["params_after"].items():
        out[f"step10.{k}"] = v
    for col, lg in r["outs_after"][out_name].items():
        out[f"step10.logits.{out_name}.{col}"] = lg.detach()
    out["step10.loss"] = r["loss_after"].reshape(())

    # float32 vs float64 (same function): the rounding noise any float32 implementation has
    prec = OrderedDict()
    prec["logits"] = max(_rel(r["outs"][out_name][c].detach(), r64["outs"][out_name][c].detach())
                         for c in r["outs"][out_name])
    prec["loss"] = _rel(r["loss"], r64["loss"])
    prec["grads_worst_tensor"] = max(_rel(r["grads"][n], r64["grads"][n]) for n in r["grads"])
    prec["train_loss"] = _rel(r["losses"], r64["losses"])
    prec["step10_params_vs_update"] = max(
        _rel(r["params_after"][n] - params0[n], r64["params_after"][n] - params0[n].double())
        for n in params0)
    prec["step10_logits"] = max(_rel(r["outs_after"][out_name][c], r64["outs_after"][out_name][c])
                                for c in r["outs_after"][out_name])

    norms, lrs = r["norms"], r["lrs"]
    n_clipped = sum(1 for n in norms if n > t["gradient_clipping"])
    num_params = em.count_parameters(model)
    config = cfg.to_json_dict()
    config["derived"] = {
        "num_parameters": num_params,
        "inputs": [{"input_name": s.input_name, "num_chunks": s.num_chunks(),
                    "front_padding": s.front_padding(), "num_out_features": s.num_out_features(),
                    "head_dim": s.embedding_dim // s.num_heads} for s in cfg.inputs],
        "fusion_in_dim": sum(s.num_out_features() for s in cfg.inputs),
        "rope_theta": em.ROPE_THETA,
        "rmsnorm_eps": float(torch.finfo(torch.float32).eps),
        "vocab_size": em.VOCAB_SIZE,
        "pad_token": em.PAD_TOKEN,
    }
    config["batch"] = {"batch_size": 4, "same_batch_every_step": True}
    config["training"] = dict(t)
    config["training"].update({
        "optimizer": "adamw (torch.optim.AdamW, foreach=False), weight decay only on >=2-D params",
        "mixup_lambda": None if mix is None else mix[0],
        "mixup_perm": None if mix is None else [int(i) for i in mix[1]],
        "lr_per_step": lrs,
        "steps_clipped": [i + 1 for i, n in enumerate(norms) if n > t["gradient_clipping"]],
    })
    config["float32_vs_float64_max_rel_diff"] = prec
    config["seed"] = seed
    config["torch"] = torch.__version__
    config["variant"] = variant
    meta = OrderedDict(config=json.dumps(config),
                       generator="tools/reference/make_golden.py",
                       format="eir-dist golden fixture v1")
    write_safetensors(out_path, out, meta)

    # sanity: read back and compare
    back, md = read_safetensors(out_path)
    assert sorted(back.keys()) == sorted(out.keys())
    for k, v in out.items():
        a = v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)
        assert a.shape == back[k].shape and np.array_equal(back[k], a), k
    assert json.loads(md["config"])["derived"]["num_parameters"] == num_params

    size = os.path.getsize(out_path)
    print(f"{out_path}: {len(out)} tensors, {size} bytes, {num_params} params")
    print(f"  loss {float(r['loss']):.7f} (float64 {float(r64['loss']):.9f})")
    print(f"  per-step loss {['%.4f' % x for x in r['losses']]}")
    print(f"  grad norm before clipping {['%.3f' % x for x in norms]}")
    print(f"  clipped at steps {config['training']['steps_clipped']} (max norm "
          f"{t['gradient_clipping']}); lr {['%.5f' % x for x in lrs]}")
    print("  float32 vs float64 max rel diff: " + ", ".join(f"{k} {v:.1e}" for k, v in prec.items()))
    if n_clipped == 0 or n_clipped == STEPS:
        raise SystemExit("clipping must trigger at some steps and not at others")
    return config


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out-dir", default=os.path.join(here, "..", "..", "tests", "fixtures", "golden"))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for variant in ("tiny", "tiny_mixup"):
        make(variant, os.path.join(args.out_dir, f"{variant}.safetensors"))


if __name__ == "__main__":
    main()
