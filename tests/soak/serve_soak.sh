#!/usr/bin/env bash
# Serving soak (issue 16): eir-serve under good, bad and oversize requests mixed, HTTP/2 and
# HTTP/1.1, for S seconds (h2load, loopback only), then:
#  - no 5xx except 503 with Retry-After (the bounded queue under overload), no failed or errored
#    stream (every request got a complete answer: 200, 400, 413 or 503);
#  - RSS and open descriptors back near where they started (within 64 MB and 4 descriptors).
#   tests/soak/serve_soak.sh BUILD SRC [--seconds S]      (ctest soak_serve: 15 s; long: 300)
set -euo pipefail
BUILD_ARG=$1 SRC_ARG=$2; shift 2
SECS=15
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    *) echo "serve_soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
set -- "$BUILD_ARG" "$SRC_ARG"
source "$(dirname "$0")/../cli_lib.sh"
[ -x "$BUILD/eir-serve" ] || { echo "SKIP: no eir-serve (libh2o-evloop-dev missing)"; exit 77; }
command -v h2load > /dev/null || { echo "SKIP: no h2load (nghttp2-client)"; exit 77; }
D=$TMP/data; make_tiny_dataset "$D"
mkdir -p "$TMP/t" && cd "$TMP/t"
"$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" > log.txt 2>&1 ||
  { cat log.txt; fail "training the model"; }
M=$(ls "$TMP"/t/run/saved_models/*.safetensors | tail -1)
"$BUILD/eir-serve" --model-path "$M" --host 127.0.0.1 --port 0 --threads 2 --workers 2 --max-batch 8 \
  --max-queue-items 32 --max-items 16 --max-body-bytes 100000 --request-timeout-ms 5000 > "$TMP/serve.log" 2>&1 & SPID=$!
for _ in $(seq 1 300); do grep -qs 'eir-serve: ready' "$TMP/serve.log" && break; sleep 0.1; done
grep -q 'eir-serve: ready' "$TMP/serve.log" || { cat "$TMP/serve.log"; fail "eir-serve did not start"; }
PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/serve.log")
URL="http://127.0.0.1:$PORT/predict"

b64() { base64 -w0 "$D/files/$1.txt"; }
printf '[{"txt":"%s"},{"txt":"%s"}]' "$(b64 s1)" "$(b64 s2)" > "$TMP/good.json"
printf '[{"txt":"%s"},{"text":"%s"}]' "$(b64 s3)" "$(b64 s4)" > "$TMP/bad.json"
{ printf '[{"txt":"'; head -c 300000 /dev/zero | tr '\0' 'A'; printf '"}]'; } > "$TMP/oversize.json"
H=(-H 'content-type: application/json')
h2load -n 50 -c 2 "${H[@]}" -d "$TMP/good.json" "$URL" > /dev/null  # warm-up: pools, caches, workers
sleep 1
rss() { awk '/VmRSS/{print $2}' "/proc/$SPID/status"; }
fds() { ls "/proc/$SPID/fd" | wc -l; }
rss0=$(rss) fd0=$(fds)

pids=()
h2load -N 10 -D "$SECS" -c 8 -m 4 "${H[@]}" -d "$TMP/good.json" "$URL" > "$TMP/h2-good.txt" 2>&1 & pids+=($!)
h2load -N 10 -D "$SECS" -c 2 -m 2 "${H[@]}" -d "$TMP/bad.json" "$URL" > "$TMP/h2-bad.txt" 2>&1 & pids+=($!)
h2load -N 10 -D "$SECS" -c 2 -m 2 "${H[@]}" -d "$TMP/oversize.json" "$URL" > "$TMP/h2-oversize.txt" 2>&1 & pids+=($!)
h2load -N 10 -D "$SECS" -c 4 --h1 "${H[@]}" -d "$TMP/good.json" "$URL" > "$TMP/h1-good.txt" 2>&1 & pids+=($!)
# HTTP/1.1 oversize uploads with curl (h2load --h1 can stall for good once the server answers 413 and
# closes while it still sends): each must read its 413
( end=$((SECONDS + SECS)); n=0 c413=0 other=0
  while [ $SECONDS -lt $end ] && [ $n -lt 100000 ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --http1.1 "${H[@]}" --data-binary @"$TMP/oversize.json" "$URL") || true
    n=$((n + 1)); if [ "$code" = 413 ]; then c413=$((c413 + 1)); else other=$((other + 1)); fi
  done
  echo "$n $c413 $other" > "$TMP/h1-oversize.txt" ) & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || true; done
sleep 3  # connections closed, lingering closes done
rss1=$(rss) fd1=$(fds)

read -r n c413 other < "$TMP/h1-oversize.txt"
echo "h1-oversize (curl): $n done, 413 $c413, other $other"
[ "$other" = 0 ] && [ "$n" -gt 0 ] || fail "h1-oversize: $other of $n uploads not answered 413"
total=$n
for f in h2-good h2-bad h2-oversize h1-good; do
  out="$TMP/$f.txt"
  grep -q '^requests:' "$out" || { cat "$out"; fail "$f: h2load printed no summary"; }
  read -r done_ ok failed errored timeout < <(sed -n 's/^requests: [0-9]* total, [0-9]* started, \([0-9]*\) done, \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2 \3 \4 \5/p' "$out")
  read -r s2 s3 s4 s5 < <(sed -n 's/^status codes: \([0-9]*\) 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx.*/\1 \2 \3 \4/p' "$out")
  echo "$f: $done_ done, 2xx $s2, 4xx $s4, 5xx $s5, failed $failed, errored $errored, timeout $timeout"
  [ "$errored" = 0 ] && [ "$timeout" = 0 ] || { cat "$out"; fail "$f: errored or timed-out requests"; }
  [ $((s2 + s3 + s4 + s5)) = "$done_" ] || { cat "$out"; fail "$f: requests without a status"; }
  case $f in
    *good) [ "$s2" -gt 0 ] || fail "$f: no 200 at all" ;;
    *bad) [ "$s4" = "$done_" ] || fail "$f: a bad request was not answered 4xx" ;;
    *oversize) [ "$s4" = "$done_" ] || fail "$f: an oversize request was not answered 4xx" ;;
  esac
  total=$((total + done_))
done
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics.txt"
if grep -E '^eir_serve_requests_total\{.*code="5[0-9][0-9]"\}' "$TMP/metrics.txt" | grep -v 'code="503"' | grep -q .; then
  grep '^eir_serve_requests_total' "$TMP/metrics.txt"; fail "a 5xx other than 503"
fi
grep -qE '^eir_serve_requests_total\{path="/predict",code="413"\} [1-9]|^eir_serve_http2_body_limit_413_total [1-9]' "$TMP/metrics.txt" ||
  fail "/metrics shows no 413"
kill -TERM "$SPID"; rc=0; wait "$SPID" || rc=$?
[ "$rc" = 0 ] || { tail "$TMP/serve.log"; fail "eir-serve exit status $rc after the soak"; }
[ "$fd1" -le $((fd0 + 4)) ] || { ls -l "/proc/$SPID/fd" 2> /dev/null; fail "descriptors $fd0 -> $fd1"; }
[ "$rss1" -le $((rss0 + 65536)) ] || fail "RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB"
pass "serving soak, $SECS s: $total requests (good, bad, oversize; HTTP/2 and HTTP/1.1): no 5xx but 503, none errored or timed out; RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB, descriptors $fd0 -> $fd1"
