// simd.c: which version of the multi-versioned CPU kernels (simd.h) this process runs.
#include "model/simd.h"

static const char *level_name(const char *level) {
    if (!strcmp(level, "x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (!strcmp(level, "x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
    return "x86-64 (baseline)";
}

const char *simd_kernel_level(void) {
#if defined(EIR_KERNEL_LEVEL)
    return level_name(EIR_KERNEL_LEVEL);  // built for one level
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EIR_NO_CLONES) && \
    !defined(__AVX512F__)
    // The same test GCC's target_clones resolver makes, highest level first.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return level_name("x86-64-v4");
    if (__builtin_cpu_supports("x86-64-v3")) return level_name("x86-64-v3");
    return level_name("x86-64");
#elif defined(__AVX512F__)
    return "compiler flags (-march: AVX-512)";
#elif defined(__AVX2__)
    return "compiler flags (-march: AVX2)";
#else
    return level_name("x86-64");
#endif
}

bool simd_wide_vectors(void) { return strstr(simd_kernel_level(), "AVX-512") != NULL; }
