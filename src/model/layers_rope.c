// layers_rope.c: interleaved rotary position embedding on queries and keys (spec §3.1 step 5),
// positions 0..W-1 restarting in every window, EIR's TransformerBlock._apply_rope.
#include <math.h>

#include "model/layers.h"
#include "model/simd.h"

void rope_freqs_init(float *freqs, int dh) {
    // torch: 1.0 / (10000 ** (arange(0, dh, 2).float() / dh)) in float32
    for (int i = 0; 2 * i < dh; i++) freqs[i] = 1.0f / powf(10000.0f, (float)(2 * i) / (float)dh);
}

void rope_tables(float *cos_t, float *sin_t, const float *freqs, int W, int dh) {
    int half = dh / 2;
    for (int p = 0; p < W; p++)
        for (int i = 0; i < half; i++) {
            float a = (float)p * freqs[i];
            cos_t[(size_t)p * half + i] = cosf(a);
            sin_t[(size_t)p * half + i] = sinf(a);
        }
}

// sign = +1: rotate by +angle (forward); -1: by -angle (the transpose, for the gradient).
EIR_KERNEL static void rope_row(float *x, int n_heads, int dh, const float *c, const float *s, float sign) {
    int half = dh / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * dh;
        for (int i = 0; i < half; i++) {
            float x0 = v[2 * i], x1 = v[2 * i + 1], cs = c[i], sn = sign * s[i];
            v[2 * i] = x0 * cs - x1 * sn;
            v[2 * i + 1] = x1 * cs + x0 * sn;
        }
    }
}

void rope_forward(float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t) {
    int half = dh / 2;
#pragma omp parallel for schedule(static) if ((size_t)N * n_heads * dh >= EIR_PAR_MIN)
    for (int r = 0; r < N; r++) {
        int p = r % W;
        rope_row(x + (size_t)r * ld, n_heads, dh, cos_t + (size_t)p * half, sin_t + (size_t)p * half, 1.0f);
    }
}

void rope_backward(float *dx, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t) {
    int half = dh / 2;
#pragma omp parallel for schedule(static) if ((size_t)N * n_heads * dh >= EIR_PAR_MIN)
    for (int r = 0; r < N; r++) {
        int p = r % W;
        rope_row(dx + (size_t)r * ld, n_heads, dh, cos_t + (size_t)p * half, sin_t + (size_t)p * half, -1.0f);
    }
}
