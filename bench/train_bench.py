#!/usr/bin/python3
"""train_bench.py: eir-dist's CPU training and inference throughput against the strongest PyTorch
baseline this machine can run, with the machine's matrix-product ceiling, all measured in one run.
Run it through bench/train_bench.sh (which builds what it needs); see docs/performance.md.

Each round runs, in an order rotated from round to round (so that no side always runs first or
last, when the VM is warmest or coldest), one process of each of:
  - eir-bench-train --sgemm: OpenBLAS sgemm 2048^3 and the model's own layer GEMMs at T threads;
  - eir-bench-train: inference at --infer-batches, then a training step at --batch (T threads);
  - bench_torch.py, the PyTorch twin of the model, in every cell of: threads 1..T x allocator
    (glibc as installed; glibc with MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ raised so freed
    tensors are reused instead of unmapped and faulted in again; tcmalloc and jemalloc preloaded,
    as PyTorch's CPU performance guide advises, where installed).
Per figure, the baseline is the PyTorch cell with the best median. Ratios are eir-dist's median
over the baseline's median; every figure is printed as median [min-max] over the rounds.

--isa native|avx2|both: native runs both sides with every kernel this CPU has (OpenBLAS picks its
kernels itself: the machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for these commands
alone; PyTorch with ATEN_CPU_CAPABILITY=avx512 where the CPU has AVX-512, which its own dispatch
does not choose by itself in torch 1.13). avx2 restricts both sides to AVX2: eir-dist built with
its kernels fixed at x86-64-v3 (cmake -DEIR_KERNEL_LEVEL=x86-64-v3, in BUILD-avx2), OpenBLAS at
OPENBLAS_CORETYPE=Haswell for both, PyTorch at ATEN_CPU_CAPABILITY=avx2 and oneDNN at
ONEDNN_MAX_CPU_ISA=AVX2. both (the default on an AVX-512 CPU) runs native, then avx2.

--prune (default on): after round 2, a PyTorch cell whose best figure is below half of the best
cell's worst figure on every measure (training and each inference batch) is not run again; the
report says which were dropped and why. --no-prune runs every cell every round.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"  # Debian's, with torch (the python3 first on PATH may lack it)
LIBDIR = "/usr/lib/x86_64-linux-gnu"
ALLOCATORS = {  # name -> (environment, what it is)
    "glibc": ({}, "glibc malloc as installed"),
    "glibc-tuned": ({"MALLOC_MMAP_THRESHOLD_": "17179869184", "MALLOC_TRIM_THRESHOLD_": "17179869184"},
                    "glibc malloc, mmap and trim thresholds raised to 16 GiB"),
    "tcmalloc": ({"LD_PRELOAD": f"{LIBDIR}/libtcmalloc_minimal.so.4"}, "tcmalloc (gperftools) preloaded"),
    # PyTorch's guide suggests dirty/muzzy decay 9000000000 ms; jemalloc 5.3 rejects that value,
    # so -1 (never return pages to the OS), which is the setting's intent.
    "jemalloc": ({"LD_PRELOAD": f"{LIBDIR}/libjemalloc.so.2",
                  "MALLOC_CONF": "oversize_threshold:1,background_thread:true,metadata_thp:auto,"
                                 "dirty_decay_ms:-1,muzzy_decay_ms:-1"}, "jemalloc preloaded, PyTorch guide's MALLOC_CONF"),
}


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def isa_env(isa, has_avx512):
    """Environment changes of one ISA setting, for both sides (None = unset)."""
    env = {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}
    if isa == "native":
        env["ATEN_CPU_CAPABILITY"] = "avx512" if has_avx512 else "avx2"
    else:
        env.update({"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                    "DNNL_MAX_CPU_ISA": "AVX2"})
    return env


def apply_env(*changes):
    env = dict(os.environ)
    for ch in changes:
        for k, v in ch.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


def run_json(cmd, env, timeout, log):
    """Runs one measurement process; returns its last JSON line (or None, with the reason logged)."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log.write(f"TIMEOUT after {timeout}s: {shlex.join(cmd)}\n")
        return None
    log.write(f"$ {shlex.join(cmd)}  ({time.time() - t0:.1f} s, exit {p.returncode})\n{p.stdout}{p.stderr}\n")
    log.flush()
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        sys.stderr.write(f"train_bench: failed (exit {p.returncode}): {shlex.join(cmd)}\n{p.stderr[-2000:]}\n")
        return None
    return json.loads(lines[-1])


def measures(r, infer_batches):
    """(name, samples/s) of one result: 'train' and 'infer bN'."""
    out = {}
    if r and "train" in r:
        out["train"] = r["train"]["samples_per_s"]
    for b in infer_batches:
        if r and str(b) in r.get("infer", {}):
            out[f"infer b{b}"] = r["infer"][str(b)]["samples_per_s"]
    return out


def fmt_stat(xs, digits=1):
    if not xs:
        return "n/a"
    return f"{statistics.median(xs):.{digits}f} [{min(xs):.{digits}f}-{max(xs):.{digits}f}]"


def run_isa(isa, args, has_avx512, log):
    build = args.build if isa == "native" else args.build + "-avx2"
    bench = os.path.join(build, "eir-bench-train")
    ienv = isa_env(isa, has_avx512)
    T = args.threads
    ib = ",".join(str(b) for b in args.infer_batches)
    common = ["--batch", str(args.batch), "--min-steps", str(args.min_steps), "--min-time", str(args.min_time),
              "--warmup", str(args.warmup)]
    sides = {"sgemm": ([bench, "--sgemm", "--threads", str(T), "--batch", str(args.batch)], apply_env(ienv)),
             "eir-dist": ([bench, "--threads", str(T), "--infer-batches", ib] + common, apply_env(ienv))}
    cells = []
    for t in range(1, T + 1):
        for a in args.allocators:
            name = f"pytorch t{t} {a}"
            cells.append(name)
            sides[name] = ([PY, os.path.join(ROOT, "tools/reference/bench_torch.py"), "--threads", str(t),
                            "--infer-batches", ib] + common,
                           apply_env(ienv, ALLOCATORS[a][0], {"OMP_NUM_THREADS": str(t)}))
    results = {k: [] for k in sides}
    dropped = {}
    order = list(sides)
    for rnd in range(args.rounds):
        k = rnd % len(order)
        todo = [s for s in order[k:] + order[:k] if s not in dropped]
        for s in todo:
            cmd, env = sides[s]
            print(f"  [{isa}] round {rnd + 1}/{args.rounds}: {s}", file=sys.stderr, flush=True)
            r = run_json(cmd, env, args.timeout, log)
            if r is not None:
                r["round"] = rnd + 1
                results[s].append(r)
        if args.prune and rnd == 1:
            # best cell's worst figure per measure; a cell below half of it everywhere is out
            names = list(measures(next((x for c in cells for x in results[c]), None), args.infer_batches))
            floor = {}
            for mname in names:
                worsts = [min(measures(x, args.infer_batches)[mname] for x in results[c]) for c in cells
                          if c not in dropped and results[c]]
                floor[mname] = max(worsts) if worsts else 0
            for c in cells:
                if c in dropped or not results[c]:
                    continue
                best = {m: max(measures(x, args.infer_batches)[m] for x in results[c]) for m in names}
                if all(best[m] < 0.5 * floor[m] for m in names):
                    dropped[c] = ", ".join(f"{m} best {best[m]:.1f} < half of {floor[m]:.1f}" for m in names)
    return {"isa": isa, "build": build, "env": ienv, "results": results, "cells": cells, "dropped": dropped,
            "commands": {s: shlex.join(sides[s][0]) for s in sides}}


def report(run, args, out):
    isa, res, cells = run["isa"], run["results"], run["cells"]
    ib = args.infer_batches
    w = out.write
    sg, ed = res["sgemm"], res["eir-dist"]
    if not ed:
        w(f"\n## {isa}: eir-dist produced no result (see the log)\n")
        return {}
    e0 = ed[0]
    fwd = e0["forward_flops_per_sample"]
    torch_any = next((x for c in cells for x in res[c]), {})
    env_txt = " ".join(f"{k}={'(unset)' if v is None else v}" for k, v in run["env"].items())
    w(f"\n## {'Native: every kernel this CPU has' if isa == 'native' else 'Restricted to AVX2'}\n\n")
    w(f"- environment of both sides: `{env_txt}`\n")
    w(f"- eir-dist: `{run['build']}/eir-bench-train`, {e0['threads']} threads, kernels {e0['kernels']}, "
      f"OpenBLAS {e0['blas_core']}\n")
    w(f"- PyTorch {torch_any.get('torch', '?')}: OpenBLAS {torch_any.get('blas_core', '?')}, ATEN_CPU_CAPABILITY="
      f"{torch_any.get('aten_cpu_capability', '?')}, ops {torch_any.get('ops', '?')}, AdamW foreach, inference_mode\n")
    w(f"- rounds: {args.rounds}; training batch {args.batch}; each phase >= {args.min_steps} steps and >= "
      f"{args.min_time} s after {args.warmup} warm-up step(s)\n")
    big = [x["sgemm_2048_gflops"] for x in sg]
    mod = [x["sgemm_model_gflops"] for x in sg]
    w(f"- ceiling (OpenBLAS {sg[0]['blas_core'] if sg else '?'}, {args.threads} threads, same run): sgemm 2048^3 "
      f"{fmt_stat(big)} GFLOP/s; the model's layer GEMMs (1024-row blocks, batch {args.batch}) {fmt_stat(mod)} GFLOP/s\n\n")
    peak = statistics.median(big) if big else float("nan")
    peak_m = statistics.median(mod) if mod else float("nan")

    # every PyTorch cell, so the choice of baseline can be checked
    names = ["train"] + [f"infer b{b}" for b in ib]
    w("PyTorch cells, samples/s, median [min-max] over rounds:\n\n")
    w("| cell | " + " | ".join(names) + " | peak RSS inference (MiB) | peak RSS training (MiB) |\n|---|"
      + "---:|" * (len(names) + 2) + "\n")
    best = {}
    for c in cells:
        rs = res[c]
        if not rs:
            w(f"| {c} | " + " | ".join("failed" for _ in names) + " | |\n")
            continue
        row = []
        for mname in names:
            xs = [measures(x, ib)[mname] for x in rs if mname in measures(x, ib)]
            row.append(fmt_stat(xs))
            if xs and (mname not in best or statistics.median(xs) > best[mname][1]):
                best[mname] = (c, statistics.median(xs), xs)
        rss = [x.get("train_peak_rss_mib", 0) for x in rs]
        irss = [x.get("infer_peak_rss_mib", 0) for x in rs]
        note = f" (dropped after round 2: {run['dropped'][c]})" if c in run["dropped"] else ""
        w(f"| {c}{note} | " + " | ".join(row) + f" | {statistics.median(irss):.0f} | {statistics.median(rss):.0f} |\n")
    w("\n")

    w("eir-dist against the best PyTorch cell of each measure:\n\n")
    w("| measure | eir-dist samples/s | best PyTorch cell | its samples/s | ratio | eir-dist GFLOP/s | share of "
      "sgemm 2048^3 | share of the model-GEMM ceiling | target | met |\n|---|---:|---|---:|---:|---:|---:|---:|---|---|\n")
    verdicts = {}
    for mname in names:
        xs = [measures(x, ib)[mname] for x in ed if mname in measures(x, ib)]
        if not xs or mname not in best:
            continue
        cell, bmed, bxs = best[mname]
        med = statistics.median(xs)
        flops = fwd * (3 if mname == "train" else 1)
        gf = med * flops / 1e9
        ratio = med / bmed
        share, share_m = gf / peak, gf / peak_m
        need_ratio = 5.0 if mname == "train" else 4.0
        met = ratio >= need_ratio or share >= 0.70
        verdicts[mname] = met
        w(f"| {mname} | {fmt_stat(xs)} | {cell} | {fmt_stat(bxs)} | **{ratio:.2f}x** | {gf:.1f} | {100 * share:.0f}% | "
          f"{100 * share_m:.0f}% | >= {need_ratio:.0f}x or >= 70% | {'yes' if met else 'no'} |\n")
    e_rss = statistics.median(x["train_peak_rss_mib"] for x in ed if "train_peak_rss_mib" in x)
    if "train" in best:
        t_rss = statistics.median(x["train_peak_rss_mib"] for x in res[best["train"][0]])
        verdicts["memory"] = e_rss <= t_rss
        w(f"| peak RSS, training b{args.batch} (MiB) | {e_rss:.0f} | {best['train'][0]} | {t_rss:.0f} | "
          f"{e_rss / t_rss:.2f}x | | | | <= PyTorch | {'yes' if e_rss <= t_rss else 'no'} |\n")
    ir = [x["infer_peak_rss_mib"] for x in ed if "infer_peak_rss_mib" in x]
    w(f"\neir-dist peak RSS after inference (activations sized for batch {max(ib + [args.batch])}): "
      f"{statistics.median(ir):.0f} MiB.\n")
    return verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--isa", choices=["native", "avx2", "both"], default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="eir-dist's threads; PyTorch runs 1..T")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--infer-batches", default="1,8,64")
    ap.add_argument("--allocators", default=None, help="comma list of " + ",".join(ALLOCATORS) +
                    " (default: all that are installed)")
    ap.add_argument("--min-steps", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=600, help="seconds for one measurement process")
    ap.add_argument("--prune", dest="prune", action="store_true", default=True)
    ap.add_argument("--no-prune", dest="prune", action="store_false")
    ap.add_argument("--profile", action="store_true", default=True, help="eir-bench-train --profile after the rounds")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--out", default=None, help="also write the report (Markdown) to this file")
    ap.add_argument("--log", default=None, help="every command's full output (default BUILD/train_bench.log)")
    ap.add_argument("--report-from", default=None, help="print the report of an earlier run's BUILD/train_bench.json "
                    "without measuring (after a change to the report itself)")
    args = ap.parse_args()
    args.infer_batches = [int(b) for b in args.infer_batches.split(",") if b]
    flags = cpu_flags()
    has_avx512 = "avx512f" in flags
    if args.isa is None:
        args.isa = "both" if has_avx512 else "native"
    if args.allocators is None:
        args.allocators = [a for a, (env, _) in ALLOCATORS.items()
                           if "LD_PRELOAD" not in env or os.path.exists(env["LD_PRELOAD"])]
    else:
        args.allocators = args.allocators.split(",")
        for a in args.allocators:
            if a not in ALLOCATORS:
                sys.exit(f"train_bench: unknown allocator {a} (known: {', '.join(ALLOCATORS)})")
            pre = ALLOCATORS[a][0].get("LD_PRELOAD")
            if pre and not os.path.exists(pre):
                sys.exit(f"train_bench: {a}: {pre} is not installed (scripts/install-deps.sh --reference)")
    isas = ["native", "avx2"] if args.isa == "both" else [args.isa]
    saved = None
    if args.report_from:
        with open(args.report_from) as f:
            saved = json.load(f)
        for k in ("rounds", "threads", "batch", "infer_batches", "allocators", "min_steps", "min_time", "warmup"):
            setattr(args, k, saved["args"][k])
        isas = [r["isa"] for r in saved["runs"]]
    log = open(args.log or os.path.join(args.build, "train_bench.log"), "a" if saved else "w")

    from io import StringIO
    out = StringIO()
    w = out.write
    torch_v = subprocess.run([PY, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                             text=True).stdout.strip()
    when = saved["when"] if saved else datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    command = saved["command"] if saved else f"bench/train_bench.sh {' '.join(shlex.quote(a) for a in sys.argv[1:])}"
    w(f"# bench/train_bench.sh, {when}\n\n")
    w(f"- command: `{command}`\n")
    machine = saved["machine"] if saved else (
        f"- CPU: {cpu_model()}, {os.cpu_count()} online CPUs; AVX-512: {'yes' if has_avx512 else 'no'} "
        f"({' '.join(sorted(f for f in flags if f.startswith('avx512')))}); AVX2: {'yes' if 'avx2' in flags else 'no'}; "
        f"FMA: {'yes' if 'fma' in flags else 'no'}\n- Linux {platform.release()}; PyTorch {torch_v}; ")
    w(machine)
    w(f"allocator cells: "
      + "; ".join(f"{a} = {ALLOCATORS[a][1]}" for a in args.allocators) + "\n")
    verdicts = {}
    profiles = []
    runs = []
    for k, isa in enumerate(isas):
        run = saved["runs"][k] if saved else run_isa(isa, args, has_avx512, log)
        runs.append(run)
        verdicts[isa] = report(run, args, out)
        if saved:
            if run.get("profile"):
                profiles.append((isa, run["profile"]))
        elif args.profile:
            cmd = [os.path.join(run["build"], "eir-bench-train"), "--threads", str(args.threads), "--profile",
                   "--batch", str(args.batch), "--infer-batches", ",".join(map(str, args.infer_batches)),
                   "--min-steps", "3", "--min-time", "2"]
            p = subprocess.run(cmd, env=apply_env(run["env"]), capture_output=True, text=True)
            log.write(f"$ {shlex.join(cmd)}\n{p.stdout}{p.stderr}\n")
            prof = p.stdout[p.stdout.find("### Time per op"):p.stdout.rfind("\n{")] if p.returncode == 0 else \
                f"(profile failed: {p.stderr.strip()[-300:]})"
            profiles.append((isa, prof))
            run["profile"] = prof
    if not saved:
        with open(os.path.join(args.build, "train_bench.json"), "w") as f:
            json.dump({"when": when, "command": command, "machine": machine, "runs": runs,
                       "args": {k: getattr(args, k) for k in ("rounds", "threads", "batch", "infer_batches", "allocators",
                                                              "min_steps", "min_time", "warmup")}}, f)
    w("\n## Targets (issue 14), per ISA setting\n\n")
    for isa, v in verdicts.items():
        w(f"- {isa}: " + ", ".join(f"{k} {'met' if ok else 'NOT met'}" for k, ok in v.items()) + "\n")
    for isa, prof in profiles:
        w(f"\n## Where eir-dist's time goes ({isa})\n\n{prof.strip()}\n")
    log.close()
    text = out.getvalue()
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
