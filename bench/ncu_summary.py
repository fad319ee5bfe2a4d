"""ncu_summary.py: where the GPU time goes, from Nsight Compute's raw CSV page of a profiled run
(bench/gpu.sh: `ncu --metrics gpu__time_duration.sum -o R prog ...`, then
`ncu --import R.ncu-rep --csv --page raw --metrics gpu__time_duration.sum > R.csv`).

  python3 bench/ncu_summary.py R.csv [--top 25] [--label NAME]

Prints the kernels grouped by name (template arguments and parameter lists cut off), largest
total first: launches, total and mean time, share of the run's GPU time. Tolerates the unit row,
thousands separators and the column names of older and newer ncu releases.
"""
import argparse
import csv
import re
import sys

UNIT = {"nsecond": 1e-9, "ns": 1e-9, "usecond": 1e-6, "us": 1e-6, "msecond": 1e-3, "ms": 1e-3, "second": 1.0, "s": 1.0}


def short_name(name: str) -> str:
    # "void foo_kernel<64, true>(float *, ...)" -> "foo_kernel<64, true>"; cuBLAS names kept whole
    name = re.sub(r"^void\s+", "", name.strip())
    depth, out = 0, []
    for ch in name:
        if ch == "(" and depth == 0:
            break
        depth += ch == "<"
        depth -= ch == ">"
        out.append(ch)
    s = "".join(out)
    return s if len(s) <= 90 else s[:87] + "..."


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    rows = [r for r in csv.reader(open(a.csv, newline="")) if r]
    head_i = next((i for i, r in enumerate(rows) if any(c.startswith("gpu__time_duration") for c in r)), None)
    if head_i is None:
        print(f"{a.csv}: no gpu__time_duration column (ncu failed? first lines: {rows[:2]})")
        return 1
    head = rows[head_i]
    t_col = next(i for i, c in enumerate(head) if c.startswith("gpu__time_duration"))
    n_col = next((i for i, c in enumerate(head) if c in ("Kernel Name", "Function Name", "Name")), None)
    if n_col is None:
        print(f"{a.csv}: no kernel name column in {head}")
        return 1
    scale, groups = 1e-9, {}
    for r in rows[head_i + 1:]:
        if len(r) <= max(t_col, n_col):
            continue
        v = r[t_col].replace(",", "").strip()
        try:
            t = float(v)
        except ValueError:
            scale = UNIT.get(v, scale)  # the unit row
            continue
        g = groups.setdefault(short_name(r[n_col]), [0, 0.0])
        g[0] += 1
        g[1] += t
    total = sum(g[1] for g in groups.values()) * scale
    launches = sum(g[0] for g in groups.values())
    print(f"{a.label or a.csv}: {launches} kernel launches, {total * 1e3:.2f} ms of GPU time in all")
    print(f"  {'share':>6} {'total ms':>9} {'launches':>8} {'mean us':>8}  kernel")
    for name, (n, t) in sorted(groups.items(), key=lambda kv: -kv[1][1])[: a.top]:
        print(f"  {100 * t * scale / total:5.1f}% {t * scale * 1e3:9.3f} {n:8d} {t * scale * 1e6 / n:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
