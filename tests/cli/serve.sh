#!/usr/bin/env bash
# eir-serve end to end: trains a tiny model, serves it on free loopback ports and checks with curl
# over HTTP/2 (prior knowledge, h2c upgrade, TLS + ALPN) and HTTP/1.1: answers equal eir-predict's
# digits, the bad-input table (status + message, always JSON), items of concurrent connections
# pooled into batches, clients that hang up mid-request, a full queue, /info /health /ready
# /metrics, and the SIGTERM drain. Every wait is bounded; every server is killed on exit.
source "$(dirname "$0")/../cli_lib.sh"
[ -x "$BUILD/eir-serve" ] || { echo "SKIP: $BUILD/eir-serve was not built (libh2o-evloop-dev missing)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }

SERVERS=()
cleanup() {
  local p
  for p in "${SERVERS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# ---- a model, and eir-predict's answers ------------------------------------------------------
# (in the sanitizer build's run, scripts/test.sh, every program here is leak-checked)
D=$TMP/data; make_tiny_dataset "$D"
mkdir -p "$TMP/train" && cd "$TMP/train"
"$BUILD/eir-dist" --global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml" \
  --g.basic_experiment.n_epochs=2 > log.txt 2>&1 || { cat log.txt; fail "training"; }
M=$(ls "$TMP"/train/run/saved_models/*.safetensors | tail -1)
cd "$TMP"
"$BUILD/eir-predict" --model-path "$M" --input-folder "$D/files" --output-folder pred64 > /dev/null || fail "eir-predict"
"$BUILD/eir-predict" --model-path "$M" --input-folder "$D/files" --output-folder pred1 --batch-size 1 > /dev/null ||
  fail "eir-predict --batch-size 1"
head -1 pred64/predictions.csv | grep -q '^ID,ham,spam,predicted$' || fail "unexpected predictions.csv header"
# The server pools samples of unrelated requests into batches of any size, so a sample's answer
# must not depend on its batch (the model's per-sample sgemm blocks); eir-predict shows it.
cmp -s pred1/predictions.csv pred64/predictions.csv ||
  fail "eir-predict --batch-size 1 and 64 differ: predictions depend on the batch"

# expected_item ID CSV: the answer EIR gives for that sample, from eir-predict's probabilities
expected_item() {
  awk -F, -v id="$1" '$1 == id { printf "{\"out\":{\"Label\":{\"ham\":%s,\"spam\":%s}}}", $2, $3 }' "$2"
}
item_json() { printf '{"txt":"%s"}' "$(base64 -w0 "$D/files/$1.txt")"; }

# ---- servers -----------------------------------------------------------------------------------
# start_server NAME ARGS...: eir-serve on 127.0.0.1 and a free port; waits (<= 30 s) for "ready".
start_server() {
  local name=$1; shift
  "$BUILD/eir-serve" --model-path "$M" --host 127.0.0.1 --port 0 "$@" > "$TMP/$name.log" 2>&1 &
  SPID=$!
  SERVERS+=("$SPID")
  local _
  for _ in $(seq 1 300); do
    grep -qs 'eir-serve: ready' "$TMP/$name.log" && break
    kill -0 "$SPID" 2>/dev/null || { cat "$TMP/$name.log"; fail "$name: eir-serve exited while starting"; }
    sleep 0.1
  done
  grep -q 'eir-serve: ready' "$TMP/$name.log" || { cat "$TMP/$name.log"; fail "$name: not ready after 30 s"; }
  PORT=$(grep -o 'listening on https\?://127.0.0.1:[0-9]*' "$TMP/$name.log" | sed 's/.*://')
  [ -n "$PORT" ] || fail "$name: no port in the log"
}
# stop_server NAME PID [signalled]: SIGTERM (unless already sent), exit 0 within 30 s, no
# sanitizer report.
stop_server() {
  local name=$1 pid=$2 rc=0 _
  [ -n "${3:-}" ] || kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { cat "$TMP/$name.log"; fail "$name: still running 30 s after SIGTERM"; }
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { cat "$TMP/$name.log"; fail "$name: exit code $rc after SIGTERM"; }
  if grep -q 'Sanitizer\|runtime error' "$TMP/$name.log"; then cat "$TMP/$name.log"; fail "$name: sanitizer report"; fi
}

# call h1|h2|h2c METHOD PATH [BODY_FILE]: prints the status; the body is in $TMP/body, headers in $TMP/headers.
call() {
  local proto=$1 method=$2 path=$3 body=${4:-}
  local args=(-s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' --max-time 30 -X "$method")
  case $proto in
    h1) args+=(--http1.1) ;;
    h2) args+=(--http2-prior-knowledge) ;;
    h2c) args+=(--http2) ;;
  esac
  [ -n "$body" ] && args+=(-H 'content-type: application/json' --data-binary "@$body")
  curl "${args[@]}" "http://127.0.0.1:$PORT$path" || true
}

# ---- A: one single-threaded worker, batches exactly as the requests come ---------------------
start_server A --threads 1 --workers 1 --max-batch 64 --max-delay-us 0
for proto in h2 h1; do
  for id in s1 s2 s17 s100 s199; do
    item_json "$id" > "$TMP/req.json"; printf '[%s]' "$(cat "$TMP/req.json")" > "$TMP/req.json"
    [ "$(call $proto POST /predict "$TMP/req.json")" = 200 ] || { cat "$TMP/body"; fail "$proto predict $id"; }
    want="{\"result\":[$(expected_item "$id" pred64/predictions.csv)]}"
    [ "$(cat "$TMP/body")" = "$want" ] || { echo "got  $(cat "$TMP/body")"; echo "want $want"; fail "$proto: $id differs from eir-predict"; }
  done
done
pass "single-sample answers equal eir-predict's digits (HTTP/2 and HTTP/1.1)"

# the first 64 samples in eir-predict's order form eir-predict's first batch of 64
ids=$(awk -F, 'NR > 1 && NR <= 65 { print $1 }' pred64/predictions.csv)
{ printf '['; first=1; for id in $ids; do [ $first = 1 ] || printf ','; first=0; item_json "$id"; done; printf ']'; } > "$TMP/req64.json"
want='{"result":['$(first=1; for id in $ids; do [ $first = 1 ] || printf ','; first=0; expected_item "$id" pred64/predictions.csv; done)']}'
for proto in h2 h1; do
  [ "$(call $proto POST /predict "$TMP/req64.json")" = 200 ] || { cat "$TMP/body"; fail "$proto predict 64"; }
  [ "$(cat "$TMP/body")" = "$want" ] || fail "$proto: 64-sample answer differs from eir-predict's predictions.csv"
done
pass "a 64-sample request equals eir-predict's predictions.csv, in request order"

# Python's non-validating b64decode: line breaks (base64's default wrapping) and other
# non-alphabet characters are skipped; an empty string is an all-padding sample (200, as EIR)
printf '[{"txt":"%s"}]' "$(base64 -w 20 "$D/files/s2.txt" | sed ':a;N;$!ba;s/\n/\\n/g')" > "$TMP/wrapped.json"
[ "$(call h2 POST /predict "$TMP/wrapped.json")" = 200 ] || { cat "$TMP/body"; fail "wrapped base64"; }
[ "$(cat "$TMP/body")" = "{\"result\":[$(expected_item s2 pred64/predictions.csv)]}" ] || fail "wrapped base64 answer differs"
printf '[{"txt":""}]' > "$TMP/empty.json"
[ "$(call h1 POST /predict "$TMP/empty.json")" = 200 ] || { cat "$TMP/body"; fail "empty string"; }
grep -q '^{"result":\[{"out":{"Label":{"ham":[0-9.e-]*,"spam":[0-9.e-]*}}}\]}$' "$TMP/body" || fail "empty-string answer shape"
pass "base64 decoded as Python's b64decode does"

# GET routes
[ "$(call h2 GET /health)" = 200 ] && grep -q '^{"status":"ok"}$' "$TMP/body" || fail "/health"
[ "$(call h1 GET /ready)" = 200 ] && grep -q '^{"status":"ready"}$' "$TMP/body" || fail "/ready"
[ "$(call h2 GET /info)" = 200 ] || fail "/info"
grep -q '^{"inputs":{"txt":{"type":"bytes","max_length":64,' "$TMP/body" || { cat "$TMP/body"; fail "/info inputs"; }
grep -q '"outputs":{"out":{"Label":{"type":"categorical","classes":\["ham","spam"\]}}}' "$TMP/body" || fail "/info outputs"
grep -q '"parameters":[1-9][0-9]*,"model":{"file":"[^"]*\.safetensors","sha256":"[0-9a-f]\{64\}"' "$TMP/body" || { cat "$TMP/body"; fail "/info model"; }
[ "$(call h2c GET /health)" = 200 ] || fail "h2c upgrade"
[ "$(curl -s -o /dev/null -w '%{http_version}' --http2 --max-time 10 "http://127.0.0.1:$PORT/health")" = 2 ] || fail "h2c upgrade did not reach HTTP/2"
pass "/info /health /ready, h2c upgrade"

# SIGTERM: an in-flight request is answered, a connection opened before the signal sees /ready
# 503, new connections are refused, the process exits 0.
stop_server A "$SPID"
start_server A2 --threads 1 --workers 1 --max-batch 64 --max-delay-us 2000000
item_json s3 > "$TMP/req.json"; printf '[%s]' "$(cat "$TMP/req.json")" > "$TMP/req.json"
curl -s --http2-prior-knowledge --max-time 30 -o "$TMP/inflight.json" -w '%{http_code}' --data-binary @"$TMP/req.json" \
  "http://127.0.0.1:$PORT/predict" > "$TMP/inflight.code" &
CURL=$!
exec 3<>"/dev/tcp/127.0.0.1/$PORT"  # a keep-alive connection, accepted before the signal
for _ in $(seq 1 50); do grep -q 'eir_serve_queue_items 1$' <(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics") && break; sleep 0.05; done
kill -TERM "$SPID"
for _ in $(seq 1 50); do grep -q 'draining:' "$TMP/A2.log" && break; sleep 0.05; done
printf 'GET /ready HTTP/1.1\r\nHost: x\r\n\r\n' >&3
timeout 10 head -c 400 <&3 > "$TMP/ready.txt" || true
exec 3<&-
grep -q '^HTTP/1.1 503' "$TMP/ready.txt" && grep -q '{"status":"draining"}' "$TMP/ready.txt" || { cat "$TMP/ready.txt"; fail "/ready during the drain"; }
rc=0; curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/health" || rc=$?
[ "$rc" = 7 ] || fail "a new connection during the drain should be refused (curl rc 7), got rc $rc"
wait $CURL || true
[ "$(cat "$TMP/inflight.code")" = 200 ] || fail "in-flight request during the drain: status $(cat "$TMP/inflight.code")"
[ "$(cat "$TMP/inflight.json")" = "{\"result\":[$(expected_item s3 pred64/predictions.csv)]}" ] || fail "in-flight answer"
stop_server A2 "$SPID" signalled
grep -q 'drained, exiting' "$TMP/A2.log" || { cat "$TMP/A2.log"; fail "no drain message"; }
pass "SIGTERM drains: in-flight answered, /ready 503, new connections refused, exit 0"

# ---- B: two workers, small limits: the bad-input table, pooling across connections ------------
start_server B --threads 2 --workers 2 --max-batch 8 --max-delay-us 20000 --max-items 32 --max-body-bytes 100000
b64a=$(printf 'a' | base64)
# name | body | status | message (fixed string, as it appears JSON-escaped in the answer)
bad_cases=(
  "malformed JSON|[{\"txt\": \"$b64a\",}|400|invalid JSON at line 1, column 17"
  "not an array|{\"txt\": \"$b64a\"}|400|the body must be a JSON array of objects, one per sample, e.g. [{\\\"txt\\\": \\\"<base64 of the file>\\\"}]; got an object"
  "empty array|[]|400|the array is empty: send at least one sample"
  "empty body||400|the request body is empty"
  "item not an object|[{\"txt\": \"$b64a\"}, \"$b64a\"]|400|item 1: expected an object with the key \\\"txt\\\", got a string"
  "missing key|[{\"txt\": \"$b64a\"}, {\"text\": \"$b64a\"}]|400|item 1: missing key \\\"txt\\\" (the model's inputs: \\\"txt\\\")"
  "extra key|[{\"txt\": \"$b64a\", \"id\": \"x\"}]|400|item 0: unknown key \\\"id\\\" (the model's inputs: \\\"txt\\\")"
  "non-string value|[{\"txt\": 12}]|400|item 0, key \\\"txt\\\": expected a base64 string, got an integer"
  "null value|[{\"txt\": null}]|400|item 0, key \\\"txt\\\": expected a base64 string, got null"
  "bad padding|[{\"txt\": \"$b64a\"}, {\"txt\": \"YQ=\"}]|400|item 1, key \\\"txt\\\": invalid base64: Incorrect padding"
  "one extra character|[{\"txt\": \"YWJjZ\"}]|400|item 0, key \\\"txt\\\": invalid base64: Invalid base64-encoded string: number of data characters (5) cannot be 1 more than a multiple of 4"
  "non-ASCII base64|[{\"txt\": \"YQ==\u00e9\"}]|400|item 0, key \\\"txt\\\": invalid base64: string argument should contain only ASCII characters"
  "too many items|[$(for i in $(seq 1 33); do [ $i = 1 ] || printf ','; printf '{"txt": "%s"}' "$b64a"; done)]|413|33 samples in one request; the limit is 32 (--max-items)"
)
for proto in h2 h1; do
  for c in "${bad_cases[@]}"; do
    IFS='|' read -r name body status msg <<< "$c"
    printf '%s' "$body" > "$TMP/bad.json"
    got=$(call $proto POST /predict "$TMP/bad.json")
    [ "$got" = "$status" ] || { cat "$TMP/body"; fail "$proto $name: status $got, want $status"; }
    grep -q '^{"error":".*"}$' "$TMP/body" || { cat "$TMP/body"; fail "$proto $name: not a JSON error"; }
    grep -qF -- "$msg" "$TMP/body" || { echo "got: $(cat "$TMP/body")"; echo "want: $msg"; fail "$proto $name: message"; }
  done
  # invalid UTF-8 inside a string
  printf '[{"txt": "\xff\xfe"}]' > "$TMP/bad.json"
  [ "$(call $proto POST /predict "$TMP/bad.json")" = 400 ] && grep -q '"error":"invalid JSON' "$TMP/body" || { cat "$TMP/body"; fail "$proto invalid UTF-8"; }
  # a body over --max-body-bytes (h2o reads it: HTTP/2 has no hook before the body)
  { printf '[{"txt": "'; head -c 150000 /dev/zero | tr '\0' 'A'; printf '"}]'; } > "$TMP/big.json"
  [ "$(call $proto POST /predict "$TMP/big.json")" = 413 ] || { cat "$TMP/body"; fail "$proto body over the limit"; }
  grep -qF 'is larger than the limit of 100000 bytes (--max-body-bytes)' "$TMP/body" || { cat "$TMP/body"; fail "$proto 413 message"; }
  # routes and methods
  [ "$(call $proto GET /predict)" = 405 ] && grep -qF 'GET is not allowed on /predict: use POST' "$TMP/body" || fail "$proto GET /predict"
  grep -qi '^allow: POST' "$TMP/headers" || fail "$proto 405 lacks Allow"
  [ "$(call $proto POST /info "$TMP/bad.json")" = 405 ] && grep -qF 'POST is not allowed on /info: use GET, HEAD' "$TMP/body" || fail "$proto POST /info"
  [ "$(call $proto GET /nope)" = 404 ] && grep -qF 'no such endpoint \"/nope\"' "$TMP/body" || { cat "$TMP/body"; fail "$proto unknown path"; }
  grep -qF 'the endpoints are POST /predict, GET /info, GET /health, GET /ready, GET /metrics' "$TMP/body" ||
    { cat "$TMP/body"; fail "$proto 404 lists the routes"; }
  # each route is registered with h2o as a path prefix: longer paths under it are still unknown
  for p in /predict/x /info/ /healthz /metrics/x; do
    [ "$(call $proto GET $p)" = 404 ] || { cat "$TMP/body"; fail "$proto GET $p is not a route"; }
  done
  [ "$(call $proto GET /health)" = 200 ] && grep -qF '{"status":"ok"}' "$TMP/body" || fail "$proto GET /health"
done
# HTTP/1.1: a Content-Length over the limit is refused before the body is read (none is sent here)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000000\r\n\r\n' >&3
timeout 10 cat <&3 > "$TMP/early413.txt" || true
exec 3<&-
grep -q '^HTTP/1.1 413' "$TMP/early413.txt" && grep -qF '{"error":"the request body is larger than the limit of 100000 bytes (--max-body-bytes)"}' "$TMP/early413.txt" ||
  { cat "$TMP/early413.txt"; fail "HTTP/1.1 Content-Length over the limit not refused up front"; }
[ "$(call h1 GET /health)" = 200 ] || fail "server unhealthy after the bad-input table"
pass "bad-input table: 400/404/405/413 with JSON messages naming item and key (HTTP/2 and HTTP/1.1)"

# bodies far over the limit (50x), with and without Content-Length, over HTTP/2 (prior knowledge and
# h2c) and HTTP/1.1: a 413 with the JSON error every time, never REFUSED_STREAM (curl would retry or
# fail with rc 92), and memory that stays bounded while eight such uploads arrive at once
head -c 5000000 /dev/zero | tr '\0' 'A' > "$TMP/huge.json"
rss() { ps -o rss= -p "$SPID" | tr -d ' '; }
rss0=$(rss)
for proto in h2 h2c h1; do
  for te in "" "Transfer-Encoding: chunked"; do
    args=(-sS -o "$TMP/body" -w '%{http_code}' --max-time 60 -H 'content-type: application/json')
    case $proto in h2) args+=(--http2-prior-knowledge) ;; h2c) args+=(--http2) ;; h1) args+=(--http1.1) ;; esac
    [ -n "$te" ] && args+=(-H "$te")
    rc=0; got=$(curl "${args[@]}" --data-binary @"$TMP/huge.json" "http://127.0.0.1:$PORT/predict" 2> "$TMP/curl.err") || rc=$?
    [ "$rc" = 0 ] && [ "$got" = 413 ] || { cat "$TMP/curl.err" "$TMP/body"; fail "$proto ${te:-content-length} 5 MB body: rc $rc, status $got"; }
    grep -qF '{"error":"the request body' "$TMP/body" && grep -qF 'is larger than the limit of 100000 bytes (--max-body-bytes)"}' "$TMP/body" ||
      { cat "$TMP/body"; fail "$proto ${te:-content-length} 5 MB body: 413 message"; }
  done
done
pids=()
for i in $(seq 1 8); do
  curl -s -o "$TMP/par$i.body" -w '%{http_code}' --max-time 60 --http2-prior-knowledge -H 'content-type: application/json' \
    --data-binary @"$TMP/huge.json" "http://127.0.0.1:$PORT/predict" > "$TMP/par$i.code" & pids+=($!)
done
wait "${pids[@]}" || true
for i in $(seq 1 8); do [ "$(cat "$TMP/par$i.code")" = 413 ] || fail "parallel oversize upload $i: $(cat "$TMP/par$i.code")"; done
rss1=$(rss)
[ $((rss1 - rss0)) -lt 65536 ] || fail "RSS grew by $(( (rss1 - rss0) / 1024 )) MB while refusing oversize bodies"
item_json s1 > "$TMP/req.json"; printf '[%s]' "$(cat "$TMP/req.json")" > "$TMP/req.json"
[ "$(call h2 POST /predict "$TMP/req.json")" = 200 ] || fail "a normal request after the oversize ones"
[ "$(call h1 GET /metrics)" = 200 ] && grep -qE '^eir_serve_http2_body_limit_413_total [1-9]' "$TMP/body" ||
  fail "/metrics lacks the HTTP/2 body-limit 413s"
pass "oversize bodies (50x the limit): 413 JSON over HTTP/2, h2c and HTTP/1.1, with or without Content-Length; RSS +$(( (rss1 - rss0) / 1024 )) MB"

# pooling: 24 one-sample requests from 24 connections at once, on a server P whose single worker
# waits up to 1 s for a batch of 8 to fill (B's 20 ms window is shorter than the gap between
# curl starts on a loaded machine, so pooling there would depend on timing)
BPORT=$PORT BPID=$SPID
start_server P --threads 1 --workers 1 --max-batch 8 --max-delay-us 1000000
pids=()
for i in $(seq 1 24); do
  item_json "s$i" > "$TMP/p$i.json"; printf '[%s]' "$(cat "$TMP/p$i.json")" > "$TMP/p$i.json"
  proto=--http2-prior-knowledge; [ $((i % 2)) = 0 ] && proto=--http1.1
  curl -s $proto --max-time 30 -o "$TMP/a$i.json" --data-binary @"$TMP/p$i.json" "http://127.0.0.1:$PORT/predict" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent request failed"; done
for i in $(seq 1 24); do
  want="{\"result\":[$(expected_item "s$i" pred64/predictions.csv)]}"
  [ "$(cat "$TMP/a$i.json")" = "$want" ] || { echo "got  $(cat "$TMP/a$i.json")"; echo "want $want"; fail "pooled answer for s$i differs from eir-predict"; }
done
curl -s --max-time 10 "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics.txt"
batches=$(awk '$1 == "eir_serve_batches_total" { print $2 }' "$TMP/metrics.txt")
ones=$(awk '$1 == "eir_serve_batch_size_bucket{le=\"1.0\"}" { print $2 }' "$TMP/metrics.txt")
[ -n "$batches" ] && [ -n "$ones" ] && [ "$ones" -lt "$batches" ] || { cat "$TMP/metrics.txt"; fail "no batch pooled items of several requests"; }
pass "items of 24 concurrent connections pooled into batches ($batches batches), answers match eir-predict"
stop_server P "$SPID"
PORT=$BPORT SPID=$BPID
[ "$(call h2 POST /predict "$TMP/p1.json")" = 200 ] && [ "$(cat "$TMP/body")" = "$(cat "$TMP/a1.json")" ] || fail "B: predict after the pooling test"
curl -s --max-time 10 "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics.txt"

# /metrics: Prometheus text with the counters and histograms
for pat in '^# TYPE eir_serve_requests_total counter$' '^eir_serve_requests_total{path="/predict",code="200"} [1-9]' \
           '^eir_serve_requests_total{path="/predict",code="400"} [1-9]' '^eir_serve_errors_total{code="413"} [1-9]' \
           '^eir_serve_errors_total{code="404"} [1-9]' '^eir_serve_items_total [1-9]' \
           '^# TYPE eir_serve_batch_size histogram$' '^eir_serve_batch_size_bucket{le="+Inf"} [1-9]' \
           '^eir_serve_queue_wait_seconds_count [1-9]' '^eir_serve_request_duration_seconds_bucket{le="0.1"} [1-9]' \
           '^eir_serve_request_duration_seconds_sum [0-9]' '^eir_serve_ready 1$' '^eir_serve_workers 2$'; do
  grep -q "$pat" "$TMP/metrics.txt" || { cat "$TMP/metrics.txt"; fail "/metrics lacks $pat"; }
done
pass "/metrics"
stop_server B "$SPID"

# ---- C: clients that hang up before their answer --------------------------------------------
start_server C --threads 1 --workers 1 --max-batch 1 --max-delay-us 0 --max-items 20000 --max-queue-items 20000
{ printf '['; for i in $(seq 1 8000); do [ $i = 1 ] || printf ','; printf '{"txt":"%s"}' "$b64a"; done; printf ']'; } > "$TMP/many.json"
# X keeps the single worker busy; Y (HTTP/2) waits behind it and hangs up: withdrawn whole
curl -s --http1.1 --max-time 60 -o "$TMP/x.json" -w '%{http_code}' --data-binary @"$TMP/many.json" "http://127.0.0.1:$PORT/predict" > "$TMP/x.code" &
X=$!
sleep 0.05
printf '[{"txt":"%s"}]' "$b64a" > "$TMP/one.json"
curl -s --http2-prior-knowledge --max-time 0.2 -o /dev/null --data-binary @"$TMP/one.json" "http://127.0.0.1:$PORT/predict" || true
wait $X || true
[ "$(cat "$TMP/x.code")" = 200 ] || fail "the request that stayed was not answered (status $(cat "$TMP/x.code"))"
grep -o '"ham"' "$TMP/x.json" | wc -l | grep -qx 8000 || fail "the request that stayed got a short answer"
# Z (HTTP/2) hangs up while the worker holds one of its items and the rest wait in the queue
curl -s --http2-prior-knowledge --max-time 0.3 -o /dev/null --data-binary @"$TMP/many.json" "http://127.0.0.1:$PORT/predict" || true
# an HTTP/1.1 client hangs up mid-request (h2o notices when it writes the answer)
curl -s --http1.1 --max-time 0.3 -o /dev/null --data-binary @"$TMP/many.json" "http://127.0.0.1:$PORT/predict" || true
for _ in $(seq 1 100); do
  curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics.txt"
  grep -q '^eir_serve_queue_items 0$' "$TMP/metrics.txt" && grep -q '^eir_serve_inflight_requests 0$' "$TMP/metrics.txt" && break
  sleep 0.1
done
grep -q '^eir_serve_queue_items 0$' "$TMP/metrics.txt" || { cat "$TMP/metrics.txt"; fail "withdrawn items left in the queue"; }
cancelled=$(awk '$1 == "eir_serve_cancelled_total" { print $2 }' "$TMP/metrics.txt")
[ "${cancelled:-0}" -ge 2 ] || { cat "$TMP/metrics.txt"; fail "HTTP/2 hang-ups not seen as cancelled ($cancelled)"; }
[ "$(call h2 POST /predict "$TMP/one.json")" = 200 ] || fail "server unusable after the hang-ups"
pass "clients hanging up mid-request: withdrawn or dropped, no crash ($cancelled cancelled)"
stop_server C "$SPID"

# ---- D: a full queue answers 503 with Retry-After ---------------------------------------------
start_server D --threads 1 --workers 1 --max-batch 64 --max-delay-us 1500000 --max-queue-items 4 --max-items 4
printf '[{"txt":"%s"},{"txt":"%s"},{"txt":"%s"}]' "$b64a" "$b64a" "$b64a" > "$TMP/three.json"
printf '[{"txt":"%s"},{"txt":"%s"}]' "$b64a" "$b64a" > "$TMP/two.json"
curl -s --http2-prior-knowledge --max-time 30 -o /dev/null -w '%{http_code}' --data-binary @"$TMP/three.json" \
  "http://127.0.0.1:$PORT/predict" > "$TMP/three.code" &
T3=$!
for _ in $(seq 1 50); do grep -q 'eir_serve_queue_items 3$' <(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics") && break; sleep 0.05; done
[ "$(call h1 POST /predict "$TMP/two.json")" = 503 ] || { cat "$TMP/body"; fail "full queue should answer 503"; }
grep -qF 'the queue is full (3 items waiting, room for 4; --max-queue-items): retry later' "$TMP/body" || { cat "$TMP/body"; fail "503 message"; }
grep -qi '^retry-after: 1' "$TMP/headers" || fail "503 lacks Retry-After"
wait $T3 || true
[ "$(cat "$TMP/three.code")" = 200 ] || fail "the queued request was not answered"
pass "full queue: 503 with Retry-After"
stop_server D "$SPID"

# ---- F: a request still queued after --request-timeout-ms is answered 503 ----------------------
start_server F --threads 1 --workers 1 --max-batch 64 --max-delay-us 600000 --request-timeout-ms 100
[ "$(call h2 POST /predict "$TMP/two.json")" = 503 ] || { cat "$TMP/body"; fail "queue timeout should answer 503"; }
grep -qF 'the request waited more than 100 ms for a worker (--request-timeout-ms): retry later' "$TMP/body" ||
  { cat "$TMP/body"; fail "queue timeout message"; }
stop_server F "$SPID"
pass "request timeout in the queue: 503"

# ---- E: TLS with ALPN h2 ----------------------------------------------------------------------
if command -v openssl > /dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 -subj /CN=127.0.0.1 2> /dev/null ||
    fail "openssl req"
  start_server E --threads 1 --workers 1 --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
  item_json s5 > "$TMP/req.json"; printf '[%s]' "$(cat "$TMP/req.json")" > "$TMP/req.json"
  v=$(curl -s -k --max-time 30 -o "$TMP/body" -w '%{http_version}' --data-binary @"$TMP/req.json" "https://127.0.0.1:$PORT/predict")
  [ "$v" = 2 ] || fail "TLS: ALPN did not select h2 (HTTP version $v)"
  [ "$(cat "$TMP/body")" = "{\"result\":[$(expected_item s5 pred64/predictions.csv)]}" ] || fail "TLS answer"
  [ "$(curl -s -k --http1.1 --max-time 10 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/health")" = 200 ] || fail "TLS HTTP/1.1"
  head -c 20000000 /dev/zero | tr '\0' 'A' > "$TMP/huge.json"  # 20 MB: over the default 16 MiB limit
  got=$(curl -sS -k --max-time 60 -o "$TMP/body" -w '%{http_code} %{http_version}' -H 'content-type: application/json' \
    --data-binary @"$TMP/huge.json" "https://127.0.0.1:$PORT/predict") || fail "TLS h2 oversize body: curl failed"
  [ "$got" = "413 2" ] && grep -qF 'is larger than the limit of' "$TMP/body" || { cat "$TMP/body"; fail "TLS h2 oversize body: $got"; }
  stop_server E "$SPID"
  pass "TLS with ALPN h2 (and http/1.1)"
fi

# ---- command line -----------------------------------------------------------------------------
"$BUILD/eir-serve" --help > "$TMP/help.txt" || fail "--help"
grep -q -- '--max-delay-us' "$TMP/help.txt" || fail "--help text"
[ "$("$BUILD/eir-serve" --version)" = "eir-serve $(sed -n 's/^project(eir-dist VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")" ] || fail "--version"
for f in $(grep -o -- '--[a-z][a-z_-]*' "$TMP/help.txt" | sort -u); do
  case $f in --help|--version|--model_path) continue ;; esac
  "$BUILD/eir-serve" "$f" 2>&1 | grep -q "unknown argument" && fail "--help lists $f but the parser refuses it"
done
expect_fail 2 "model-path is required" "$BUILD/eir-serve"
expect_fail 2 "no-such.safetensors" "$BUILD/eir-serve" --model-path "$TMP/no-such.safetensors"
expect_fail 2 "unknown argument" "$BUILD/eir-serve" --model-path "$M" --bogus 1
expect_fail 2 "expected an integer" "$BUILD/eir-serve" --model-path "$M" --port 99999
pass "command line"
