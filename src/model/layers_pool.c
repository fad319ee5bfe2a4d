// layers_pool.c: pooling of each window over its W token positions, windows concatenated along
// the feature axis (spec §3.1 step 6). Pad positions are pooled like any other (EIR quirk §9.2).
#include <string.h>

#include "model/layers.h"
#include "model/simd.h"

void pool_forward(float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d, PoolKind kind,
                  int ld_out) {
#pragma omp parallel for schedule(static) if ((size_t)B * C * W * d >= EIR_PAR_MIN)
    for (long bc = 0; bc < (long)B * C; bc++) {
        int b = (int)(bc / C), c = (int)(bc % C);
        const float *x = inp + (size_t)bc * W * d;
        float *o = out + (size_t)b * ld_out + (size_t)c * d;
        if (kind == POOL_NONE) {
            memcpy(out + (size_t)b * ld_out + (size_t)c * W * d, x, (size_t)W * d * sizeof(float));
        } else if (kind == POOL_AVG) {
            for (int k = 0; k < d; k++) o[k] = 0.0f;
            for (int w = 0; w < W; w++)
                for (int k = 0; k < d; k++) o[k] += x[(size_t)w * d + k];
            for (int k = 0; k < d; k++) o[k] /= (float)W;
        } else {
            int32_t *am = argmax + (size_t)bc * d;
            for (int k = 0; k < d; k++) {
                o[k] = x[k];
                am[k] = 0;
            }
            for (int w = 1; w < W; w++)
                for (int k = 0; k < d; k++)
                    if (x[(size_t)w * d + k] > o[k]) {
                        o[k] = x[(size_t)w * d + k];
                        am[k] = w;
                    }
        }
    }
}

void pool_backward(float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d, PoolKind kind,
                   int ld_out) {
#pragma omp parallel for schedule(static) if ((size_t)B * C * W * d >= EIR_PAR_MIN)
    for (long bc = 0; bc < (long)B * C; bc++) {
        int b = (int)(bc / C), c = (int)(bc % C);
        float *dx = dinp + (size_t)bc * W * d;
        const float *g = dout + (size_t)b * ld_out + (size_t)c * d;
        if (kind == POOL_NONE) {
            memcpy(dx, dout + (size_t)b * ld_out + (size_t)c * W * d, (size_t)W * d * sizeof(float));
        } else if (kind == POOL_AVG) {
            float inv = 1.0f / (float)W;
            for (int w = 0; w < W; w++)
                for (int k = 0; k < d; k++) dx[(size_t)w * d + k] = g[k] * inv;
        } else {
            const int32_t *am = argmax + (size_t)bc * d;
            memset(dx, 0, (size_t)W * d * sizeof(float));
            for (int k = 0; k < d; k++) dx[(size_t)am[k] * d + k] = g[k];
        }
    }
}

void window_broadcast_add_forward(float *out, const float *x, const float *y, const float *gamma, int N, int W, int d) {
#pragma omp parallel for schedule(static) if ((size_t)N * W * d >= EIR_PAR_MIN)
    for (long n = 0; n < N; n++) {
        const float *yn = y + (size_t)n * d;
        for (int w = 0; w < W; w++) {
            size_t r = ((size_t)n * W + w) * d;
            for (int k = 0; k < d; k++) out[r + k] = x[r + k] + gamma[k] * yn[k];
        }
    }
}

void window_sum(float *out, const float *inp, int N, int W, int d) {
#pragma omp parallel for schedule(static) if ((size_t)N * W * d >= EIR_PAR_MIN)
    for (long n = 0; n < N; n++) {
        float *o = out + (size_t)n * d;
        const float *x = inp + (size_t)n * W * d;
        for (int k = 0; k < d; k++) o[k] = 0.0f;
        for (int w = 0; w < W; w++)
            for (int k = 0; k < d; k++) o[k] += x[(size_t)w * d + k];
    }
}
