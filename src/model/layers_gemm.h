// layers_gemm.h: the packed-panel product of the transformer layers' forward linears
// (layers_gemm.c, gemm_kernels.h), which layers_linear.c uses instead of OpenBLAS where it applies.
#pragma once
#include <stddef.h>

// C (rows x N) = A (rows x K) . B with B packed by gemm_pack_panels; F > 0: by
// gemm_pack_swiglu_panels (N = 2F), and G (rows x F) = SwiGLU(C) too.
typedef void (*GemmRowsFn)(float *C, float *G, int F, const float *A, const float *Bp, int rows, int K, int N);
// The 16-lane (AVX-512) kernel (layers_gemm_wide.c); NULL where this build has none.
GemmRowsFn gemm_wide_rows(void);
// dh (rows x 2F) = the SwiGLU backward (h: rows x 2F) of dg = A (rows x K) . B, B packed by
// gemm_pack_nn_panels with F outputs.
typedef void (*GemmSwigluBwdFn)(float *DH, const float *H, const float *A, const float *Bp, int rows, int K, int F);
GemmSwigluBwdFn gemm_wide_swiglu_bwd(void);

// Panel width (output columns per panel) of the kernel this process runs: 32 with AVX-512, 16
// with AVX2; 0 where it runs none (baseline x86-64, a build without the kernel versions), and
// then the linears stay on OpenBLAS.
int gemm_panel_width(void);
// Floats of the packed copy of an (out_dim, in) weight.
size_t gemm_pack_floats(int in, int out_dim);
// Packs panels p_lo .. p_hi-1 of the (out_dim, in) weight (PyTorch's layout) at width nc:
// panel p holds weight rows p*nc .. p*nc+nc-1 transposed, K = in rows of nc floats.
void gemm_pack_panels(float *Bp, const float *weight, int in, int nc, int p_lo, int p_hi);
// The (2F, in) weight of the fused W1/W2 (rows 0..F-1 give a, F..2F-1 give b) for the gate:
// panel p holds a's rows p*nc/2 .. and b's same rows, so one register tile has a and b of the
// same nc/2 gate columns.
void gemm_pack_swiglu_panels(float *Bp, const float *w12, int in, int F, int nc, int p_lo, int p_hi);
// Panels of a (K, N) matrix used as it is (C = A . M, as the input gradient dout @ weight of a
// linear): panel p holds columns p*nc .. p*nc+nc-1 of every row.
void gemm_pack_nn_panels(float *Bp, const float *M, int K, int N, int nc, int p_lo, int p_hi);
// dh (rows, 2F) = SwiGLU backward with h (rows, 2F) of dg = dout (rows, K) @ w3 (K, F), w3
// packed by gemm_pack_nn_panels. Runs on the calling thread.
void gemm_swiglu_bwd_rows(float *dh, const float *h, const float *dout, const float *Bp, int rows, int K, int F);
// out (rows, out_dim) = inp (rows, in) @ weight^T from the weight packed at gemm_panel_width();
// out_dim a multiple of it. Runs on the calling thread.
void gemm_packed_rows(float *out, const float *inp, const float *Bp, int rows, int in, int out_dim);
// h (rows, 2F) = inp @ w12^T and g (rows, F) = SiLU(a) * b, from gemm_pack_swiglu_panels; h may
// be NULL (not stored).
void gemm_packed_swiglu_rows(float *h, float *g, const float *inp, const float *Bp, int rows, int in, int F);
