#!/usr/bin/env bash
# Runs the README's "Serving with Docker" for real: starts the Docker engine if none runs,
# makes debian:bookworm available offline (debootstrap + docker import, kept for later runs),
# builds the image with docker-compose, trains a tiny model with the compose "train" service
# (mpirun, 2 ranks, in a container), serves it with `docker-compose up -d serve`, waits for the
# container's healthcheck, and checks that an HTTP/2 /predict answer carries the same
# probabilities, digit for digit, as eir-predict's. Exits 77 (ctest: skipped) where no engine can
# run; EIR_REQUIRE_OPS=1 makes that a failure. Containers, networks and an engine started here
# are removed/stopped on exit.
source "$(dirname "$0")/../cli_lib.sh"

skip() {
  echo "SKIP: $*" >&2
  [ "${EIR_REQUIRE_OPS:-0}" = 1 ] && fail "EIR_REQUIRE_OPS=1 but: $*"
  exit 77
}

# ---- packages (installed here when missing: they are not part of the default install-deps)
have_docker() { command -v docker && command -v docker-compose && command -v curl && command -v python3 && command -v ss; } >/dev/null
if ! have_docker || ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing the Docker packages (scripts/install-deps.sh --ops)"
    bash "$SRC/scripts/install-deps.sh" --ops >"$TMP/apt.log" 2>&1 || { tail -20 "$TMP/apt.log" >&2; skip "cannot install Docker"; }
  fi
  have_docker || skip "docker, docker-compose, curl or python3 missing and not installable here"
fi

PROJECT=eirtest$$
IMAGE=eir-dist:test
COMPOSE=(docker-compose -f "$SRC/docker/compose.yaml" -p "$PROJECT")
export EIR_IMAGE=$IMAGE EIR_BUILD_JOBS=2
dockerd_pid=""
cleanup() {
  set +e
  if [ -n "${compose_up:-}" ]; then
    timeout 60 "${COMPOSE[@]}" --profile train down --remove-orphans --timeout 10 >/dev/null 2>&1 \
      || timeout 60 "${COMPOSE[@]}" down --remove-orphans --timeout 10 >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ]; then
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  # debootstrap mounts proc/sys in its target: never let rm cross into them
  awk -v t="$TMP" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# ---- the engine: an already running one is used and left running
t0=$SECONDS
if ! timeout 20 docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || skip "no Docker engine runs and dockerd is not installed"
  dockerd >"$TMP/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do timeout 5 docker info >/dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
  timeout 10 docker info >/dev/null 2>&1 || { tail -20 "$TMP/dockerd.log" >&2; skip "the Docker engine did not start"; }
  pass "started dockerd in $((SECONDS - t0)) s"
else
  pass "using the running Docker engine"
fi

# ---- debian:bookworm without a registry: a minbase debootstrap imported as an image, once
t0=$SECONDS
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  mirror=${EIR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  command -v debootstrap >/dev/null || skip "no debian:bookworm image and no debootstrap to make one"
  debootstrap --variant=minbase bookworm "$TMP/rootfs" "$mirror" >"$TMP/debootstrap.log" 2>&1 \
    || { tail -20 "$TMP/debootstrap.log" >&2; skip "debootstrap from $mirror failed: no base image"; }
  rm -rf "$TMP"/rootfs/var/cache/apt/archives/*.deb "$TMP"/rootfs/var/lib/apt/lists/*
  tar -C "$TMP/rootfs" -c . | docker import -c 'CMD ["bash"]' - debian:bookworm >/dev/null || fail "docker import"
  rm -rf --one-file-system "$TMP/rootfs"
  pass "debian:bookworm imported from a debootstrap in $((SECONDS - t0)) s"
else
  pass "debian:bookworm already present"
fi

# ---- the image, as the README builds it (layers are cached between runs)
t0=$SECONDS
old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
compose_up=1
"${COMPOSE[@]}" build --force-rm serve >"$TMP/build.log" 2>&1 || { tail -40 "$TMP/build.log" >&2; fail "image build"; }
new_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
# the previous image goes (its layers are mostly shared with this one); the untagged build-stage
# images stay as the layer cache of the next run
[ -z "$old_id" ] || [ "$old_id" = "$new_id" ] || docker rmi "$old_id" >/dev/null 2>&1 || true
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = eir ] || fail "the image does not run as the non-root user eir"
docker image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q eir-healthcheck || fail "the image has no healthcheck"
docker image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE" | grep -q '"eir-serve"' || fail "the entrypoint is not eir-serve"
pass "image $IMAGE built in $((SECONDS - t0)) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"

# ---- train in a container: the compose train service, mpirun with 2 ranks, on a mounted folder
W=$TMP/work
make_tiny_dataset "$W/data"
sed -i "s#$W/##" "$W"/data/*.yaml    # paths relative to the mounted folder, as in examples/
t0=$SECONDS
EIR_WORKDIR=$W EIR_UID=$(id -u) EIR_GID=$(id -g) EIR_RANKS=2 \
  EIR_GLOBAL_CONFIGS=data/g.yaml EIR_INPUT_CONFIGS=data/i.yaml EIR_OUTPUT_CONFIGS=data/o.yaml \
  "${COMPOSE[@]}" run --rm -T train >"$TMP/train.log" 2>&1 || { tail -30 "$TMP/train.log" >&2; fail "compose run train"; }
grep -q "2 rank(s), 8 rows per rank" "$TMP/train.log" && grep -q "Training finished after 30 iterations" "$TMP/train.log" \
  || { tail -30 "$TMP/train.log" >&2; fail "the train service did not train with 2 ranks"; }
M=$(ls "$W"/run/saved_models/*.safetensors | tail -1)
[ -s "$M" ] || fail "the train service saved no model"
pass "compose train service: mpirun -np 2 in a container in $((SECONDS - t0)) s"

# ---- serve it: model folder mounted read-only, port published on loopback
mkdir -p "$W/models"
cp "$M" "$W/models/model.safetensors"
chmod 755 "$W/models"; chmod 644 "$W/models/model.safetensors"
port=""
for p in $(seq $((18000 + $$ % 1000)) $((18999 + $$ % 1000))); do
  ss -Hltn "sport = :$p" | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || fail "no free port"
# The served digits are compared with eir-predict's on the host below: inference is batch-
# invariant, and compose passes the host's OpenBLAS settings (OPENBLAS_CORETYPE, ...) into the
# container; they choose the matrix kernels, whose last bits differ (CI machines set
# OPENBLAS_CORETYPE=Haswell on AVX-512 CPUs: without the pass-through the digits differ).
export EIR_MODEL_DIR=$W/models EIR_SERVE_PORT=$port
t0=$SECONDS
"${COMPOSE[@]}" up -d serve >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; fail "docker-compose up -d serve"; }
cid=$("${COMPOSE[@]}" ps -q serve)
[ -n "$cid" ] || fail "no serve container"
health=""
for _ in $(seq 1 120); do  # up to 60 s: start period, then a check every 5 s
  health=$(docker inspect -f '{{.State.Health.Status}}' "$cid" 2>/dev/null || true)
  [ "$health" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Status}}' "$cid" 2>/dev/null)" = running ] || [ "$health" = starting ] || break
  sleep 0.5
done
[ "$health" = healthy ] || { docker logs "$cid" 2>&1 | tail -30 >&2; docker inspect -f '{{json .State.Health}}' "$cid" >&2; fail "serve container is '$health'"; }
pass "serve container healthy in $((SECONDS - t0)) s on 127.0.0.1:$port"
[ "$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$cid")" = unless-stopped ] || fail "restart policy"
docker inspect -f '{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}' "$cid" | grep -q '^/models false$' || fail "the model folder is not mounted read-only"
[ "$(docker exec "$cid" id -u)" = 10001 ] || fail "eir-serve does not run as the image's non-root user"
curl -sSf "http://127.0.0.1:$port/health" >/dev/null || fail "GET /health over HTTP/1.1"
curl -sSf "http://127.0.0.1:$port/info" | grep -q '"txt"' || fail "GET /info"

# ---- one HTTP/2 request with several files vs eir-predict on the same files
mkdir -p "$TMP/pin"
ids=(s1 s2 s7 s10 s55 s200)
sep="["
for id in "${ids[@]}"; do
  cp "$W/data/files/$id.txt" "$TMP/pin/"
  printf '%s{"txt": "%s"}' "$sep" "$(base64 -w0 "$W/data/files/$id.txt")"
  sep=", "
done > "$TMP/request.json"
echo "]" >> "$TMP/request.json"
ver=$(curl -sS --http2-prior-knowledge -H 'Content-Type: application/json' --data-binary @"$TMP/request.json" \
      -o "$TMP/response.json" -w '%{http_code} %{http_version}' "http://127.0.0.1:$port/predict") || fail "POST /predict"
[ "$ver" = "200 2" ] || { cat "$TMP/response.json" >&2; fail "POST /predict answered '$ver' (want 200 over HTTP/2)"; }
"$BUILD/eir-predict" --model-path "$M" --input-folder "$TMP/pin" --output-folder "$TMP/pout" >/dev/null || fail "eir-predict"
python3 - "$TMP/response.json" "$TMP/pout/predictions.csv" "${ids[@]}" <<'EOF' || fail "served probabilities differ from eir-predict's"
import csv, json, sys
# parse_float=str keeps each number exactly as the server printed it
resp = json.load(open(sys.argv[1]), parse_float=str)["result"]
rows = {r["ID"]: r for r in csv.DictReader(open(sys.argv[2]))}
ids = sys.argv[3:]
assert len(resp) == len(ids), f"{len(resp)} results for {len(ids)} items"
n = 0
for i, item in zip(ids, resp):
    probs = item["out"]["Label"]
    for cls in ("ham", "spam"):
        if probs[cls] != rows[i][cls]:
            sys.exit(f"{i} {cls}: served {probs[cls]}, eir-predict {rows[i][cls]}")
        n += 1
print(f"{n} probabilities identical, e.g. {ids[0]}: {resp[0]['out']['Label']}")
EOF
pass "HTTP/2 /predict == eir-predict, digit for digit"

# ---- tear down as the docs do; eir-serve drains on SIGTERM and exits 0; nothing may remain
t0=$SECONDS
"${COMPOSE[@]}" stop --timeout 10 serve >/dev/null 2>&1 || fail "docker-compose stop"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$cid")" = 0 ] || { docker logs "$cid" 2>&1 | tail >&2; fail "eir-serve did not exit 0 on SIGTERM"; }
"${COMPOSE[@]}" down --timeout 10 >/dev/null 2>&1 || fail "docker-compose down"
compose_up=""
[ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")" ] || fail "containers left after down"
pass "docker-compose down in $((SECONDS - t0)) s"
