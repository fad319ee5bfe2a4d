// cuda_common.h: what every CUDA file of the backend shares (issue 7): checked calls that name
// the call, file and line and end the run (llm.c's cudaCheck), the device-side Philox and
// exp_approx that make GPU dropout masks and softmaxes the CPU's (layers_dropout.c, simd.h), and
// the warp reductions. C files see only the device probe; the rest is CUDA C++ (__CUDACC__).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
// Number of usable CUDA devices; 0 on ANY error (no driver, driver too old for the runtime, no
// device), never dies: a machine without a GPU takes the CPU path.
int cuda_device_count(void);
#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include <cublas_v2.h>
#include <cuda_runtime.h>
#if __has_include(<nccl.h>)  // absent in a kernels-only build (bench/gpu.sh's fallback)
#include <nccl.h>
#define EIR_CUDA_HAVE_NCCL 1
#endif

extern "C" {
#include "common/util.h"
}

// Failures end the run through eir_die (so a distributed run aborts every rank), naming the call.
static inline void cuda_check_(cudaError_t err, const char *call, const char *file, int line) {
    if (err != cudaSuccess) eir_die("CUDA call failed: %s: %s (%s:%d)", call, cudaGetErrorString(err), file, line);
}
static inline void cublas_check_(cublasStatus_t st, const char *call, const char *file, int line) {
    if (st != CUBLAS_STATUS_SUCCESS)
        eir_die("cuBLAS call failed: %s: %s (%s:%d)", call, cublasGetStatusString(st), file, line);
}
#define CUDA_CHECK(call) cuda_check_((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cublas_check_((call), #call, __FILE__, __LINE__)
#ifdef EIR_CUDA_HAVE_NCCL
static inline void nccl_check_(ncclResult_t r, const char *call, const char *file, int line) {
    if (r != ncclSuccess) eir_die("NCCL call failed: %s: %s (%s:%d)", call, ncclGetErrorString(r), file, line);
}
#define NCCL_CHECK(call) nccl_check_((call), #call, __FILE__, __LINE__)
#endif
// The handle behind the C API's `void *blas`: cuBLAS plus the matrix-product precision.
struct EirBlas {
    cublasHandle_t h;
    int math;  // CudaMath (layers_cuda.h)
};

// After a kernel launch: launch-configuration errors surface here, naming the kernel.
#define CUDA_LAUNCH_CHECK(name) cuda_check_(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)

// The C API passes streams as void* so that C callers need no CUDA header.
#define STREAM(s) ((cudaStream_t)(s))

static inline unsigned cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// ---- Philox4x32-10, as common/rng.c -------------------------------------------------------
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// The three fixed counter words of RngStream(seed, purpose, step, sample) (rng_stream_init).
struct PhiloxStream {
    uint32_t k0, k1, c1, c2, c3;
};
__host__ __device__ inline PhiloxStream philox_stream(uint64_t seed, uint32_t purpose, uint64_t step, uint64_t sample) {
    PhiloxStream s;
    s.k0 = (uint32_t)seed;
    s.k1 = (uint32_t)(seed >> 32);
    s.c1 = purpose;
    s.c2 = (uint32_t)step ^ (uint32_t)(step >> 32) * 0x85EBCA6Bu;
    s.c3 = (uint32_t)sample ^ (uint32_t)(sample >> 32) * 0xC2B2AE35u;
    return s;
}

// Block `b` of the stream: the 4 words rng_next_u32 returns at positions 4b .. 4b+3.
__device__ __forceinline__ uint4 philox_block(const PhiloxStream &s, uint32_t b) {
    uint32_t x0 = b, x1 = s.c1, x2 = s.c2, x3 = s.c3, k0 = s.k0, k1 = s.k1;
#pragma unroll
    for (int round = 0; round < 10; round++) {
        uint32_t hi0 = __umulhi(PHILOX_M0, x0), lo0 = PHILOX_M0 * x0;
        uint32_t hi1 = __umulhi(PHILOX_M1, x2), lo1 = PHILOX_M1 * x2;
        uint32_t n0 = hi1 ^ x1 ^ k0, n2 = hi0 ^ x3 ^ k1;
        x0 = n0, x1 = lo1, x2 = n2, x3 = lo0;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    return make_uint4(x0, x1, x2, x3);
}

// 8 keep bits of one block: bit 2w = low half of word w >= thr, bit 2w+1 = high half.
__device__ __forceinline__ uint32_t philox_keep_byte(uint4 x, uint32_t thr) {
    return (uint32_t)((x.x & 0xFFFFu) >= thr) | (uint32_t)((x.x >> 16) >= thr) << 1 |
           (uint32_t)((x.y & 0xFFFFu) >= thr) << 2 | (uint32_t)((x.y >> 16) >= thr) << 3 |
           (uint32_t)((x.z & 0xFFFFu) >= thr) << 4 | (uint32_t)((x.z >> 16) >= thr) << 5 |
           (uint32_t)((x.w & 0xFFFFu) >= thr) << 6 | (uint32_t)((x.w >> 16) >= thr) << 7;
}

// Keep bits of elements [first, first+n) of the stream, n <= 32: bit k = element first+k kept
// (its 16-bit half, element e = half e%8 of block e/8, >= thr), bits >= n zero. This is one
// word of dropout_keep_bits (layers_dropout.c), whatever the alignment of `first`.
__device__ __forceinline__ uint32_t philox_keep_word(const PhiloxStream &s, uint64_t first, int n, uint32_t thr) {
    if ((first & 7) == 0 && n == 32) {
        uint32_t b = (uint32_t)(first >> 3);
        return philox_keep_byte(philox_block(s, b), thr) | philox_keep_byte(philox_block(s, b + 1), thr) << 8 |
               philox_keep_byte(philox_block(s, b + 2), thr) << 16 | philox_keep_byte(philox_block(s, b + 3), thr) << 24;
    }
    uint32_t word = 0, cur = 0xFFFFFFFFu;
    uint32_t byte = 0;
    for (int k = 0; k < n; k++) {
        uint64_t e = first + (uint64_t)k;
        uint32_t b = (uint32_t)(e >> 3);
        if (b != cur || k == 0) {
            byte = philox_keep_byte(philox_block(s, b), thr);
            cur = b;
        }
        word |= ((byte >> (uint32_t)(e & 7)) & 1u) << k;
    }
    return word;
}

// ---- exp_approx and sigmoid_approx, as model/simd.h (the same polynomial, so GPU softmaxes and
// gates round like the CPU's vector clones, which contract to fma as the GPU does) ----------
__device__ __forceinline__ float exp_approx_dev(float x) {
    x = fminf(fmaxf(x, -87.3f), 88.3f);
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * __int_as_float(((int32_t)n + 127) << 23);
}
__device__ __forceinline__ float sigmoid_approx_dev(float x) { return 1.0f / (1.0f + exp_approx_dev(-x)); }

// ---- warp reductions (xor butterfly: a fixed order, so results are run-to-run identical) ----
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

// Column sums shared by the parameter-gradient reductions (layers_norm.cu): dst[c] += alpha *
// sum_r a[r,c] * (b ? b[r,c] : 1) * (rs ? rs[r] : 1), deterministic (fixed row chunks summed in
// chunk order). scratch: colsum_cuda_scratch_floats(N, C) floats.
void colsum_scaled_cuda(float *dst, const float *a, const float *b, const float *rs, int N, int C, float alpha,
                        float *scratch, cudaStream_t stream);
#endif  // __CUDACC__
