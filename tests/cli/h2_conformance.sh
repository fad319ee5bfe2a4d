#!/usr/bin/env bash
# HTTP/2 robustness (issue 16): tests/h2/conformance.py against a running eir-serve: bad preface,
# DATA on a closed stream, window overflow, SETTINGS flood, CONTINUATION without end, a huge header
# block, rapid reset (CVE-2023-44487), a slow reader; each must be answered as RFC 9113 asks or its
# connection closed cleanly, other connections served, the node's RSS bounded (64 MB).
source "$(dirname "$0")/../cli_lib.sh"
[ -x "$BUILD/eir-serve" ] || { echo "SKIP: no eir-serve (libh2o-evloop-dev missing)"; exit 77; }
/usr/bin/python3 -c 'import h2' 2> /dev/null || { echo "SKIP: Debian's python3-h2 is not installed"; exit 77; }
D=$TMP/data; make_tiny_dataset "$D"
mkdir -p "$TMP/t" && cd "$TMP/t"
"$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" > log.txt 2>&1 ||
  { cat log.txt; fail "training the model"; }
M=$(ls "$TMP"/t/run/saved_models/*.safetensors | tail -1)
"$BUILD/eir-serve" --model-path "$M" --host 127.0.0.1 --port 0 --threads 1 > "$TMP/serve.log" 2>&1 & SPID=$!
for _ in $(seq 1 300); do grep -qs 'eir-serve: ready' "$TMP/serve.log" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/serve.log")
[ -n "$PORT" ] || { cat "$TMP/serve.log"; fail "eir-serve did not start"; }
timeout 300 /usr/bin/python3 "$SRC/tests/h2/conformance.py" "$PORT" "$SPID" | tee "$TMP/table.md" || fail "HTTP/2 robustness checks"
kill -TERM "$SPID"; rc=0; wait "$SPID" || rc=$?
[ "$rc" = 0 ] || { tail "$TMP/serve.log"; fail "eir-serve exit status $rc after the checks"; }
pass "HTTP/2 robustness: $(grep -c '| pass |' "$TMP/table.md") cases survived as RFC 9113 asks"
