#!/usr/bin/env python3
"""gen_split_fixtures.py: reference outputs for tests/test_split.c (spec section 2.1).

EIR splits the sorted label IDs with sklearn's
    train_test_split(ids_sorted, test_size=valid_size, random_state=seed, shuffle=True)
which (ShuffleSplit) takes perm = numpy.random.RandomState(seed).permutation(n) and returns
valid = ids[perm[:n_test]], train = ids[perm[n_test:]], with n_test = ceil(valid_size * n) for a
fraction and the count itself for an int. This script reproduces that with numpy alone and
writes small text fixtures the C split must match exactly:

  perm_seed<S>_n<N>.txt   one permutation entry per line
  split_cases.txt         one case per line, tab-separated key=value fields:
                          seed, n, valid_size, kind (fraction|count), then either
                          n_valid and valid (comma-separated indices into the sorted IDs), or
                          error=1 when sklearn refuses the sizes
  split_id_cases.txt      same, but with string IDs (given in file order, unsorted) and the
                          expected valid IDs, to cover Python's string sort as well
  mt_raw_seed<S>.txt      the first 700 raw 32-bit MT19937 outputs after RandomState(S)'s seeding
                          (crosses the 624-word state refill), then random_interval draws for a
                          bound above 2^32 (numpy's 64-bit path, which no feasible shuffle reaches)

Run with a Python that has numpy (on these machines /usr/bin/python3):
    /usr/bin/python3 tools/gen_split_fixtures.py [out_dir]
"""
import math
import os
import sys

import numpy as np

SEEDS = [0, 1, 42, 2**32 - 1]
PERM_SIZES = [1, 2, 10, 1000, 6007]


def sklearn_n_test(valid_size, kind, n):
    """sklearn _validate_shuffle_split with train_size=None; None if it would raise."""
    if kind == "fraction":
        if not (0.0 < valid_size < 1.0):
            return None
        n_test = math.ceil(valid_size * n)
    else:
        if valid_size <= 0 or valid_size >= n:
            return None
        n_test = int(valid_size)
    if n - n_test <= 0:
        return None
    return n_test


def split_indices(n, valid_size, kind, seed):
    n_test = sklearn_n_test(valid_size, kind, n)
    if n_test is None:
        return None
    perm = np.random.RandomState(seed).permutation(n)
    return sorted(int(i) for i in perm[:n_test])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "split")
    os.makedirs(out, exist_ok=True)

    for seed in SEEDS:
        for n in PERM_SIZES:
            perm = np.random.RandomState(seed).permutation(n)
            with open(os.path.join(out, f"perm_seed{seed}_n{n}.txt"), "w") as f:
                f.write("".join(f"{int(x)}\n" for x in perm))

    for seed in [0, 2**32 - 1]:
        bg = np.random.MT19937()
        bg._legacy_seeding(seed)  # what RandomState(seed) does for an int seed
        raw = [int(x) for x in bg.random_raw(700)]
        # random_interval(max) for max > 0xffffffff: 64-bit draws (first word high), masked,
        # rejected while > max; replayed here from the raw stream.
        bg2 = np.random.MT19937()
        bg2._legacy_seeding(seed)
        mx = 2**40 + 12345
        mask = (1 << mx.bit_length()) - 1
        draws = []
        while len(draws) < 20:
            hi, lo = (int(x) for x in bg2.random_raw(2))
            v = ((hi << 32) | lo) & mask
            if v <= mx:
                draws.append(v)
        with open(os.path.join(out, f"mt_raw_seed{seed}.txt"), "w") as f:
            f.write("".join(f"{x}\n" for x in raw))
            f.write(f"interval_max={mx}\n")
            f.write("".join(f"{x}\n" for x in draws))

    cases = []
    for seed in SEEDS:
        for n, valid_size, kind in [
            (1, 0.1, "fraction"),     # n_train would be 0: refused
            (2, 0.1, "fraction"),
            (2, 0.5, "fraction"),
            (10, 0.1, "fraction"),
            (10, 0.25, "fraction"),
            (10, 3, "count"),
            (10, 10, "count"),        # refused
            (1000, 0.1, "fraction"),
            (1000, 0.333, "fraction"),
            (1000, 57, "count"),
            (6007, 0.1, "fraction"),
            (6007, 0.05, "fraction"),
            (6007, 1, "count"),
        ]:
            valid = split_indices(n, valid_size, kind, seed)
            head = f"seed={seed}\tn={n}\tvalid_size={valid_size!r}\tkind={kind}"
            if valid is None:
                cases.append(head + "\terror=1")
            else:
                cases.append(head + f"\tn_valid={len(valid)}\tvalid=" + ",".join(map(str, valid)))
    with open(os.path.join(out, "split_cases.txt"), "w") as f:
        f.write("\n".join(cases) + "\n")

    # String IDs in file order; EIR sorts them (code point order) before splitting.
    rs = np.random.RandomState(7)
    numeric = [f"sample_{int(i)}" for i in rs.permutation(300)]
    mixed = ["b", "a", "\u00c9", "\u00e9", "Z", "10", "9", "\u00e4", "a b", "A", "_x", "~", "\u4e2d", "0"]
    id_cases = []
    for ids, valid_size, kind, seed in [
        (numeric, 0.1, "fraction", 0),
        (numeric, 0.2, "fraction", 42),
        (numeric, 7, "count", 2**32 - 1),
        (mixed, 0.3, "fraction", 0),
        (mixed, 2, "count", 1),
    ]:
        srt = sorted(ids)
        valid = split_indices(len(ids), valid_size, kind, seed)
        id_cases.append("\t".join([
            f"seed={seed}", f"valid_size={valid_size!r}", f"kind={kind}",
            "ids=" + ",".join(ids), "valid=" + ",".join(srt[i] for i in valid)]))
    with open(os.path.join(out, "split_id_cases.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(id_cases) + "\n")


if __name__ == "__main__":
    main()
