// layers_linear.cu: nn.Linear on the GPU through cuBLAS sgemm (fp32; the CPU twin, with OpenBLAS,
// is layers_linear.c).
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

static cublasHandle_t blas_on(void *blas, void *stream) {
    if (!blas) eir_die("linear_cuda: no cuBLAS handle (cuda_blas_create)");
    cublasHandle_t h = (cublasHandle_t)blas;
    CUBLAS_CHECK(cublasSetStream(h, STREAM(stream)));
    return h;
}

extern "C" void linear_forward_cuda(void *blas, float *out, const float *inp, const float *weight, const float *bias,
                                    int N, int in, int out_dim, void *stream) {
    if (N <= 0) return;
    cublasHandle_t h = blas_on(blas, stream);
    float one = 1.0f, beta = 0.0f;
    if (bias) {  // as the CPU: out starts as the bias rows, then += inp @ W^T
        size_t n = (size_t)N * out_dim;
        fill_rows_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(out, bias, (size_t)N, out_dim);
        CUDA_LAUNCH_CHECK("fill_rows_kernel");
        beta = 1.0f;
    }
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out_dim, N, in, &one, weight, in, inp, in, &beta, out,
                             out_dim));
}

extern "C" void linear_backward_cuda(void *blas, float *dinp, float *dweight, float *dbias, const float *dout,
                                     const float *inp, const float *weight, int N, int in, int out_dim,
                                     bool accumulate_dinp, float *scratch, void *stream) {
    if (N <= 0) return;
    cublasHandle_t h = blas_on(blas, stream);
    float one = 1.0f;
    if (dinp) {
        float beta = accumulate_dinp ? 1.0f : 0.0f;
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out_dim, &one, weight, in, dout, out_dim, &beta,
                                 dinp, in));
    }
    if (dweight)
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out_dim, N, &one, inp, in, dout, out_dim, &one,
                                 dweight, in));
    if (dbias) colsum_scaled_cuda(dbias, dout, NULL, NULL, N, out_dim, 1.0f, scratch, STREAM(stream));
}
