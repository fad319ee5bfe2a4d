// tests/gpu/emu/cublas_v2.h: cuBLAS for the CPU emulation (cuda_runtime.h beside it): the calls
// layers_linear.cu makes, every product as a plain column-major triple loop (double accumulation),
// so the row-major <-> column-major mapping of the real calls is what gets tested.
//
// Precision: a handle keeps its math mode. In CUBLAS_TF32_TENSOR_OP_MATH, cublasSgemm (and
// cublasGemmEx with CUBLAS_COMPUTE_32F) rounds every operand element to TF32 (10 explicit mantissa
// bits, nearest even) before the products, as the tensor cores take them; cublasGemmEx with
// CUBLAS_COMPUTE_32F_FAST_TF32 does so whatever the mode, CUBLAS_COMPUTE_32F_FAST_16BF rounds them to
// bfloat16 (7 bits), CUBLAS_COMPUTE_32F_PEDANTIC never rounds. Products are exact and summed in
// double here, which the tensor cores do not do: the emulation pins the operand rounding, not
// cuBLAS's accumulation order. cublasGemmEx takes fp32 (CUDA_R_32F) or bf16 (CUDA_R_16BF, A and B
// both) operands and an fp32 or bf16 C; anything else is CUBLAS_STATUS_NOT_SUPPORTED, as is the
// deprecated CUBLAS_TENSOR_OP_MATH (fp16 operands) in a product. The values of the enums are the
// real headers' (cublas_api.h, library_types.h).
#pragma once
#include "cuda_bf16.h"
#include "cuda_runtime.h"

struct emu_blas {
    int math;  // cublasMath_t
    cudaStream_t stream;
};
typedef struct emu_blas *cublasHandle_t;
typedef int cublasStatus_t;
enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,  // deprecated in the real cuBLAS: fp16 operands; not emulated in products
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
    CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16,
} cublasMath_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType_t;
typedef cudaDataType_t cudaDataType;
typedef enum {
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_PEDANTIC = 69,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
} cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1, CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99 } cublasGemmAlgo_t;

inline const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED (emulated cuBLAS)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED (emulated cuBLAS)";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (emulated cuBLAS)";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED (emulated cuBLAS)";
    default: return "emulated cuBLAS error";
    }
}
inline cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = (cublasHandle_t)calloc(1, sizeof(struct emu_blas));
    return *h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t h) {
    free(h);
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    int base = (int)mode & 0xF;
    if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_TENSOR_OP_MATH && base != CUBLAS_PEDANTIC_MATH &&
        base != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    h->math = (int)mode;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *mode = (cublasMath_t)h->math;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}

namespace emu {
enum GemmRound { ROUND_NONE = 0, ROUND_TF32 = 1, ROUND_BF16 = 2 };
inline float round_operand(float x, int r) {
    return r == ROUND_TF32 ? round_tf32(x) : r == ROUND_BF16 ? round_bf16(x) : x;
}
inline float load_operand(const void *p, cudaDataType_t t, size_t i) {
    return t == CUDA_R_16BF ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
}
// op(X) (rows x k, column-major in X with leading dimension ld; transposed when t) as a row-major
// rows x k copy, every element rounded by `r`: each row of op(A) and column of op(B) is then one
// contiguous dot-product operand.
inline std::vector<float> operand_rows(const void *X, cudaDataType_t type, cublasOperation_t t, int rows, int k,
                                       int ld, int r) {
    std::vector<float> out((size_t)rows * k);
    for (int i = 0; i < rows; i++)
        for (int p = 0; p < k; p++)
            out[(size_t)i * k + p] =
                round_operand(load_operand(X, type, t == CUBLAS_OP_N ? i + (size_t)p * ld : p + (size_t)i * ld), r);
    return out;
}
// C (m x n, ldc) = alpha op(A) op(B) + beta C, column-major; op(A) m x k, op(B) k x n; each operand
// element rounded by `r`; beta == 0 ignores C (NaNs in it included), as the real cuBLAS.
inline cublasStatus_t gemm_args(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb,
                                int ldc) {
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m)
        return CUBLAS_STATUS_INVALID_VALUE;  // as the real cuBLAS checks
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t gemm_now(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                               const void *A, cudaDataType_t At, int lda, const void *B, cudaDataType_t Bt, int ldb,
                               float beta, void *C, cudaDataType_t Ct, int ldc, int r) {
    // rows of op(A), and rows of op(B)^T (= columns of op(B): B read with the other transpose)
    std::vector<float> a = operand_rows(A, At, ta, m, k, lda, r);
    std::vector<float> b = operand_rows(B, Bt, tb == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N, n, k, ldb, r);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            const float *ai = a.data() + (size_t)i * k, *bj = b.data() + (size_t)j * k;
            double s = 0.0;
            for (int p = 0; p < k; p++) s += (double)ai[p] * bj[p];
            size_t c = i + (size_t)j * ldc;
            double old = beta != 0.0f ? (double)beta * load_operand(C, Ct, c) : 0.0;
            float v = (float)(alpha * s + old);
            if (Ct == CUDA_R_16BF) ((__nv_bfloat16 *)C)[c] = __float2bfloat16_rn(v);
            else ((float *)C)[c] = v;
        }
    return CUBLAS_STATUS_SUCCESS;
}
// Checks the arguments now (errors come back from the call, as cuBLAS's do) and queues the product
// on the handle's stream (alpha and beta read now: host pointer mode).
inline cublasStatus_t gemm(cudaStream_t stream, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           float alpha, const void *A, cudaDataType_t At, int lda, const void *B, cudaDataType_t Bt,
                           int ldb, float beta, void *C, cudaDataType_t Ct, int ldc, int r) {
    cublasStatus_t st = gemm_args(ta, tb, m, n, k, lda, ldb, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    enqueue(stream, [=] { gemm_now(ta, tb, m, n, k, alpha, A, At, lda, B, Bt, ldb, beta, C, Ct, ldc, r); });
    return CUBLAS_STATUS_SUCCESS;
}
// The operand rounding of an fp32 product in the handle's math mode.
inline int mode_round(cublasHandle_t h) {
    int base = h->math & 0xF;
    return base == CUBLAS_TF32_TENSOR_OP_MATH ? ROUND_TF32 : base == CUBLAS_TENSOR_OP_MATH ? -1 : ROUND_NONE;
}
}  // namespace emu

inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                  const float *alpha, const float *A, int lda, const float *B, int ldb,
                                  const float *beta, float *C, int ldc) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    int r = emu::mode_round(h);
    if (r < 0) return CUBLAS_STATUS_NOT_SUPPORTED;
    return emu::gemm(h->stream, ta, tb, m, n, k, *alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, *beta, C, CUDA_R_32F,
                     ldc, r);
}
// alpha and beta are floats (every compute type here is a 32F one); algo is ignored.
inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *A, cudaDataType_t Atype, int lda, const void *B,
                                   cudaDataType_t Btype, int ldb, const void *beta, void *C, cudaDataType_t Ctype,
                                   int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (Atype != Btype || (Atype != CUDA_R_32F && Atype != CUDA_R_16BF) || (Ctype != CUDA_R_32F && Ctype != CUDA_R_16BF))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (Atype == CUDA_R_32F && Ctype != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;  // as the real table
    int r;
    switch (compute) {
    case CUBLAS_COMPUTE_32F: r = emu::mode_round(h); break;
    case CUBLAS_COMPUTE_32F_PEDANTIC: r = emu::ROUND_NONE; break;
    case CUBLAS_COMPUTE_32F_FAST_TF32: r = emu::ROUND_TF32; break;
    case CUBLAS_COMPUTE_32F_FAST_16BF: r = emu::ROUND_BF16; break;
    case CUBLAS_COMPUTE_32F_FAST_16F: return CUBLAS_STATUS_NOT_SUPPORTED;
    default: return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (r < 0) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (Atype == CUDA_R_16BF) {
        if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_PEDANTIC) return CUBLAS_STATUS_NOT_SUPPORTED;
        r = emu::ROUND_NONE;  // bf16 operands are exact in every mode
    }
    (void)algo;
    return emu::gemm(h->stream, ta, tb, m, n, k, *(const float *)alpha, A, Atype, lda, B, Btype, ldb,
                     *(const float *)beta, C, Ctype, ldc, r);
}
