// attention_kernels.h: the per-(sample, window, head) attention kernels of layers_attention.c,
// written once for a vector width AK_VL (8 or 16 floats) that the including file sets:
// layers_attention.c builds them at 8 lanes as multi-versioned kernels (AVX2 and baseline; see
// simd.h), layers_attention_wide.c at 16 lanes for AVX-512 alone. One work item = one (sample,
// window, head): its keys and values (W x dh, dh = 8 in the tutorial) are gathered into
// per-thread scratch that stays in L1, and every query row is done with loops that run along the
// W keys (so they vectorise). The backward pass recomputes the probabilities from the saved row
// log-sum-exp (as flash attention does) instead of storing B*C*heads*W*W floats.
#pragma once
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "model/layers.h"
#include "model/simd.h"

#if !defined(AK_VL) || (AK_VL != 8 && AK_VL != 16)
#error "attention_kernels.h: define AK_VL (8 or 16) before including it"
#endif

// The vector helpers below are always inlined into the kernels, so the baseline ABI of vector
// arguments (what -Wpsabi warns about) never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

#define ATT_RB 4      // query rows handled together (their keys/values are loaded once)
#define ATT_LANES AK_VL  // key chunk of the score loops (W is padded to a multiple of 16)
#if AK_VL == 16 && defined(EIR_KERNEL_WIDE)
// the 16-lane helpers are built for the AVX-512 kernels they are inlined into (their 64-byte
// vector arguments then have a native ABI: no -Wpsabi notes)
#define ALWAYS_INLINE inline __attribute__((always_inline, target("arch=x86-64-v4")))
#else
#define ALWAYS_INLINE inline __attribute__((always_inline))
#endif

typedef struct {
    int W, Wp, d, dh, heads;  // Wp: W rounded up to 16 (row stride of the key-major buffers)
    bool causal;
    float scale;       // 1/sqrt(dh)
    uint32_t thr;      // dropout threshold (0: no dropout)
    float keep_scale;  // 1/(1-p)
} AttnShape;

// Per-thread scratch of one (sample, window, head).
typedef struct {
    float *KT, *VT;          // dh x Wp: keys / values transposed (score-like loops run along keys)
    float *K, *V, *dK, *dV;  // W x dh rows, or key pairs (PAIR below), padded to Wp keys
    float *S, *P2, *KF;      // ATT_RB x Wp
    float *rmax, *rsum;      // Wp: each row's score maximum and sum of exponentials
} AttnScratch;

static ALWAYS_INLINE AttnScratch scratch_views(float *scr, const AttnShape *a, int DH) {
    AttnScratch s;
    size_t np = (size_t)DH * a->Wp;
    s.KT = scr, s.VT = scr + np;
    s.K = scr + 2 * np, s.V = s.K + np, s.dK = s.V + np, s.dV = s.dK + np;
    s.S = s.dV + np, s.P2 = s.S + ATT_RB * (size_t)a->Wp, s.KF = s.P2 + ATT_RB * (size_t)a->Wp;
    s.rmax = s.KF + ATT_RB * (size_t)a->Wp, s.rsum = s.rmax + a->Wp;
    return s;
}

// GCC vector types: one vf = AK_VL keys (16: a zmm, in the AVX-512 kernels; 8: a ymm, in the
// cloned ones, where 16-lane types would be split or, for shuffles, scalarised), one v8 = 8 head
// features. Unaligned, may-alias loads/stores through them.
typedef float vf __attribute__((vector_size(4 * AK_VL)));
typedef float vfu __attribute__((vector_size(4 * AK_VL), aligned(4), may_alias));
typedef int32_t vi __attribute__((vector_size(4 * AK_VL)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t v8i __attribute__((vector_size(32)));
#define ldv(p) (*(const vfu *)(p))
#define stv(p, x) (*(vfu *)(p) = (x))
#define ld8(p) (*(const v8u *)(p))
#define st8(p, x) (*(v8u *)(p) = (x))
// Shuffles with constant lane indices: GCC's __builtin_shuffle takes them as an integer vector of
// type T, clang's __builtin_shufflevector as arguments.
#if defined(__clang__)
#define SHUF2(T, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#define SHUF1(T, a, ...) __builtin_shufflevector(a, a, __VA_ARGS__)
#else
#define SHUF2(T, a, b, ...) __builtin_shuffle(a, b, (T){__VA_ARGS__})
#define SHUF1(T, a, ...) __builtin_shuffle(a, (T){__VA_ARGS__})
#endif
#if AK_VL == 16
typedef double v8d __attribute__((vector_size(64)));
static const vi LANEV = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#else
static const vi LANEV = {0, 1, 2, 3, 4, 5, 6, 7};
#endif

static ALWAYS_INLINE vf splatv(float x) { return (vf){0} + x; }
// m ? a : b lane by lane (m: all ones or zero per lane, as vector comparisons give)
static ALWAYS_INLINE vf vsel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }
#if AK_VL == 16 && defined(EIR_KERNEL_WIDE)
#include <immintrin.h>
// AVX-512 has the single instructions that GCC's generic vectors spell in several: vmaxps for the
// maximum (a comparison + blend otherwise), vscalefps for 2^n in the exponential.
static ALWAYS_INLINE vf vmax(vf a, vf b) { return (vf)_mm512_max_ps((__m512)a, (__m512)b); }
#define AK_SCALEF 1
#else
static ALWAYS_INLINE vf vmax(vf a, vf b) { return vsel(a > b, a, b); }
#endif
// Sum / maximum over the lanes, by halving swaps (every lane ends with the result).
#if AK_VL == 16
#define AK_HALVINGS(OP, x)                                                                  \
    x = OP(x, SHUF1(vi, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));        \
    x = OP(x, SHUF1(vi, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));        \
    x = OP(x, SHUF1(vi, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));        \
    x = OP(x, SHUF1(vi, x, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
#else
#define AK_HALVINGS(OP, x)                                   \
    x = OP(x, SHUF1(vi, x, 4, 5, 6, 7, 0, 1, 2, 3));        \
    x = OP(x, SHUF1(vi, x, 2, 3, 0, 1, 6, 7, 4, 5));        \
    x = OP(x, SHUF1(vi, x, 1, 0, 3, 2, 5, 4, 7, 6));
#endif
static ALWAYS_INLINE vf vadd(vf a, vf b) { return a + b; }
static ALWAYS_INLINE float hsumv(vf x) {
    AK_HALVINGS(vadd, x)
    return x[0];
}
static ALWAYS_INLINE float hmaxv(vf x) {
    AK_HALVINGS(vmax, x)
    return x[0];
}
// exp on AK_VL lanes (vec_exp.h), here for arguments <= 0: a score minus its row maximum or
// log-sum-exp. These exponentials are a third of the forward attention's time.
#define VEXP_VL AK_VL
#define VEXP_INLINE ALWAYS_INLINE
#ifdef AK_SCALEF
#define VEXP_SCALEF 1
#endif
#include "model/vec_exp.h"
static ALWAYS_INLINE vf expv(vf x) { return vec_exp(x); }
// Natural log on AK_VL lanes for positive normal floats (here sums of exponentials, >= 1): Cephes'
// logf (mantissa in [sqrt(1/2), sqrt(2)), degree-8 polynomial, about 1 ulp), vectorised.
static ALWAYS_INLINE vf logv(vf x) {
    vi bi = (vi)x;
    vi e = (bi >> 23) - 126;                                   // x = m 2^e, m in [0.5, 1)
    vf m = (vf)((bi & 0x007FFFFF) | 0x3F000000);
    vi small = m < 0.707106781186547524f;
    e += small;                                                  // -1 where m < sqrt(1/2) ...
    m = m - 1.0f + (vf)(small & (vi)m);                       // ... and m doubled there
    vf z = m * m;
    vf y = splatv(7.0376836292E-2f);
    y = y * m - 1.1514610310E-1f;
    y = y * m + 1.1676998740E-1f;
    y = y * m - 1.2420140846E-1f;
    y = y * m + 1.4249322787E-1f;
    y = y * m - 1.6668057665E-1f;
    y = y * m + 2.0000714765E-1f;
    y = y * m - 2.4999993993E-1f;
    y = y * m + 3.3333331174E-1f;
    y = y * m * z;
    vf fe = __builtin_convertvector(e, vf);
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return m + y + 0.693359375f * fe;
}
// Keep bits e0 .. e0+AK_VL-1 of a unit's mask as a lane mask (need: how many of them exist).
static ALWAYS_INLINE vi keepv(const uint32_t *mask, uint32_t e0, int need) {
    uint32_t w = e0 >> 5, off = e0 & 31;
    uint64_t v = mask[w];
    if (off + (uint32_t)need > 32) v |= (uint64_t)mask[w + 1] << 32;
    vi bits = (vi){0} + (int32_t)(uint32_t)(v >> off);
    return ((bits >> LANEV) & 1) != 0;
}
#if AK_VL == 16
// Two consecutive floats broadcast to 8 pairs: [p0 p1 p0 p1 ...].
static ALWAYS_INLINE vf bcast_pair(const float *p) {
    double d;  // moved as bits only: a broadcast, no arithmetic on the double
    memcpy(&d, p, sizeof d);
    return (vf)((v8d){d, d, d, d, d, d, d, d});
}
// Lanes 2t and 2t+1 of a key-pair accumulator summed: the 8 features of one row.
static ALWAYS_INLINE v8 pair_reduce(vf x) {
    x += SHUF1(vi, x, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    vf y = SHUF1(vi, x, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
    v8 o;
    memcpy(&o, &y, sizeof o);
    return o;
}
#endif

// out[t] = the sum of a[t]'s lanes, t < 8: three rounds of two-vector shuffles that halve the
// partial sums of two features at a time, then one permutation into feature order.
static ALWAYS_INLINE v8 reduce8(const vf a[8]) {
#if AK_VL == 16
    vf u[4], v[2];
    for (int k = 0; k < 4; k++)  // u[k]: lanes 0-7 partials of feature 2k, 8-15 of 2k+1
        u[k] = SHUF2(vi, a[2 * k], a[2 * k + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               SHUF2(vi, a[2 * k], a[2 * k + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int k = 0; k < 2; k++)  // v[k]: 4 lanes each of features 4k, 4k+2, 4k+1, 4k+3
        v[k] = SHUF2(vi, u[2 * k], u[2 * k + 1], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               SHUF2(vi, u[2 * k], u[2 * k + 1], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    // w: 2 lanes each of features 0, 4, 2, 6, 1, 5, 3, 7
    vf w = SHUF2(vi, v[0], v[1], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
           SHUF2(vi, v[0], v[1], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    w += SHUF1(vi, w, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    vf z = SHUF1(vi, w, 0, 8, 4, 12, 2, 10, 6, 14, 0, 8, 4, 12, 2, 10, 6, 14);
    v8 o;
    memcpy(&o, &z, sizeof o);
    return o;
#else
    vf u[4], v[2];
    for (int k = 0; k < 4; k++)  // u[k]: lanes 0-3 partials of feature 2k, 4-7 of 2k+1
        u[k] = SHUF2(vi, a[2 * k], a[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
               SHUF2(vi, a[2 * k], a[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    for (int k = 0; k < 2; k++)  // v[k]: 2 lanes each of features 4k, 4k+2, 4k+1, 4k+3
        v[k] = SHUF2(vi, u[2 * k], u[2 * k + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               SHUF2(vi, u[2 * k], u[2 * k + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    // w: features 0, 4, 2, 6, 1, 5, 3, 7
    vf w = SHUF2(vi, v[0], v[1], 0, 8, 2, 10, 4, 12, 6, 14) +
           SHUF2(vi, v[0], v[1], 1, 9, 3, 11, 5, 13, 7, 15);
    return (v8)SHUF1(vi, w, 0, 4, 2, 6, 1, 5, 3, 7);
#endif
}

// dst[t][j0 + i] = rows[i][t] for 8 rows of 8 (rows i >= n are zero): an 8 x 8 transpose in
// three rounds of two-vector shuffles instead of 64 scalar stores.
static ALWAYS_INLINE void transpose8_store(float *dst, int ld_dst, int j0, const float *src, int ld_src, int n) {
    v8 r[8], a[8], c[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (v8){0};
        if (i < n) r[i] = ld8(src + (size_t)i * ld_src);
    }
    for (int k = 0; k < 4; k++) {
        a[2 * k] = SHUF2(v8i, r[2 * k], r[2 * k + 1], 0, 8, 1, 9, 2, 10, 3, 11);
        a[2 * k + 1] = SHUF2(v8i, r[2 * k], r[2 * k + 1], 4, 12, 5, 13, 6, 14, 7, 15);
    }
    // c[0]: t 0,1 of rows 0-3; c[1]: t 2,3 of rows 0-3; c[2], c[3]: the same of rows 4-7; c[4..7]: t 4-7
    for (int h = 0; h < 2; h++)
        for (int g = 0; g < 2; g++) {
            v8 x = a[4 * g + h], y = a[4 * g + 2 + h];
            c[4 * h + 2 * g] = SHUF2(v8i, x, y, 0, 1, 8, 9, 2, 3, 10, 11);
            c[4 * h + 2 * g + 1] = SHUF2(v8i, x, y, 4, 5, 12, 13, 6, 7, 14, 15);
        }
    for (int h = 0; h < 2; h++)
        for (int q = 0; q < 2; q++) {
            v8 x = c[4 * h + q], y = c[4 * h + 2 + q];
            int t = 4 * h + 2 * q;
            st8(dst + (size_t)t * ld_dst + j0, SHUF2(v8i, x, y, 0, 1, 2, 3, 8, 9, 10, 11));
            st8(dst + (size_t)(t + 1) * ld_dst + j0, SHUF2(v8i, x, y, 4, 5, 6, 7, 12, 13, 14, 15));
        }
}

// A unit's keys or values into scratch: transposed (MT: DH x Wp, zero-padded) and/or as rows
// (M: W x DH), or as key pairs (PAIR: DH == 8, 16 floats per pair p = [x_{2p}[0] x_{2p+1}[0]
// x_{2p}[1] x_{2p+1}[1] ...], so that the products along the 8 head features run on full
// 16-lane vectors with one broadcast of two probabilities). NULL: not needed.
static ALWAYS_INLINE void gather_one(float *MT, float *M, const float *x, int ld, const AttnShape *a, const int DH,
                                     const bool PAIR) {
    const int W = a->W, Wp = a->Wp;
    if (MT && DH == 8) {
        for (int j = 0; j < Wp; j += 8) transpose8_store(MT, Wp, j, x + (size_t)j * ld, ld, W - j < 8 ? W - j : 8);
    } else if (MT) {
        for (int j = 0; j < W; j++)
            for (int t = 0; t < DH; t++) MT[(size_t)t * Wp + j] = x[(size_t)j * ld + t];
        for (int t = 0; t < DH; t++)
            for (int j = W; j < Wp; j++) MT[(size_t)t * Wp + j] = 0.0f;
    }
    if (M && PAIR) {
        for (int p = 0; p < Wp / 2; p++) {
            int j = 2 * p;
            v8 x0 = {0}, x1 = {0};
            if (j < W) x0 = ld8(x + (size_t)j * ld);
            if (j + 1 < W) x1 = ld8(x + (size_t)(j + 1) * ld);
            st8(M + 16 * p, SHUF2(v8i, x0, x1, 0, 8, 1, 9, 2, 10, 3, 11));
            st8(M + 16 * p + 8, SHUF2(v8i, x0, x1, 4, 12, 5, 13, 6, 14, 7, 15));
        }
    } else if (M) {
        for (int j = 0; j < W; j++) memcpy(M + (size_t)j * DH, x + (size_t)j * ld, sizeof(float) * DH);
    }
}

// out[r][j] = sum_t x[r][t] * MT[t][j] for R rows and j < jn rounded up to ATT_LANES. The
// accumulators of a 16-key chunk stay in registers; even and odd t go to separate ones so that
// 2R independent fma chains hide the fma latency.
static ALWAYS_INLINE void block_scores(float *out, const float x[ATT_RB][64], const float *MT, int Wp, int jn, const int R,
                                       const int DH) {
    for (int j0 = 0; j0 < jn; j0 += ATT_LANES) {
        vf acc[ATT_RB], acc2[ATT_RB];
        for (int r = 0; r < R; r++) acc[r] = acc2[r] = (vf){0};
        int t = 0;
        for (; t + 1 < DH; t += 2) {
            vf m0 = ldv(MT + (size_t)t * Wp + j0), m1 = ldv(MT + (size_t)(t + 1) * Wp + j0);
            for (int r = 0; r < R; r++) {
                acc[r] += x[r][t] * m0;
                acc2[r] += x[r][t + 1] * m1;
            }
        }
        if (t < DH) {
            vf m0 = ldv(MT + (size_t)t * Wp + j0);
            for (int r = 0; r < R; r++) acc[r] += x[r][t] * m0;
        }
        for (int r = 0; r < R; r++) stv(out + (size_t)r * Wp + j0, acc[r] + acc2[r]);
    }
}

// o[r][:] += sum_{j < jn} P[r][j] * M[j][:] (M: jn x DH row-major), DH % 8 == 0. Even and odd j
// accumulate separately (independent fma chains).
static ALWAYS_INLINE void block_rows_times(v8 o[ATT_RB][8], const float *P, int Wp, const float *M, int jn, const int R,
                                           const int DH) {
    v8 o2[ATT_RB][8];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < DH / 8; c++) o2[r][c] = (v8){0};
    int j = 0;
    for (; j + 1 < jn; j += 2) {
        const float *m0 = M + (size_t)j * DH, *m1 = m0 + DH;
        for (int c = 0; c < DH / 8; c++) {
            v8 mv0 = ld8(m0 + 8 * c), mv1 = ld8(m1 + 8 * c);
            for (int r = 0; r < R; r++) {
                o[r][c] += P[(size_t)r * Wp + j] * mv0;
                o2[r][c] += P[(size_t)r * Wp + j + 1] * mv1;
            }
        }
    }
    if (j < jn) {
        const float *m0 = M + (size_t)j * DH;
        for (int c = 0; c < DH / 8; c++) {
            v8 mv0 = ld8(m0 + 8 * c);
            for (int r = 0; r < R; r++) o[r][c] += P[(size_t)r * Wp + j] * mv0;
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < DH / 8; c++) o[r][c] += o2[r][c];
}


// Rows i0 .. i0+R-1 of one unit: scores, softmax (+ dropout), P.V. The row's 1/sum (and the
// dropout's 1/(1-p)) multiply the output, not each probability.
static ALWAYS_INLINE void fwd_block(const AttnShape *a, const AttnScratch *sc, int i0, const int R, const int DH,
                                    const bool PAIR, const float *qkv, int head, float *out, float *lse,
                                    const uint32_t *mask) {
    const int W = a->W, Wp = a->Wp, ld = 3 * a->d;
    float qs[ATT_RB][64], rs[ATT_RB];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < DH; t++) qs[r][t] = qkv[(size_t)(i0 + r) * ld + head * DH + t] * a->scale;
    (void)lse;
    const int jn = a->causal ? i0 + R : W;  // keys any row of the block can see
    const int nblk = (jn + ATT_LANES - 1) / ATT_LANES;
    block_scores(sc->S, qs, sc->KT, Wp, jn, R, DH);
    if (DH == 8 && AK_VL == 16) {
        // Head dim 8 at 16 lanes: each row's exponentials go straight into P.V against the transposed values
        // (8 accumulators along the keys, summed at the end), never stored or broadcast.
        float *o0 = out + (size_t)i0 * a->d + head * DH;
        int r = 0;
        // Two rows at a time where they see the same keys: their independent max / exp / P.V chains
        // interleave (one row alone leaves the fma pipes waiting on its latencies) and each value
        // vector is loaded once for both. Per row, the same operations in the same order as below.
        for (; r + 1 < R && !a->causal; r += 2) {
            const int i = i0 + r, nfull = W / ATT_LANES, rem = W % ATT_LANES;
            const float *s0 = sc->S + (size_t)r * Wp, *s1 = s0 + Wp;
            vf mv0 = splatv(-INFINITY), mv1 = splatv(-INFINITY);
            for (int c = 0; c < nfull; c++) mv0 = vmax(mv0, ldv(s0 + ATT_LANES * c)), mv1 = vmax(mv1, ldv(s1 + ATT_LANES * c));
            if (rem) {
                const vi in = LANEV < rem;
                mv0 = vmax(mv0, vsel(in, ldv(s0 + ATT_LANES * nfull), splatv(-INFINITY)));
                mv1 = vmax(mv1, vsel(in, ldv(s1 + ATT_LANES * nfull), splatv(-INFINITY)));
            }
            const float m0 = hmaxv(mv0), m1 = hmaxv(mv1);
            vf sum0 = {0}, sum1 = {0}, acc0[8], acc1[8];
            for (int t = 0; t < 8; t++) acc0[t] = acc1[t] = (vf){0};
            const uint32_t e_row = (uint32_t)i * (uint32_t)W;
            for (int c = 0; c < nfull + (rem > 0); c++) {
                vf e0 = expv(ldv(s0 + ATT_LANES * c) - m0), e1 = expv(ldv(s1 + ATT_LANES * c) - m1);
                if (c == nfull) e0 = vsel(LANEV < rem, e0, (vf){0}), e1 = vsel(LANEV < rem, e1, (vf){0});
                sum0 += e0, sum1 += e1;
                if (a->thr) {
                    const int need = c == nfull ? rem : ATT_LANES;
                    e0 = vsel(keepv(mask, e_row + (uint32_t)(ATT_LANES * c), need), e0, (vf){0});
                    e1 = vsel(keepv(mask, e_row + (uint32_t)W + (uint32_t)(ATT_LANES * c), need), e1, (vf){0});
                }
                for (int t = 0; t < 8; t++) {
                    const vf v = ldv(sc->VT + (size_t)t * Wp + ATT_LANES * c);
                    acc0[t] += e0 * v, acc1[t] += e1 * v;
                }
            }
            const float tot0 = hsumv(sum0), tot1 = hsumv(sum1), ks = a->thr ? a->keep_scale : 1.0f;
            sc->rmax[i] = m0, sc->rsum[i] = tot0, sc->rmax[i + 1] = m1, sc->rsum[i + 1] = tot1;
            st8(o0 + (size_t)r * a->d, reduce8(acc0) * (ks / tot0));
            st8(o0 + (size_t)(r + 1) * a->d, reduce8(acc1) * (ks / tot1));
        }
        for (; r < R; r++) {
            const int i = i0 + r, jr = a->causal ? i + 1 : W, nfull = jr / ATT_LANES, rem = jr % ATT_LANES;
            const float *s = sc->S + (size_t)r * Wp;
            vf mv = splatv(-INFINITY);
            for (int c = 0; c < nfull; c++) mv = vmax(mv, ldv(s + ATT_LANES * c));
            if (rem) mv = vmax(mv, vsel(LANEV < rem, ldv(s + ATT_LANES * nfull), splatv(-INFINITY)));
            const float m = hmaxv(mv);
            vf sum = {0}, acc[8];
            for (int t = 0; t < 8; t++) acc[t] = (vf){0};
            const uint32_t e_row = (uint32_t)i * (uint32_t)W;
            for (int c = 0; c < nfull + (rem > 0); c++) {
                vf e = expv(ldv(s + ATT_LANES * c) - m);
                if (c == nfull) e = vsel(LANEV < rem, e, (vf){0});
                sum += e;
                if (a->thr)
                    e = vsel(keepv(mask, e_row + (uint32_t)(ATT_LANES * c), c == nfull ? rem : ATT_LANES), e, (vf){0});
                for (int t = 0; t < 8; t++) acc[t] += e * ldv(sc->VT + (size_t)t * Wp + ATT_LANES * c);
            }
            const float tot = hsumv(sum);
            sc->rmax[i] = m, sc->rsum[i] = tot;  // lse once the unit is done (unit_forward)
            st8(o0 + (size_t)r * a->d, reduce8(acc) * ((a->thr ? a->keep_scale : 1.0f) / tot));
        }
        return;
    }
    for (int r = 0; r < R; r++) {
        const int i = i0 + r, jr = a->causal ? i + 1 : W, nfull = jr / ATT_LANES, rem = jr % ATT_LANES;
        float *s = sc->S + (size_t)r * Wp;
        vf mv = splatv(-INFINITY);
        for (int c = 0; c < nfull; c++) mv = vmax(mv, ldv(s + ATT_LANES * c));
        if (rem) mv = vmax(mv, vsel(LANEV < rem, ldv(s + ATT_LANES * nfull), splatv(-INFINITY)));
        const float m = hmaxv(mv);
        vf sum = {0};
        const uint32_t e_row = (uint32_t)i * (uint32_t)W;
        for (int c = 0; c < nfull; c++) {
            vf e = expv(ldv(s + ATT_LANES * c) - m);
            sum += e;
            if (a->thr) e = vsel(keepv(mask, e_row + (uint32_t)(ATT_LANES * c), ATT_LANES), e, (vf){0});
            stv(s + ATT_LANES * c, e);
        }
        int c = nfull;
        if (rem) {
            vf e = vsel(LANEV < rem, expv(ldv(s + ATT_LANES * c) - m), (vf){0});
            sum += e;
            if (a->thr) e = vsel(keepv(mask, e_row + (uint32_t)(ATT_LANES * c), rem), e, (vf){0});
            stv(s + ATT_LANES * c, e);
            c++;
        }
        for (; c < nblk; c++) stv(s + ATT_LANES * c, (vf){0});  // keys other rows of the block see
        const float tot = hsumv(sum);
        sc->rmax[i] = m, sc->rsum[i] = tot;  // lse once the unit is done (unit_forward)
        rs[r] = (a->thr ? a->keep_scale : 1.0f) / tot;
    }
    float *o0 = out + (size_t)i0 * a->d + head * DH;
    if (DH % 8 == 0) {
        v8 o[ATT_RB][8];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < DH / 8; c++) o[r][c] = (v8){0};
        block_rows_times(o, sc->S, Wp, sc->V, jn, R, DH);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < DH / 8; c++) st8(o0 + (size_t)r * a->d + 8 * c, o[r][c] * rs[r]);
    } else {
        for (int r = 0; r < R; r++)
            for (int t = 0; t < DH; t++) {
                float acc = 0.0f;
                for (int j = 0; j < jn; j++) acc += sc->S[(size_t)r * Wp + j] * sc->V[(size_t)j * DH + t];
                o0[(size_t)r * a->d + t] = acc * rs[r];
            }
    }
}

static ALWAYS_INLINE void unit_forward(float *out, float *lse, uint32_t *mask, const float *qkv, const AttnShape *a,
                                       int head, const DropoutKey *key, uint64_t sample, uint64_t e_base, float *scr,
                                       const int DH, const bool PAIR) {
    AttnScratch sc = scratch_views(scr, a, DH);
    gather_one(sc.KT, NULL, qkv + a->d + head * DH, 3 * a->d, a, DH, PAIR);  // keys, for the scores
    // values, for P.V: transposed where fwd_block fuses the rows (head dim 8 at 16 lanes), else as rows
    if (DH == 8 && AK_VL == 16)
        gather_one(sc.VT, NULL, qkv + 2 * a->d + head * DH, 3 * a->d, a, DH, false);
    else
        gather_one(NULL, sc.V, qkv + 2 * a->d + head * DH, 3 * a->d, a, DH, false);
    // the unit's W*W keep decisions are one contiguous run of the sample's stream
    if (a->thr) dropout_keep_bits(mask, key->seed, key->purpose, key->step, sample, e_base, a->W * a->W, a->thr);
    int i0 = 0;
    for (; i0 + ATT_RB <= a->W; i0 += ATT_RB) fwd_block(a, &sc, i0, ATT_RB, DH, PAIR, qkv, head, out, lse, mask);
    for (; i0 < a->W; i0++) fwd_block(a, &sc, i0, 1, DH, PAIR, qkv, head, out, lse, mask);
    // log-sum-exp of every row, 16 logarithms at a time (the sums of padding rows are 1)
    for (int i = a->W; i < a->Wp; i++) sc.rmax[i] = 0.0f, sc.rsum[i] = 1.0f;
    for (int i = 0; i < a->W; i += ATT_LANES) {
        float l[ATT_LANES];
        vf v = ldv(sc.rmax + i) + logv(ldv(sc.rsum + i));
        memcpy(l, &v, sizeof l);
        for (int k = 0; k < ATT_LANES && i + k < a->W; k++) lse[(size_t)(i + k) * a->heads] = l[k];
    }
}

// Rows i0 .. i0+R-1: recompute P from the saved log-sum-exp, then dq (written) and the dK, dV sums.
static ALWAYS_INLINE void bwd_block(const AttnShape *a, const AttnScratch *sc, int i0, const int R, const int DH,
                                    const bool PAIR, float *dqkv, const float *dout, const float *qkv, int head,
                                    const float *lse, const uint32_t *mask) {
    const int W = a->W, Wp = a->Wp, ld = 3 * a->d;
    float qs[ATT_RB][64], gs[ATT_RB][64];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < DH; t++) {
            qs[r][t] = qkv[(size_t)(i0 + r) * ld + head * DH + t] * a->scale;
            gs[r][t] = dout[(size_t)(i0 + r) * a->d + head * DH + t];
        }
    const int jn = a->causal ? i0 + R : W;
    const int nblk = (jn + ATT_LANES - 1) / ATT_LANES;
    block_scores(sc->S, qs, sc->KT, Wp, jn, R, DH);   // scaled scores
    block_scores(sc->P2, gs, sc->VT, Wp, jn, R, DH);  // dO . v_j = gradient w.r.t. the dropped-out probability
    const vf ks = splatv(a->keep_scale);
    for (int r = 0; r < R; r++) {
        const int i = i0 + r, jr = a->causal ? i + 1 : W, nfull = jr / ATT_LANES, rem = jr % ATT_LANES;
        float *p = sc->S + (size_t)r * Wp, *dp = sc->P2 + (size_t)r * Wp, *pd = sc->KF + (size_t)r * Wp;
        const float l = lse[(size_t)i * a->heads];
        vf D = {0};
        for (int c = 0; c < nblk; c++) {
            const int o = ATT_LANES * c;
            vf pv = {0}, dv = {0}, pdv = {0};
            if (c < nfull || (c == nfull && rem)) {
                pv = expv(ldv(p + o) - l);
                dv = ldv(dp + o);
                if (c == nfull) pv = vsel(LANEV < rem, pv, (vf){0}), dv = vsel(LANEV < rem, dv, (vf){0});
                pdv = pv;
                if (a->thr) {
                    vi keep = keepv(mask, (uint32_t)i * (uint32_t)W + (uint32_t)o, jr - o < ATT_LANES ? jr - o : ATT_LANES);
                    pdv = vsel(keep, pv * ks, (vf){0});  // what multiplied V in the forward pass
                    dv = vsel(keep, dv * ks, (vf){0});   // -> gradient w.r.t. the probability
                }
                D += pv * dv;
            }
            stv(p + o, pv), stv(dp + o, dv), stv(pd + o, pdv);
        }
        const vf Ds = splatv(hsumv(D));
        for (int c = 0; c < nblk; c++) {
            const int o = ATT_LANES * c;
            stv(dp + o, ldv(p + o) * (ldv(dp + o) - Ds));  // dS (w.r.t. the scaled score)
        }
    }
    float *dq0 = dqkv + (size_t)i0 * ld + head * DH;
#if AK_VL == 16
    if (PAIR) {
        // dq[r] = sum_j dS[r][j] k_j; dK_j += dS[r][j] q_r (scaled); dV_j += p'[r][j] dO_r
        vf dq[ATT_RB], qd[ATT_RB], gd[ATT_RB];
        for (int r = 0; r < R; r++) {
            vf q16 = {0}, g16 = {0};
            memcpy(&q16, qs[r], 8 * sizeof(float));
            memcpy(&g16, gs[r], 8 * sizeof(float));
            dq[r] = (vf){0};
            qd[r] = SHUF1(vi, q16, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            gd[r] = SHUF1(vi, g16, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        }
        for (int pi = 0; pi < (jn + 1) / 2; pi++) {
            vf kp = ldv(sc->K + 16 * pi), dk = ldv(sc->dK + 16 * pi), dv = ldv(sc->dV + 16 * pi);
            for (int r = 0; r < R; r++) {
                vf b = bcast_pair(sc->P2 + (size_t)r * Wp + 2 * pi), bp = bcast_pair(sc->KF + (size_t)r * Wp + 2 * pi);
                dq[r] += b * kp;
                dk += b * qd[r];
                dv += bp * gd[r];
            }
            stv(sc->dK + 16 * pi, dk);
            stv(sc->dV + 16 * pi, dv);
        }
        for (int r = 0; r < R; r++) st8(dq0 + (size_t)r * ld, pair_reduce(dq[r]) * a->scale);
        return;
    }
#endif
    if (DH % 8 == 0) {
        v8 dq[ATT_RB][8], g8[ATT_RB][8], q8[ATT_RB][8];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < DH / 8; c++) {
                dq[r][c] = (v8){0};
                g8[r][c] = ld8(&gs[r][8 * c]);
                q8[r][c] = ld8(&qs[r][8 * c]);
            }
        block_rows_times(dq, sc->P2, Wp, sc->K, jn, R, DH);  // dq[r] = sum_j dS[r][j] k_j
        for (int j = 0; j < jn; j++) {
            float *dk = sc->dK + (size_t)j * DH, *dv = sc->dV + (size_t)j * DH;
            for (int c = 0; c < DH / 8; c++) {
                v8 sv = ld8(dv + 8 * c), sk = ld8(dk + 8 * c);
                for (int r = 0; r < R; r++) {
                    sv += sc->KF[(size_t)r * Wp + j] * g8[r][c];  // dV_j += p'[r][j] dO_r
                    sk += sc->P2[(size_t)r * Wp + j] * q8[r][c];  // dK_j += dS[r][j] q_r (scaled)
                }
                st8(dv + 8 * c, sv);
                st8(dk + 8 * c, sk);
            }
        }
        for (int r = 0; r < R; r++)
            for (int c = 0; c < DH / 8; c++) st8(dq0 + (size_t)r * ld + 8 * c, dq[r][c] * a->scale);
    } else {
        for (int j = 0; j < jn; j++)
            for (int t = 0; t < DH; t++) {
                float sv = 0.0f, sk = 0.0f;
                for (int r = 0; r < R; r++) {
                    sv += sc->KF[(size_t)r * Wp + j] * gs[r][t];
                    sk += sc->P2[(size_t)r * Wp + j] * qs[r][t];
                }
                sc->dV[(size_t)j * DH + t] += sv;
                sc->dK[(size_t)j * DH + t] += sk;
            }
        for (int r = 0; r < R; r++)
            for (int t = 0; t < DH; t++) {
                float acc = 0.0f;
                for (int j = 0; j < jn; j++) acc += sc->P2[(size_t)r * Wp + j] * sc->K[(size_t)j * DH + t];
                dq0[(size_t)r * ld + t] = acc * a->scale;
            }
    }
}

static ALWAYS_INLINE void unit_backward(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                        const uint32_t *mask, const AttnShape *a, int head, float *scr, const int DH,
                                        const bool PAIR) {
    const int W = a->W, ld = 3 * a->d;
    AttnScratch sc = scratch_views(scr, a, DH);
    gather_one(sc.KT, sc.K, qkv + a->d + head * DH, ld, a, DH, PAIR);  // keys: scores and dq
    gather_one(sc.VT, NULL, qkv + 2 * a->d + head * DH, ld, a, DH, PAIR);  // values: dO.v
    memset(sc.dK, 0, sizeof(float) * (size_t)DH * a->Wp);
    memset(sc.dV, 0, sizeof(float) * (size_t)DH * a->Wp);
    int i0 = 0;
    for (; i0 + ATT_RB <= W; i0 += ATT_RB) bwd_block(a, &sc, i0, ATT_RB, DH, PAIR, dqkv, dout, qkv, head, lse, mask);
    for (; i0 < W; i0++) bwd_block(a, &sc, i0, 1, DH, PAIR, dqkv, dout, qkv, head, lse, mask);
    float *dk = dqkv + a->d + head * DH, *dv = dqkv + 2 * a->d + head * DH;
#if AK_VL == 16
    if (PAIR) {
        for (int p = 0; p < (W + 1) / 2; p++) {
            vf k2 = SHUF1(vi, ldv(sc.dK + 16 * p), 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), v2 = SHUF1(vi, ldv(sc.dV + 16 * p), 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
            float kb[16], vb[16];
            memcpy(kb, &k2, sizeof kb);
            memcpy(vb, &v2, sizeof vb);
            st8(dk + (size_t)(2 * p) * ld, ld8(kb));
            st8(dv + (size_t)(2 * p) * ld, ld8(vb));
            if (2 * p + 1 < W) {
                st8(dk + (size_t)(2 * p + 1) * ld, ld8(kb + 8));
                st8(dv + (size_t)(2 * p + 1) * ld, ld8(vb + 8));
            }
        }
        return;
    }
#endif
    for (int j = 0; j < W; j++)
        for (int t = 0; t < DH; t++) {
            dk[(size_t)j * ld + t] = sc.dK[(size_t)j * DH + t];
            dv[(size_t)j * ld + t] = sc.dV[(size_t)j * DH + t];
        }
}


#define ATT_FWD_ARGS                                                                                              \
    float *out, float *lse, uint32_t *mask, const float *qkv, const AttnShape *a, int head, const DropoutKey *key, \
        uint64_t sample, uint64_t e_base, float *scr
#define ATT_FWD_PASS out, lse, mask, qkv, a, head, key, sample, e_base, scr
#define ATT_BWD_ARGS                                                                                                \
    float *dqkv, const float *dout, const float *qkv, const float *lse, const uint32_t *mask, const AttnShape *a, \
        int head, float *scr
#define ATT_BWD_PASS dqkv, dout, qkv, lse, mask, a, head, scr

typedef void (*UnitForwardFn)(ATT_FWD_ARGS);
typedef void (*UnitBackwardFn)(ATT_BWD_ARGS);
// The 16-lane kernels (layers_attention_wide.c): NULL where this build has none.
UnitForwardFn attention_wide_forward(int dh);
UnitBackwardFn attention_wide_backward(int dh);

// The kernels this file is built into, per head dim (the common ones known at compile time).
#define AK_CAT2(a, b) a##b
#define AK_CAT(a, b) AK_CAT2(a, b)
#define AK_FN(name) AK_CAT(name, AK_SUFFIX)
#ifdef AK_KERNEL
AK_KERNEL static void AK_FN(unit_forward_dh4)(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, 4, false); }
AK_KERNEL static void AK_FN(unit_forward_dh8)(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, 8, AK_VL == 16); }
AK_KERNEL static void AK_FN(unit_forward_dh16)(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, 16, false); }
AK_KERNEL static void AK_FN(unit_forward_any)(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, a->dh, false); }
AK_KERNEL static void AK_FN(unit_backward_dh4)(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, 4, false); }
AK_KERNEL static void AK_FN(unit_backward_dh8)(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, 8, AK_VL == 16); }
AK_KERNEL static void AK_FN(unit_backward_dh16)(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, 16, false); }
AK_KERNEL static void AK_FN(unit_backward_any)(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, a->dh, false); }

static UnitForwardFn AK_FN(pick_forward)(int dh) {
    return dh == 8 ? AK_FN(unit_forward_dh8) : dh == 4 ? AK_FN(unit_forward_dh4) : dh == 16 ? AK_FN(unit_forward_dh16) : AK_FN(unit_forward_any);
}
static UnitBackwardFn AK_FN(pick_backward)(int dh) {
    return dh == 8 ? AK_FN(unit_backward_dh8) : dh == 4 ? AK_FN(unit_backward_dh4) : dh == 16 ? AK_FN(unit_backward_dh16) : AK_FN(unit_backward_any);
}
#endif
