// layers_linear.cu: nn.Linear on the GPU through cuBLAS (fp32 sgemm, or TF32 / bf16 tensor-core
// GemmEx, cuda_blas_set_math; the CPU twin, with OpenBLAS, is layers_linear.c).
//
// Row-major on column-major cuBLAS: a row-major (R x C) matrix is, to cuBLAS, the column-major
// (C x R) matrix with leading dimension C, i.e. its transpose. So every row-major product
// Y = A @ B is issued as the column-major product Y^T = B^T @ A^T, operands swapped, and each
// operand's "transpose" flag is the row-major one as written:
//   forward   out (N,out) = inp (N,in) @ W^T        ->  out^T = W @ inp^T:
//             gemm(T, N, m=out, n=N, k=in, A=W lda=in, B=inp ldb=in, C=out ldc=out)
//   dinp      dinp (N,in) = dout (N,out) @ W (out,in) ->  dinp^T = W^T @ dout^T:
//             gemm(N, N, m=in, n=N, k=out, A=W lda=in, B=dout ldb=out, C=dinp ldc=in)
//   dweight   dW (out,in) += dout^T (out,N) @ inp (N,in) ->  dW^T += inp^T @ dout:
//             gemm(N, T, m=in, n=out, k=N, A=inp lda=in, B=dout ldb=out, beta=1, C=dW ldc=in)
// cuBLAS is deterministic for a given GPU, library version and shape (no split-K atomics in
// sgemm), so no fixed-chunk partials as on the CPU are needed.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

__global__ void fill_rows_kernel(float *out, const float *row, size_t N, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < N * (size_t)C) out[idx] = row[idx % C];
}

static EirBlas *blas_on(void *blas, void *stream) {
    if (!blas) eir_die("linear_cuda: no cuBLAS handle (cuda_blas_create)");
    EirBlas *b = (EirBlas *)blas;
    CUBLAS_CHECK(cublasSetStream(b->h, STREAM(stream)));
    return b;
}

// One column-major product in the handle's precision: fp32 sgemm, or GemmEx with fp32 storage
// and a tensor-core compute type that rounds the operands to TF32 / bf16 (fp32 accumulation).
static void gemm(EirBlas *b, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    float one = 1.0f;
    if (b->math == CUDA_MATH_FP32) {
        CUBLAS_CHECK(cublasSgemm(b->h, ta, tb, m, n, k, &one, A, lda, B, ldb, &beta, C, ldc));
        return;
    }
    cublasComputeType_t ct = b->math == CUDA_MATH_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
    CUBLAS_CHECK(cublasGemmEx(b->h, ta, tb, m, n, k, &one, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta, C, CUDA_R_32F,
                              ldc, ct, CUBLAS_GEMM_DEFAULT));
}

extern "C" void linear_forward_cuda(void *blas, float *out, const float *inp, const float *weight, const float *bias,
                                    int N, int in, int out_dim, void *stream) {
    if (N <= 0) return;
    EirBlas *h = blas_on(blas, stream);
    float beta = 0.0f;
    if (bias) {  // as the CPU: out starts as the bias rows, then += inp @ W^T
        size_t n = (size_t)N * out_dim;
        fill_rows_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(out, bias, (size_t)N, out_dim);
        CUDA_LAUNCH_CHECK("fill_rows_kernel");
        beta = 1.0f;
    }
    gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out_dim, N, in, weight, in, inp, in, beta, out, out_dim);
}

extern "C" void linear_backward_cuda(void *blas, float *dinp, float *dweight, float *dbias, const float *dout,
                                     const float *inp, const float *weight, int N, int in, int out_dim,
                                     bool accumulate_dinp, float *scratch, void *stream) {
    if (N <= 0) return;
    EirBlas *h = blas_on(blas, stream);
    if (dinp) gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out_dim, weight, in, dout, out_dim, accumulate_dinp ? 1.0f : 0.0f, dinp, in);
    if (dweight) gemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out_dim, N, inp, in, dout, out_dim, 1.0f, dweight, in);
    if (dbias) colsum_scaled_cuda(dbias, dout, NULL, NULL, N, out_dim, 1.0f, scratch, STREAM(stream));
}
