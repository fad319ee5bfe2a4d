#!/usr/bin/env bash
# Installs the Debian packages eir-dist needs to build and test (idempotent).
# Usage: scripts/install-deps.sh [--reference] [--ops]
#   --reference adds python3-torch/numpy for fixtures and benches, tcmalloc and jemalloc (the
#               allocators bench/train_bench.sh tries PyTorch with), FastAPI + uvicorn for the
#               baseline of bench/serve_bench.sh
#   --ops adds what the Slurm and Docker tests run (a one-node Slurm cluster, the Docker engine,
#         docker-compose v1, debootstrap for an offline base image); those tests install it themselves
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates curl
      libyaml-dev libjansson-dev libopenblas-dev libopenmpi-dev openmpi-bin
      libh2o-evloop-dev libssl-dev zlib1g-dev nghttp2-client openssl
      clang libomp-dev libclang-rt-dev  # clang + libFuzzer + its OpenMP: tests/fuzz
      python3-h2  # the HTTP/2 robustness checker, tests/h2/conformance.py
      iproute2)   # ip netns, tc: the nodes of tests/multinode/ (netns-cluster.sh)
for arg in "$@"; do
  case $arg in
    --reference) pkgs+=(python3-numpy python3-torch python3-yaml python3-fastapi python3-uvicorn libtcmalloc-minimal4 libjemalloc2) ;;
    --ops) pkgs+=(slurm-wlm slurmctld slurmd slurm-client munge docker.io docker-compose debootstrap iproute2) ;;
    *) echo "usage: $0 [--reference] [--ops]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
