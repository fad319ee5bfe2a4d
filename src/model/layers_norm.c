// layers_norm.c: RMSNorm (torch.nn.RMSNorm semantics, spec §3.1) and the column reductions that
// parameter gradients of per-feature vectors need (norm weights, LayerScale, biases).
#include <math.h>

#include "model/layers.h"
#include "model/simd.h"

EIR_KERNEL static float rmsnorm_row_forward(float *o, const float *x, const float *w, int C, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (int c = 0; c < C; c++) o[c] = x[c] * r * w[c];
    return r;
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++)
        rstd[n] = rmsnorm_row_forward(out + (size_t)n * C, inp + (size_t)n * C, weight, C, eps);
}

EIR_KERNEL static void rmsnorm_row_backward(float *dx, const float *g, const float *x, const float *w, float r, int C) {
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; c++) dot += g[c] * w[c] * x[c];
    float m = dot * r / (float)C;  // mean(dxhat * xhat) = r * mean(g*w*x)
    for (int c = 0; c < C; c++) dx[c] += r * (g[c] * w[c] - x[c] * r * m);
}

// dst[c0..c0+nc) += alpha * sum_r a[r,c] * (b ? b[r,c] : 1) * (rs ? rs[r] : 1), nc <= 16.
EIR_KERNEL static void colsum_block(float *dst, const float *a, const float *b, const float *rs, int N, int C, int c0,
                                    int nc, float alpha) {
    float acc[16] = {0};
    for (int r = 0; r < N; r++) {
        const float *ar = a + (size_t)r * C + c0;
        float s = rs ? rs[r] : 1.0f;
        if (b) {
            const float *br = b + (size_t)r * C + c0;
            if (nc == 16)
                for (int j = 0; j < 16; j++) acc[j] += ar[j] * br[j] * s;
            else
                for (int j = 0; j < nc; j++) acc[j] += ar[j] * br[j] * s;
        } else {
            if (nc == 16)
                for (int j = 0; j < 16; j++) acc[j] += ar[j] * s;
            else
                for (int j = 0; j < nc; j++) acc[j] += ar[j] * s;
        }
    }
    for (int j = 0; j < nc; j++) dst[c0 + j] += alpha * acc[j];
}

// Column sums split into blocks of 16 columns, one block per work item: each column is summed
// over rows in order by a single thread, so the result is the same for any thread count.
static void colsum_scaled(float *dst, const float *a, const float *b, const float *rs, int N, int C, float alpha) {
    int nblk = (C + 15) / 16;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= EIR_PAR_MIN)
    for (int k = 0; k < nblk; k++) {
        int c0 = 16 * k, nc = C - c0 < 16 ? C - c0 : 16;
        colsum_block(dst, a, b, rs, N, C, c0, nc, alpha);
    }
}

void colsum_add(float *dst, const float *a, const float *b, int N, int C, float alpha) {
    colsum_scaled(dst, a, b, NULL, N, C, alpha);
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                      const float *rstd, int N, int C) {
    // dweight[c] += sum_r dout[r,c] * x[r,c] * rstd[r]  (= dout * xhat)
    colsum_scaled(dweight, dout, inp, rstd, N, C, 1.0f);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++)
        rmsnorm_row_backward(dinp + (size_t)n * C, dout + (size_t)n * C, inp + (size_t)n * C, weight, rstd[n], C);
}
