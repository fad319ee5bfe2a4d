#!/usr/bin/env bash
# eir-bench-train, the instrument bench/train_bench.sh reads, on a tiny setting: its JSON has every
# figure the driver uses, the sgemm ceiling passes its check against double precision, --profile
# accounts for the whole step (op times add up to the step's wall time, no op counted twice or
# missed), and bad arguments are refused. Speed itself is never asserted here.
source "$(dirname "$0")/../cli_lib.sh"
cd "$TMP"
B="$BUILD/eir-bench-train"
[ -x "$B" ] || fail "no $B"
"$B" --threads 1 --batch 2 --infer-batches 1,2 --min-steps 2 --min-time 0 --warmup 1 --profile > out.txt
tail -1 out.txt > run.json
python3 - run.json <<'PY' || fail "eir-bench-train JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["side"] == "eir-dist" and r["threads"] == 1, r
assert set(r["infer"]) == {"1", "2"}, r["infer"]
for b, x in r["infer"].items():
    assert x["samples_per_s"] > 0 and x["steps"] >= 2, x
assert r["train"]["batch"] == 2 and r["train"]["steps"] >= 2 and r["train"]["samples_per_s"] > 0, r["train"]
assert r["train_peak_rss_mib"] >= r["infer_peak_rss_mib"] > 0, r
assert abs(r["forward_flops_per_sample"] - 672531456) < 1, r["forward_flops_per_sample"]  # the tutorial model
PY
pass "eir-bench-train figures"
# every profile table: the unattributed remainder is a small share of the step (a double-counted
# warm-up or an op timed twice makes it negative; a pass left untimed makes it large)
python3 - out.txt <<'PY' || fail "--profile tables"
import re, sys
text = open(sys.argv[1]).read()
tables = re.findall(r"#### (.*?)\n(.*?)\*\*step\*\*", text, re.S)
assert len(tables) == 3, [t[0] for t in tables]  # training, inference b1, b2
for title, body in tables:
    other = re.search(r"\| other [^|]*\| *\| *(-?[0-9.]+) \| *(-?[0-9.]+)%", body)
    assert other, title
    share = float(other.group(2))
    assert -2.0 < share < 10.0, f"{title}: unattributed {share}% of the step"
    for op in ("QKV projection", "attention", "MLP w1,w2"):
        assert op in body, f"{title}: no {op} row"
    if title.startswith("Training"):
        for op in ("AdamW", "gradient clipping", "backward"):
            assert op in body, f"{title}: no {op} row"
PY
pass "--profile accounts for the step"
"$B" --sgemm --threads 1 --batch 2 > sgemm.txt
tail -1 sgemm.txt | python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["sgemm_2048_gflops"] > 0 and r["sgemm_model_gflops"] > 0 and r["check_rel_err"] < 1e-3, r' ||
  fail "--sgemm JSON"
pass "sgemm ceiling checked against double precision"
expect_fail 2 "infer-batches" "$B" --infer-batches 1,x
expect_fail 2 "unknown argument" "$B" --bogus 1
expect_fail 2 "min-time" "$B" --min-time -1
pass "argument errors"
