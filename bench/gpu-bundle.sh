#!/usr/bin/env bash
# bench/gpu-bundle.sh: prepares, on this machine (no GPU needed), everything bench/gpu.sh needs on a
# GPU machine whose image lacks this project's libraries (libyaml, jansson, OpenBLAS, h2o, MPI):
# the programs and GPU tests built here for Hopper (sm_90a) with the CUDA backend and without MPI
# (EIR_MPI=OFF: one process, one GPU), with every shared library they use except glibc, the C++
# runtime and CUDA's own (cudart, cuBLAS, NCCL: the GPU machine has its own, found by gpu.sh).
#
#   bash bench/gpu-bundle.sh                 -> .gpubundle/eir-gpu-bundle.tar.xz (git-ignored)
#   run(command="bash bench/gpu.sh", carry=[".gpubundle"], timeout_s=600)
#
# gpu.sh builds natively when the machine has the libraries, else unpacks this bundle (and checks
# that it was built from the same sources: a stale bundle is refused), else builds the kernels only.
# The programs find their libraries through RPATH $ORIGIN/../lib (DT_RPATH, not RUNPATH: it also
# serves the libraries' own dependencies, e.g. OpenBLAS's libgfortran), so nothing else on the GPU
# machine (Python, PyTorch) sees them. Environment: ARCH (default 90a), JOBS (default nproc).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
ARCH=${ARCH:-90a}
JOBS=${JOBS:-$(nproc)}
BUILD=$SRC/build-gpu/bundle-build
OUTDIR=$SRC/.gpubundle
STAGE=$OUTDIR/stage
TARGETS=(eir-dist eir-predict eir-serve eir-bench-train eir-bench-gpu-kernels st_compare
         test_gpu_kernels test_gpu_model test_gpu_nccl)

[ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null || { echo "gpu-bundle: nvcc not found (CUDA toolkit)" >&2; exit 1; }
mkdir -p "$BUILD"
echo "== configure + build (Release, CUDA arch $ARCH, EIR_MPI=OFF) in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEIR_CUDA=ON -DEIR_MPI=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" '-DCMAKE_BUILD_RPATH=$ORIGIN/../lib' \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log" >&2; echo "gpu-bundle: cmake configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

rm -rf "$STAGE" && mkdir -p "$STAGE/bin" "$STAGE/lib"
for t in "${TARGETS[@]}"; do
    [ -x "$BUILD/$t" ] || { echo "gpu-bundle: $BUILD/$t was not built" >&2; exit 1; }
    cp "$BUILD/$t" "$STAGE/bin/"
    readelf -d "$STAGE/bin/$t" | grep -q '(RPATH).*\$ORIGIN/../lib' ||
        { echo "gpu-bundle: $t lacks RPATH \$ORIGIN/../lib" >&2; exit 1; }
done
# The libraries: what ldd resolves, less glibc, the GCC C++ runtime (newer there) and CUDA's own.
skip='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libnccl)\.so'
for t in "${TARGETS[@]}"; do ldd "$BUILD/$t"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
        [[ $name =~ $skip ]] && continue
        cp -L "$path" "$STAGE/lib/$name"
    done
missing=$(for t in "${TARGETS[@]}"; do ldd "$BUILD/$t"; done | grep "not found" | sort -u || true)
[ -z "$missing" ] || { echo "gpu-bundle: unresolved here: $missing" >&2; exit 1; }

# What it was built from: gpu.sh recomputes this over the tree it runs in and refuses a mismatch.
bash "$SRC/bench/gpu-bundle-hash.sh" "$SRC" >"$STAGE/SOURCE_HASH"
{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) ($(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1))"
    echo "git: $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo none)"
    echo "cmake: EIR_CUDA=ON EIR_MPI=OFF CMAKE_CUDA_ARCHITECTURES=$ARCH Release"
    /usr/local/cuda/bin/nvcc --version | tail -1
    echo "needs from the GPU machine: libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2 (toolkit or pip wheels), a driver for CUDA 13"
    echo "libraries carried: $(ls "$STAGE/lib" | tr '\n' ' ')"
} >"$STAGE/BUNDLE_INFO"
cat "$STAGE/BUNDLE_INFO"

tar -C "$STAGE" -cf - . | xz -T"$JOBS" -6 >"$OUTDIR/eir-gpu-bundle.tar.xz"
rm -rf "$STAGE"
size=$(stat -c %s "$OUTDIR/eir-gpu-bundle.tar.xz")
echo "bundle: $OUTDIR/eir-gpu-bundle.tar.xz ($((size / 1024 / 1024)) MiB; the device tool carries at most 64 MiB)"
[ "$size" -lt $((60 * 1024 * 1024)) ] || { echo "gpu-bundle: too large to carry" >&2; exit 1; }

# Unpacked elsewhere, the programs run from it: one-process training, resume and the launcher check
# (tests/cli/single_process.sh, on the CPU here), and the GPU tests skip cleanly without a GPU.
CHECK=$(mktemp -d /tmp/eir-gpu-bundle-check.XXXXXX)
trap 'rm -rf "$CHECK"' EXIT
tar -C "$CHECK" -xJf "$OUTDIR/eir-gpu-bundle.tar.xz"
"$CHECK/bin/eir-dist" --version
bash "$SRC/tests/cli/single_process.sh" "$CHECK/bin" "$SRC"
rc=0; "$CHECK/bin/test_gpu_kernels" >/dev/null || rc=$?
[ $rc = 0 ] || [ $rc = 77 ] || { echo "gpu-bundle: test_gpu_kernels from the bundle exited $rc" >&2; exit 1; }
echo "gpu-bundle: ok (carry it: run(command=\"bash bench/gpu.sh\", carry=[\".gpubundle\"], timeout_s=600))"
