// layers_gemm.c: the packed-panel product (gemm_kernels.h) that layers_linear.c runs for the
// transformer layers' forward linears: K = 64 or 256 and 64 to 512 outputs, shapes where OpenBLAS's
// per-call packing and edge handling cost a third of the machine's sgemm rate. The weight is
// packed once per call of linear_forward_packed (in parallel, a few microseconds), the rows then
// go through register tiles. The 8-lane kernel is multi-versioned (AVX2 and baseline; simd.h),
// the 16-lane one is built for AVX-512 alone (layers_gemm_wide.c).
#include "model/layers_gemm.h"

#include <string.h>

#define GK_VL 8
#define GK_KERNEL EIR_KERNEL
#define GK_SUFFIX _v8
#include "model/gemm_kernels.h"

int gemm_panel_width(void) {
    if (simd_wide_vectors() && gemm_wide_rows()) return 32;
    const char *level = simd_kernel_level();
    return strstr(level, "AVX2") || strstr(level, "AVX-512") ? 16 : 0;
}

size_t gemm_pack_floats(int in, int out_dim) { return (size_t)in * (size_t)out_dim; }

void gemm_pack_panels(float *Bp, const float *weight, int in, int nc, int p_lo, int p_hi) {
    for (int p = p_lo; p < p_hi; p++) {
        float *dst = Bp + (size_t)p * in * nc;
        const float *src = weight + (size_t)p * nc * in;
        for (int c = 0; c < nc; c++)
            for (int k = 0; k < in; k++) dst[(size_t)k * nc + c] = src[(size_t)c * in + k];
    }
}

void gemm_pack_swiglu_panels(float *Bp, const float *w12, int in, int F, int nc, int p_lo, int p_hi) {
    int h = nc / 2;
    for (int p = p_lo; p < p_hi; p++) {
        float *dst = Bp + (size_t)p * in * nc;
        for (int c = 0; c < nc; c++) {
            const float *src = w12 + ((size_t)(c < h ? 0 : F) + (size_t)p * h + (size_t)(c % h)) * in;
            for (int k = 0; k < in; k++) dst[(size_t)k * nc + c] = src[k];
        }
    }
}

void gemm_pack_nn_panels(float *Bp, const float *M, int K, int N, int nc, int p_lo, int p_hi) {
    for (int p = p_lo; p < p_hi; p++)
        for (int k = 0; k < K; k++)
            memcpy(Bp + ((size_t)p * K + k) * nc, M + (size_t)k * N + (size_t)p * nc, (size_t)nc * sizeof(float));
}

void gemm_swiglu_bwd_rows(float *dh, const float *h, const float *dout, const float *Bp, int rows, int K, int F) {
    GemmSwigluBwdFn wide = simd_wide_vectors() ? gemm_wide_swiglu_bwd() : NULL;
    (wide ? wide : gemm_swiglu_bwd_rows_v8)(dh, h, dout, Bp, rows, K, F);
}

static GemmRowsFn kernel(void) {
    GemmRowsFn wide = simd_wide_vectors() ? gemm_wide_rows() : NULL;
    return wide ? wide : gemm_packed_rows_v8;
}

void gemm_packed_rows(float *out, const float *inp, const float *Bp, int rows, int in, int out_dim) {
    kernel()(out, NULL, 0, inp, Bp, rows, in, out_dim);
}

void gemm_packed_swiglu_rows(float *h, float *g, const float *inp, const float *Bp, int rows, int in, int F) {
    kernel()(h, g, F, inp, Bp, rows, in, 2 * F);
}
