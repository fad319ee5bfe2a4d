#!/usr/bin/env bash
# Builds the "header-body" task (issue 17 item 4) from the SpamAssassin corpus laid out by
# scripts/fetch-spam-corpus.sh: does a mail's body belong to its header? The label depends on two
# pieces that are far apart in the file (the header, ~2 KB at the median, and the body after it),
# so no single 1 KiB crop can see both for most messages.
#   data/header-body/files/<ID>.txt   header + body (raw bytes; IDs are the spam corpus's)
#   data/header-body/labels.csv       ID,Match   (Match: matched|swapped)
#   data/header-body/pairs.csv        ID,Group,Donor   (whose body the file carries; = ID when matched)
#   data/header-body/BUILD_INFO       what built it (seed, rule, source counts)
# How (deterministic; Python 3's random.Random(SEED), stable across Python 3 versions):
# - Each message is split at its first empty line ("\n" or "\r\n" alone on a line): header = the
#   bytes before that line, separator = that line, body = everything after it.
# - Within each Group of the corpus (easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2; so ham
#   bodies go to ham headers and spam bodies to spam headers, from the same collection and era),
#   the sorted IDs are shuffled with one generator seeded SEED (groups in sorted order), and the
#   first floor(n/2) become "swapped". Their bodies are rotated among them: the i-th swapped message
#   gets the body of the (i+1)-th (cyclically), so every header and every body is used exactly once
#   in the whole data set and neither a header alone nor a body alone says anything about the label.
#   Where the donor's body is byte-identical to the message's own (duplicate spam, empty bodies), the
#   donor is exchanged with a random other member of the rotation until no such pair is left.
# - A swapped file is the message's header + its own separator + the donor's body; a matched file
#   is the message unchanged.
# Usage: scripts/make-header-body-task.sh [SRC] [DEST]   (defaults data/spam, data/header-body under
# the repo; SEED=17 in the environment changes the seed). Idempotent: a complete DEST built with the
# same seed from the same number of messages is left alone. Prints counts and lengths.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-$repo/data/spam}
dest=${2:-$repo/data/header-body}
seed=${SEED:-17}
[ -f "$src/labels.csv" ] && [ -d "$src/emails" ] ||
  { echo "make-header-body-task: $src/{labels.csv,emails/} missing: run scripts/fetch-spam-corpus.sh first" >&2; exit 1; }
exec /usr/bin/python3 - "$src" "$dest" "$seed" <<'EOF'
import csv, os, random, shutil, sys

src, dest, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
RULE = "header-body v1: split at first empty line; swap half of each Group; rotate bodies among the swapped"

rows = list(csv.DictReader(open(os.path.join(src, "labels.csv"), newline="")))
info = f"{RULE}\nseed {seed}\nsource {os.path.abspath(src)}: {len(rows)} messages\n"


def quantile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else 0


def describe(name, v):
    print(f"  {name:<28} median {quantile(v, 0.5):>7}  p90 {quantile(v, 0.9):>7}  max {max(v):>7} bytes")


def split_message(b):
    """(header, separator, body); the separator is the first empty line, b'' when there is none."""
    pos = 0
    while pos < len(b):
        nl = b.find(b"\n", pos)
        end = len(b) if nl < 0 else nl + 1
        line = b[pos:end]
        if line in (b"\n", b"\r\n"):
            return b[:pos], line, b[end:]
        pos = end
    return b, b"", b""


def report(labels, sizes, heads):
    n = {m: sum(1 for v in labels.values() if v == m) for m in ("matched", "swapped")}
    print(f"make-header-body-task: {len(labels)} files in {dest}: {n['matched']} matched, {n['swapped']} swapped")
    describe("file length", sizes)
    describe("header length (+ empty line)", heads)
    print(f"  first 1024 bytes reach the body in {sum(h < 1024 for h in heads) / len(heads):.1%} of the files; "
          f"the whole file fits in 8192 bytes in {sum(s <= 8192 for s in sizes) / len(sizes):.1%}")


files_dir = os.path.join(dest, "files")
if (os.path.isfile(os.path.join(dest, "labels.csv")) and os.path.isdir(files_dir)
        and os.path.isfile(os.path.join(dest, "BUILD_INFO")) and open(os.path.join(dest, "BUILD_INFO")).read() == info and len(os.listdir(files_dir)) == len(rows)):
    print(f"make-header-body-task: {dest} already complete (seed {seed})")
    labels = {r["ID"]: r["Match"] for r in csv.DictReader(open(os.path.join(dest, "labels.csv"), newline=""))}
    sizes, heads = [], []
    for i in sorted(labels):
        b = open(os.path.join(files_dir, i + ".txt"), "rb").read()
        h, s, _ = split_message(b)
        sizes.append(len(b)), heads.append(len(h) + len(s))
    report(labels, sizes, heads)
    sys.exit(0)

parts, group_of = {}, {}
for r in rows:
    with open(os.path.join(src, "emails", r["ID"] + ".txt"), "rb") as f:
        parts[r["ID"]] = split_message(f.read())
    group_of[r["ID"]] = r.get("Group") or r["Label"]

rng = random.Random(seed)
donor = {i: i for i in parts}
no_body = [i for i in parts if not parts[i][1]]
redraws = 0
for g in sorted(set(group_of.values())):
    ids = sorted(i for i in parts if group_of[i] == g and parts[i][1])
    rng.shuffle(ids)
    ring = ids[: len(ids) // 2]
    m = len(ring)
    if m < 2:
        continue
    for _ in range(1000):
        clash = [k for k in range(m) if parts[ring[k]][2] == parts[ring[(k + 1) % m]][2]]
        if not clash:
            break
        for k in clash:
            j = rng.randrange(m)
            ring[(k + 1) % m], ring[j] = ring[j], ring[(k + 1) % m]
            redraws += 1
    else:
        sys.exit(f"make-header-body-task: group {g}: could not avoid identical bodies")
    for k in range(m):
        donor[ring[k]] = ring[(k + 1) % m]

tmp = dest + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(os.path.join(tmp, "files"))
labels, sizes, heads = {}, [], []
with open(os.path.join(tmp, "labels.csv"), "w", newline="") as fl, open(os.path.join(tmp, "pairs.csv"), "w", newline="") as fp:
    wl, wp = csv.writer(fl, lineterminator="\n"), csv.writer(fp, lineterminator="\n")
    wl.writerow(["ID", "Match"]), wp.writerow(["ID", "Group", "Donor"])
    for i in sorted(parts):
        h, s, b = parts[i]
        d = donor[i]
        out = h + s + parts[d][2]
        with open(os.path.join(tmp, "files", i + ".txt"), "wb") as f:
            f.write(out)
        labels[i] = "matched" if d == i else "swapped"
        wl.writerow([i, labels[i]]), wp.writerow([i, group_of[i], d])
        sizes.append(len(out)), heads.append(len(h) + len(s))
with open(os.path.join(tmp, "BUILD_INFO"), "w") as f:
    f.write(info)
shutil.rmtree(dest, ignore_errors=True)
os.rename(tmp, dest)
report(labels, sizes, heads)
print(f"  {len(no_body)} message(s) without an empty line (kept, matched); {redraws} donor exchange(s) "
      f"to avoid identical bodies")
EOF
