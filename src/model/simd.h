// simd.h: helpers that let the hand-written hot loops vectorise on the CPU they run on.
// The build targets baseline x86-64 (SSE2) unless EIR_NATIVE is set, so the few hot per-row or
// per-window kernels are compiled in several versions (AVX-512, AVX2+FMA, baseline) and glibc
// picks one at load time (GCC function multi-versioning). OpenMP loops stay in plain functions
// and call these kernels once per row or per window: an outlined OpenMP body would not be cloned.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

// fp-contract=fast: -std=c11 turns off a*b+c -> fma contraction, which halves the arithmetic
// rate of these loops (PyTorch's CPU kernels use fma as well).
// EIR_KERNEL_LEVEL (cmake -DEIR_KERNEL_LEVEL=x86-64-v3) builds one of those versions alone, so
// that the AVX2 path can be measured and tested on an AVX-512 machine.
#if defined(EIR_KERNEL_LEVEL) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EIR_KERNEL __attribute__((target("arch=" EIR_KERNEL_LEVEL), optimize("fp-contract=fast")))
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EIR_NO_CLONES) && \
    !defined(__AVX512F__)
#define EIR_KERNEL \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
#elif defined(__GNUC__) && !defined(__clang__)
#define EIR_KERNEL __attribute__((optimize("fp-contract=fast")))
#else
#define EIR_KERNEL
#endif

// EIR_KERNEL_WIDE: a kernel version for AVX-512 alone, for loops whose best shape differs with
// the vector width (16 lanes against 8); call it only where simd_wide_vectors() is true.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EIR_KERNEL_WIDE __attribute__((target("arch=x86-64-v4"), optimize("fp-contract=fast")))
#endif

// Which version of the kernels above this process runs: "x86-64-v4 (AVX-512)", "x86-64-v3
// (AVX2+FMA)" or "x86-64 (baseline)", chosen at load time or fixed by EIR_KERNEL_LEVEL (simd.c).
const char *simd_kernel_level(void);
// Whether this process runs the AVX-512 versions (simd_kernel_level() is x86-64-v4, or the build
// targets AVX-512): then EIR_KERNEL_WIDE kernels may run and are the faster ones.
bool simd_wide_vectors(void);

// Loops over fewer elements than this run on the calling thread: a parallel region costs more
// than it saves there (and spinning threads hurt on shared cores).
#define EIR_PAR_MIN 32768

// exp(x) for float, vectorisable (no libm call): 2^n * P(r) with r = x - n ln2 in
// [-ln2/2, ln2/2] and a degree-6 polynomial (relative error < 2e-7 over the clamped range).
// Arguments below -87.3 give ~1e-38 instead of 0, above 88.3 clamp to 2.2e38.
static inline float exp_approx(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    // n = round(x / ln2) with the 1.5*2^23 trick (exact, no floorf call).
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;  // ln2 split in a high part exact in float ...
    r = r - n * -2.12194440e-4f;      // ... and the low remainder
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// Logistic sigmoid via exp_approx.
static inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
