#!/usr/bin/env bash
# The main job on a built-in default, from a fresh Debian machine: install, build, fetch the
# SpamAssassin corpus, train a small model (examples/demo), predict with it, then serve it and
# answer one request over HTTP/2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
bash scripts/fetch-spam-corpus.sh

echo "== training examples/demo (small model) into runs/demo"
rm -rf runs/demo
./build/eir-dist --global_configs examples/demo/globals.yaml --input_configs examples/demo/input.yaml \
  --output_configs examples/demo/output.yaml
model=$(ls runs/demo/saved_models/*.safetensors | tail -1)
echo "== best model: $model"

echo "== eir-predict on every message (train and valid), metrics against the labels"
./build/eir-predict --model-path "$model" --input-folder data/spam/emails --output-folder runs/demo/predict \
  --labels data/spam/labels.csv --evaluate > runs/demo/predict.log
cat runs/demo/predict/calculated_metrics.json; echo
head -3 runs/demo/predict/predictions.csv

if [ -x build/eir-serve ]; then
  echo "== eir-serve on 127.0.0.1:8000, one request with two e-mails"
  ./build/eir-serve --model-path "$model" --host 127.0.0.1 --port 8000 > runs/demo/serve.log 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf --http2-prior-knowledge http://127.0.0.1:8000/ready >/dev/null && break; sleep 0.1; done
  a=$(base64 -w0 data/spam/emails/spam-1_00001.txt); b=$(base64 -w0 data/spam/emails/easy-ham-1_00001.txt)
  printf '[{"spam_email_bytes": "%s"}, {"spam_email_bytes": "%s"}]' "$a" "$b" > runs/demo/request.json
  curl -s --http2-prior-knowledge -H 'Content-Type: application/json' --data-binary @runs/demo/request.json \
    http://127.0.0.1:8000/predict
  echo
  kill -TERM $pid; wait $pid || true
else
  echo "== eir-serve is not built in this version: serving step skipped"
fi
