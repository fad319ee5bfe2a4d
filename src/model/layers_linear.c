// layers_linear.c: nn.Linear over all rows at once with OpenBLAS sgemm (row-major; the weight is
// PyTorch's (out, in) layout, so the forward is inp @ W^T).
#include <cblas.h>
#include <string.h>

#include "model/layers.h"
#include "model/simd.h"

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int in, int out_dim) {
    if (N <= 0) return;
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static) if ((size_t)N * out_dim >= EIR_PAR_MIN)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * out_dim, bias, (size_t)out_dim * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out_dim, in, 1.0f, inp, in, weight, in, beta, out, out_dim);
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int in, int out_dim, bool accumulate_dinp) {
    if (N <= 0) return;
    if (dinp)  // (N, in) = dout (N, out) @ W (out, in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out_dim, 1.0f, dout, out_dim, weight, in,
                    accumulate_dinp ? 1.0f : 0.0f, dinp, in);
    // (out, in) += dout^T (out, N) @ inp (N, in)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in, N, 1.0f, dout, out_dim, inp, in, 1.0f, dweight,
                in);
    if (dbias) colsum_add(dbias, dout, NULL, N, out_dim, 1.0f);
}
