#!/usr/bin/env bash
# bench/gpu-bundle-hash.sh SRC: one SHA-256 over the files the bundle's programs are compiled from
# (CMakeLists.txt, src/, the C sources of bench/ and tests/), so that bench/gpu.sh can tell whether
# a carried bundle (bench/gpu-bundle.sh) matches the tree it runs in. Scripts run from the tree
# itself and are left out.
set -euo pipefail
cd "$1"
find CMakeLists.txt src bench tests -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name CMakeLists.txt \) \
    -not -path 'tests/gpu/emu/*' -not -path 'tests/gpu/fallback/*' -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
