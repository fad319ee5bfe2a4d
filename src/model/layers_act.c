// layers_act.c: elementwise layers: LayerScale + residual add (+ stochastic-depth scale),
// the SwiGLU gate of the transformer FFN, exact (erf) GELU of the MLP blocks.
#include <math.h>

#include "model/layers.h"
#include "model/simd.h"

EIR_KERNEL static void ls_row_forward(float *o, const float *x, const float *y, const float *g, float s, int C) {
    if (x)
        for (int c = 0; c < C; c++) o[c] = x[c] + s * (g[c] * y[c]);
    else
        for (int c = 0; c < C; c++) o[c] = s * (g[c] * y[c]);
}

void layerscale_residual_forward(float *out, const float *x, const float *y, const float *gamma, float scale, int N,
                                 int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++)
        ls_row_forward(out + (size_t)n * C, x ? x + (size_t)n * C : NULL, y + (size_t)n * C, gamma, scale, C);
}

EIR_KERNEL static void ls_row_backward(float *dy, const float *g, const float *gamma, float s, int C) {
    for (int c = 0; c < C; c++) dy[c] = s * gamma[c] * g[c];
}

void layerscale_residual_backward(float *dy, float *dgamma, const float *dout, const float *y, const float *gamma,
                                  float scale, int N, int C) {
    if (dgamma) colsum_add(dgamma, dout, y, N, C, scale);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++) ls_row_backward(dy + (size_t)n * C, dout + (size_t)n * C, gamma, scale, C);
}

EIR_KERNEL static void swiglu_row_forward(float *o, const float *h, int F) {
    const float *a = h, *b = h + F;
    for (int j = 0; j < F; j++) o[j] = a[j] * sigmoid_approx(a[j]) * b[j];
}

void swiglu_forward_rows(float *out, const float *h, int N, int F) {
    for (int n = 0; n < N; n++) swiglu_row_forward(out + (size_t)n * F, h + (size_t)n * 2 * F, F);
}

void swiglu_forward(float *out, const float *h, int N, int F) {
#pragma omp parallel for schedule(static) if ((size_t)N * F >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++) swiglu_row_forward(out + (size_t)n * F, h + (size_t)n * 2 * F, F);
}

EIR_KERNEL static void swiglu_row_backward(float *dh, const float *g, const float *h, int F) {
    const float *a = h, *b = h + F;
    float *da = dh, *db = dh + F;
    for (int j = 0; j < F; j++) {
        float s = sigmoid_approx(a[j]);
        float silu = a[j] * s;
        db[j] = g[j] * silu;
        da[j] = g[j] * b[j] * (s * (1.0f + a[j] * (1.0f - s)));
    }
}

void swiglu_backward(float *dh, const float *dout, const float *h, int N, int F) {
#pragma omp parallel for schedule(static) if ((size_t)N * F >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++) swiglu_row_backward(dh + (size_t)n * 2 * F, dout + (size_t)n * F, h + (size_t)n * 2 * F, F);
}

void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= EIR_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for schedule(static) if (n >= EIR_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = expf(-0.5f * x * x) * inv_sqrt_2pi;
        dinp[i] = dout[i] * (cdf + x * pdf);
    }
}
