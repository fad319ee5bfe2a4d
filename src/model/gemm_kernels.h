// gemm_kernels.h: C (rows x N) = A (rows x K) . B for the transformer layers' forward products
// (layers_gemm.c), with B packed in panels of GK_NC = 2 vectors of columns (K x GK_NC each,
// contiguous). One register tile = GK_MR rows x GK_NC columns: per k two vector loads of the panel,
// one broadcast of A per row and 2*GK_MR fused multiply-adds, so the accumulators never leave the
// registers and each output is stored once. Written once for a vector width GK_VL (8 or 16 floats)
// that the including file sets, as attention_kernels.h is. Every output element is one fma chain
// over k in order, whatever tile or thread computes it: results do not depend on the row blocking.
#pragma once
#include <stddef.h>
#include <stdint.h>
#if GK_VL == 16 && defined(EIR_KERNEL_WIDE)
#include <immintrin.h>
#endif

#include "model/simd.h"

#if !defined(GK_VL) || (GK_VL != 8 && GK_VL != 16)
#error "gemm_kernels.h: define GK_VL (8 or 16) before including it"
#endif

#pragma GCC diagnostic ignored "-Wpsabi"

#define GK_NC (2 * GK_VL)
// 12 x 2 accumulators + 2 panel vectors fit AVX-512's 32 registers; 6 x 2 + 3 fit AVX2's 16
#define GK_MR (GK_VL == 16 ? 12 : 6)
#if GK_VL == 16 && defined(EIR_KERNEL_WIDE)
#define GK_INLINE inline __attribute__((always_inline, target("arch=x86-64-v4")))
#else
#define GK_INLINE inline __attribute__((always_inline))
#endif

typedef float gk_v __attribute__((vector_size(4 * GK_VL)));
typedef float gk_vu __attribute__((vector_size(4 * GK_VL), aligned(4), may_alias));

// exp(x) for any x (the SwiGLU gate's e^-a): vec_exp.h, shared with the attention kernels.
#define VEXP_VL GK_VL
#define VEXP_INLINE GK_INLINE
#if GK_VL == 16 && defined(EIR_KERNEL_WIDE)
#define VEXP_SCALEF 1
#endif
#include "model/vec_exp.h"

// Rows 0..R-1 of one panel: c0 = A . panel columns 0..VL-1, c1 = A . columns VL..2VL-1, stored
// at C + r*ldc and C + r*ldc + c1_off. G != NULL (SwiGLU panels: c0 = a, c1 = b of the same VL
// gate columns): also G + r*ldg = SiLU(a) * b = a * b / (1 + e^-a). C NULL: only G is stored.
static GK_INLINE void gk_tile(float *C, int ldc, int c1_off, float *G, int ldg, const float *A, int lda,
                              const float *Bp, int K, const int R) {
    gk_v c0[GK_MR], c1[GK_MR];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = (gk_v){0};
    for (int k = 0; k < K; k++) {
        const gk_v b0 = *(const gk_vu *)(Bp + (size_t)k * GK_NC), b1 = *(const gk_vu *)(Bp + (size_t)k * GK_NC + GK_VL);
        for (int r = 0; r < R; r++) {
            const float a = A[(size_t)r * lda + k];
            c0[r] += a * b0;
            c1[r] += a * b1;
        }
    }
    for (int r = 0; r < R; r++) {
        if (C) {
            *(gk_vu *)(C + (size_t)r * ldc) = c0[r];
            *(gk_vu *)(C + (size_t)r * ldc + c1_off) = c1[r];
        }
        if (G) *(gk_vu *)(G + (size_t)r * ldg) = c0[r] * c1[r] / (1.0f + vec_exp(-c0[r]));
    }
}

// Rows r0 .. r0+R-1 against every panel (the rows' A stays in L1, the panels stream from L2).
// F > 0: SwiGLU panels (gemm_pack_swiglu_panels) into C = h (rows, 2F; NULL: not stored) and
// G = gate (rows, F).
static GK_INLINE void gk_rows(float *C, float *G, int F, const float *A, const float *Bp, int r0, int K, int N,
                              const int R) {
    for (int p = 0; p < N / GK_NC; p++) {
        const float *Ar = A + (size_t)r0 * K, *Bpp = Bp + (size_t)p * K * GK_NC;
        if (F)
            gk_tile(C ? C + (size_t)r0 * N + (size_t)p * GK_VL : NULL, N, F, G + (size_t)r0 * F + (size_t)p * GK_VL, F, Ar, K, Bpp,
                    K, R);
        else
            gk_tile(C + (size_t)r0 * N + (size_t)p * GK_NC, N, GK_VL, NULL, 0, Ar, K, Bpp, K, R);
    }
}

// Rows 0..R-1 of one panel of dg = A . B (the w3 product's input gradient, VL gate columns in c0
// and the next VL in c1) straight into the SwiGLU backward (layers_act.c's formula): with a, b
// of h (rows, 2F; ldh = 2F), s = sigmoid(a): dh_a = dg b s (1 + a (1 - s)), dh_b = dg a s.
static GK_INLINE void gk_tile_swiglu_bwd(float *DH, const float *H, int F, const float *A, int lda, const float *Bp,
                                         int K, const int R) {
    gk_v c[2][GK_MR];
    for (int r = 0; r < R; r++) c[0][r] = c[1][r] = (gk_v){0};
    for (int k = 0; k < K; k++) {
        const gk_v b0 = *(const gk_vu *)(Bp + (size_t)k * GK_NC), b1 = *(const gk_vu *)(Bp + (size_t)k * GK_NC + GK_VL);
        for (int r = 0; r < R; r++) {
            const float a = A[(size_t)r * lda + k];
            c[0][r] += a * b0;
            c[1][r] += a * b1;
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 2; v++) {
            const size_t o = (size_t)r * 2 * F + (size_t)v * GK_VL;
            const gk_v a = *(const gk_vu *)(H + o), b = *(const gk_vu *)(H + o + F), g = c[v][r];
            const gk_v s = 1.0f / (1.0f + vec_exp(-a));
            *(gk_vu *)(DH + o) = g * b * (s * (1.0f + a * (1.0f - s)));
            *(gk_vu *)(DH + o + F) = g * (a * s);
        }
}

#define GK_CAT2(a, b) a##b
#define GK_CAT(a, b) GK_CAT2(a, b)
#define GK_FN(name) GK_CAT(name, GK_SUFFIX)
#ifdef GK_KERNEL
// C (rows x N) = A (rows x K) . B, B packed by gemm_pack_panels at this width; N % GK_NC == 0.
// F > 0: B packed by gemm_pack_swiglu_panels (N = 2F), and G (rows x F) = SwiGLU(C) as well.
GK_KERNEL static void GK_FN(gemm_packed_rows)(float *C, float *G, int F, const float *A, const float *Bp, int rows, int K,
                                              int N) {
    int r0 = 0;
    for (; r0 + GK_MR <= rows; r0 += GK_MR) gk_rows(C, G, F, A, Bp, r0, K, N, GK_MR);
    // the last rows in tiles of 4, 2, 1 (a row's result is the same in any tile)
    for (; r0 + 4 <= rows; r0 += 4) gk_rows(C, G, F, A, Bp, r0, K, N, 4);
    for (; r0 + 2 <= rows; r0 += 2) gk_rows(C, G, F, A, Bp, r0, K, N, 2);
    for (; r0 < rows; r0++) gk_rows(C, G, F, A, Bp, r0, K, N, 1);
}

// dh (rows x 2F) = SwiGLU backward of dg = A (rows x K) . B (B packed by gemm_pack_nn_panels,
// N = F outputs) with h (rows x 2F): the w3 product's input gradient never leaves the registers.
GK_KERNEL static void GK_FN(gemm_swiglu_bwd_rows)(float *DH, const float *H, const float *A, const float *Bp, int rows,
                                                  int K, int F) {
    for (int r0 = 0; r0 < rows;) {
        const int R = rows - r0 >= GK_MR ? GK_MR : rows - r0 >= 4 ? 4 : rows - r0 >= 2 ? 2 : 1;
        for (int p = 0; p < F / GK_NC; p++) {
            const size_t o = (size_t)r0 * 2 * F + (size_t)p * GK_NC;
            const float *Ar = A + (size_t)r0 * K, *Bpp = Bp + (size_t)p * K * GK_NC;
            if (R == GK_MR)
                gk_tile_swiglu_bwd(DH + o, H + o, F, Ar, K, Bpp, K, GK_MR);
            else if (R == 4)
                gk_tile_swiglu_bwd(DH + o, H + o, F, Ar, K, Bpp, K, 4);
            else if (R == 2)
                gk_tile_swiglu_bwd(DH + o, H + o, F, Ar, K, Bpp, K, 2);
            else
                gk_tile_swiglu_bwd(DH + o, H + o, F, Ar, K, Bpp, K, 1);
        }
        r0 += R;
    }
}
#endif
