// layers_attention.c: multi-head softmax attention inside each window (spec §3.1 step 5), the
// hot spot of the model. One work item = one (sample, window, head): its keys and values (W x dh,
// dh = 8 in the tutorial) are gathered transposed into per-thread scratch that stays in L1, and
// every query row is done with loops that run along the W keys (so they vectorise), instead of
// W*heads tiny sgemms. The backward pass recomputes the probabilities from the saved row
// log-sum-exp (as flash attention does) instead of storing B*C*heads*W*W floats.
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/util.h"
#include "model/layers.h"
#include "model/simd.h"

// Keep bits of one (sample, window, head) unit: W*W bits, row i at bit i*W, padded to a word.
static size_t unit_mask_words(int W) { return ((size_t)W * W + 31) / 32; }

size_t window_attention_mask_words(int B, int T, int W, int heads) {
    return (size_t)B * (size_t)(T / W) * (size_t)heads * unit_mask_words(W);
}

size_t window_attention_scratch_floats(int W, int dh) {
    // KT, VT (dh x Wp), K, V, dK, dV (W x dh), S, P2, KF (4 x Wp each), Wp = W rounded up to 16
    size_t Wp = ((size_t)W + 15) & ~(size_t)15;
    size_t n = 2 * (size_t)dh * Wp + 4 * (size_t)dh * W + 3 * 4 * Wp + 64;
    return (n + 15) & ~(size_t)15;
}

#define ATT_RB 4      // query rows handled together (their keys/values are loaded once)
#define ATT_LANES 16  // key chunk of the score loops; W is padded to a multiple of it
#define ALWAYS_INLINE inline __attribute__((always_inline))

typedef struct {
    int W, Wp, d, dh, heads;  // Wp: W rounded up to ATT_LANES (row stride of the key-major buffers)
    bool causal;
    float scale;       // 1/sqrt(dh)
    uint32_t thr;      // dropout threshold (0: no dropout)
    float keep_scale;  // 1/(1-p)
} AttnShape;

// Per-thread scratch of one (sample, window, head).
typedef struct {
    float *KT, *VT;          // dh x Wp: keys / values transposed (score-like loops run along keys)
    float *K, *V, *dK, *dV;  // W x dh
    float *S, *P2, *KF;      // ATT_RB x Wp
} AttnScratch;

static ALWAYS_INLINE AttnScratch scratch_views(float *scr, const AttnShape *a, int DH) {
    AttnScratch s;
    size_t np = (size_t)DH * a->Wp, n = (size_t)DH * a->W;
    s.KT = scr, s.VT = scr + np;
    s.K = scr + 2 * np, s.V = s.K + n, s.dK = s.V + n, s.dV = s.dK + n;
    s.S = s.dV + n, s.P2 = s.S + ATT_RB * (size_t)a->Wp, s.KF = s.P2 + ATT_RB * (size_t)a->Wp;
    return s;
}

static ALWAYS_INLINE void gather_kv(const AttnScratch *s, const float *qkv, const AttnShape *a, int head, const int DH) {
    int ld = 3 * a->d, W = a->W, Wp = a->Wp;
    const float *k = qkv + a->d + head * DH, *v = qkv + 2 * a->d + head * DH;
    for (int j = 0; j < W; j++)
        for (int t = 0; t < DH; t++) {
            float kv = k[(size_t)j * ld + t], vv = v[(size_t)j * ld + t];
            s->K[(size_t)j * DH + t] = kv;
            s->V[(size_t)j * DH + t] = vv;
            s->KT[(size_t)t * Wp + j] = kv;
            s->VT[(size_t)t * Wp + j] = vv;
        }
    for (int t = 0; t < DH; t++)
        for (int j = W; j < Wp; j++) s->KT[(size_t)t * Wp + j] = s->VT[(size_t)t * Wp + j] = 0.0f;
}

// GCC vector types: one v16 = 16 keys (a zmm, or 2 ymm / 4 xmm in the other clones), one v8 =
// 8 head features. Unaligned, may-alias loads/stores through them.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define ld16(p) (*(const v16u *)(p))
#define st16(p, x) (*(v16u *)(p) = (x))
#define ld8(p) (*(const v8u *)(p))
#define st8(p, x) (*(v8u *)(p) = (x))

// out[r][j] = sum_t x[r][t] * MT[t][j] for R rows and j < jn rounded up to ATT_LANES. The
// accumulators of a 16-key chunk stay in registers; even and odd t go to separate ones so that
// 2R independent fma chains hide the fma latency.
static ALWAYS_INLINE void block_scores(float *out, const float x[ATT_RB][64], const float *MT, int Wp, int jn, const int R,
                                       const int DH) {
    for (int j0 = 0; j0 < jn; j0 += ATT_LANES) {
        v16 acc[ATT_RB], acc2[ATT_RB];
        for (int r = 0; r < R; r++) acc[r] = acc2[r] = (v16){0};
        int t = 0;
        for (; t + 1 < DH; t += 2) {
            v16 m0 = ld16(MT + (size_t)t * Wp + j0), m1 = ld16(MT + (size_t)(t + 1) * Wp + j0);
            for (int r = 0; r < R; r++) {
                acc[r] += x[r][t] * m0;
                acc2[r] += x[r][t + 1] * m1;
            }
        }
        if (t < DH) {
            v16 m0 = ld16(MT + (size_t)t * Wp + j0);
            for (int r = 0; r < R; r++) acc[r] += x[r][t] * m0;
        }
        for (int r = 0; r < R; r++) st16(out + (size_t)r * Wp + j0, acc[r] + acc2[r]);
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

// Rows i0 .. i0+R-1 of one unit: scores, softmax (+ dropout), P.V.
static ALWAYS_INLINE void fwd_block(const AttnShape *a, const AttnScratch *sc, int i0, const int R, const int DH,
                                    const float *qkv, int head, float *out, float *lse, const uint32_t *mask) {
    const int W = a->W, Wp = a->Wp, ld = 3 * a->d;
    float qs[ATT_RB][64];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < DH; t++) qs[r][t] = qkv[(size_t)(i0 + r) * ld + head * DH + t] * a->scale;
    const int jn = a->causal ? i0 + R : W;  // keys any row of the block can see
    block_scores(sc->S, qs, sc->KT, Wp, jn, R, DH);
    for (int r = 0; r < R; r++) {
        const int i = i0 + r, jr = a->causal ? i + 1 : W;
        float *s = sc->S + (size_t)r * Wp;
        float m = s[0];
#pragma omp simd reduction(max : m)
        for (int j = 0; j < jr; j++) m = s[j] > m ? s[j] : m;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < jr; j++) {
            float e = exp_approx(s[j] - m);
            s[j] = e;
            sum += e;
        }
        for (int j = jr; j < jn; j++) s[j] = 0.0f;
        float inv = 1.0f / sum;
        lse[(size_t)i * a->heads] = m + logf(sum);
        if (a->thr) {
            const uint32_t b0 = (uint32_t)i * (uint32_t)W;
            float ks = a->keep_scale * inv;
#pragma omp simd
            for (int j = 0; j < jr; j++) {
                uint32_t e = b0 + (uint32_t)j;
                s[j] *= (float)((mask[e >> 5] >> (e & 31)) & 1u) * ks;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < jr; j++) s[j] *= inv;
        }
    }
    float *o0 = out + (size_t)i0 * a->d + head * DH;
    if (DH % 8 == 0) {
        v8 o[ATT_RB][8];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < DH / 8; c++) o[r][c] = (v8){0};
        block_rows_times(o, sc->S, Wp, sc->V, jn, R, DH);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < DH / 8; c++) st8(o0 + (size_t)r * a->d + 8 * c, o[r][c]);
    } else {
        for (int r = 0; r < R; r++)
            for (int t = 0; t < DH; t++) {
                float acc = 0.0f;
                for (int j = 0; j < jn; j++) acc += sc->S[(size_t)r * Wp + j] * sc->V[(size_t)j * DH + t];
                o0[(size_t)r * a->d + t] = acc;
            }
    }
}

static ALWAYS_INLINE void unit_forward(float *out, float *lse, uint32_t *mask, const float *qkv, const AttnShape *a,
                                       int head, const DropoutKey *key, uint64_t sample, uint64_t e_base, float *scr,
                                       const int DH) {
    AttnScratch sc = scratch_views(scr, a, DH);
    gather_kv(&sc, qkv, a, head, DH);
    // the unit's W*W keep decisions are one contiguous run of the sample's stream
    if (a->thr) dropout_keep_bits(mask, key->seed, key->purpose, key->step, sample, e_base, a->W * a->W, a->thr);
    int i0 = 0;
    for (; i0 + ATT_RB <= a->W; i0 += ATT_RB) fwd_block(a, &sc, i0, ATT_RB, DH, qkv, head, out, lse, mask);
    for (; i0 < a->W; i0++) fwd_block(a, &sc, i0, 1, DH, qkv, head, out, lse, mask);
}

// Rows i0 .. i0+R-1: recompute P from the saved log-sum-exp, then dq (written) and the dK, dV sums.
static ALWAYS_INLINE void bwd_block(const AttnShape *a, const AttnScratch *sc, int i0, const int R, const int DH,
                                    float *dqkv, const float *dout, const float *qkv, int head, const float *lse,
                                    const uint32_t *mask) {
    const int W = a->W, Wp = a->Wp, ld = 3 * a->d;
    float qs[ATT_RB][64], gs[ATT_RB][64];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < DH; t++) {
            qs[r][t] = qkv[(size_t)(i0 + r) * ld + head * DH + t] * a->scale;
            gs[r][t] = dout[(size_t)(i0 + r) * a->d + head * DH + t];
        }
    const int jn = a->causal ? i0 + R : W;
    block_scores(sc->S, qs, sc->KT, Wp, jn, R, DH);   // scaled scores
    block_scores(sc->P2, gs, sc->VT, Wp, jn, R, DH);  // dO . v_j = gradient w.r.t. the dropped-out probability
    for (int r = 0; r < R; r++) {
        const int i = i0 + r, jr = a->causal ? i + 1 : W;
        float *p = sc->S + (size_t)r * Wp, *dp = sc->P2 + (size_t)r * Wp, *pd = sc->KF + (size_t)r * Wp;
        float l = lse[(size_t)i * a->heads];
        if (a->thr) {
            const uint32_t b0 = (uint32_t)i * (uint32_t)W;
#pragma omp simd
            for (int j = 0; j < jr; j++) {
                uint32_t e = b0 + (uint32_t)j;
                float kf = (float)((mask[e >> 5] >> (e & 31)) & 1u) * a->keep_scale;
                p[j] = exp_approx(p[j] - l);
                pd[j] = p[j] * kf;  // what multiplied V in the forward pass
                dp[j] *= kf;        // -> gradient w.r.t. the probability
            }
        } else {
#pragma omp simd
            for (int j = 0; j < jr; j++) {
                p[j] = exp_approx(p[j] - l);
                pd[j] = p[j];
            }
        }
        for (int j = jr; j < jn; j++) p[j] = dp[j] = pd[j] = 0.0f;
        float D = 0.0f;
#pragma omp simd reduction(+ : D)
        for (int j = 0; j < jr; j++) D += p[j] * dp[j];
#pragma omp simd
        for (int j = 0; j < jr; j++) dp[j] = p[j] * (dp[j] - D);  // dS (w.r.t. the scaled score)
    }
    float *dq0 = dqkv + (size_t)i0 * ld + head * DH;
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
                                        const uint32_t *mask, const AttnShape *a, int head, float *scr, const int DH) {
    const int W = a->W, ld = 3 * a->d;
    AttnScratch sc = scratch_views(scr, a, DH);
    gather_kv(&sc, qkv, a, head, DH);
    memset(sc.dK, 0, sizeof(float) * (size_t)DH * W);
    memset(sc.dV, 0, sizeof(float) * (size_t)DH * W);
    int i0 = 0;
    for (; i0 + ATT_RB <= W; i0 += ATT_RB) bwd_block(a, &sc, i0, ATT_RB, DH, dqkv, dout, qkv, head, lse, mask);
    for (; i0 < W; i0++) bwd_block(a, &sc, i0, 1, DH, dqkv, dout, qkv, head, lse, mask);
    float *dk = dqkv + a->d + head * DH, *dv = dqkv + 2 * a->d + head * DH;
    for (int j = 0; j < W; j++)
        for (int t = 0; t < DH; t++) {
            dk[(size_t)j * ld + t] = sc.dK[(size_t)j * DH + t];
            dv[(size_t)j * ld + t] = sc.dV[(size_t)j * DH + t];
        }
}

// Versions with the head dimension known at compile time (the common ones), and a generic one.
#define ATT_FWD_ARGS                                                                                              \
    float *out, float *lse, uint32_t *mask, const float *qkv, const AttnShape *a, int head, const DropoutKey *key, \
        uint64_t sample, uint64_t e_base, float *scr
#define ATT_FWD_PASS out, lse, mask, qkv, a, head, key, sample, e_base, scr
#define ATT_BWD_ARGS                                                                                                \
    float *dqkv, const float *dout, const float *qkv, const float *lse, const uint32_t *mask, const AttnShape *a, \
        int head, float *scr
#define ATT_BWD_PASS dqkv, dout, qkv, lse, mask, a, head, scr
EIR_KERNEL static void unit_forward_dh4(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, 4); }
EIR_KERNEL static void unit_forward_dh8(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, 8); }
EIR_KERNEL static void unit_forward_dh16(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, 16); }
EIR_KERNEL static void unit_forward_any(ATT_FWD_ARGS) { unit_forward(ATT_FWD_PASS, a->dh); }
EIR_KERNEL static void unit_backward_dh4(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, 4); }
EIR_KERNEL static void unit_backward_dh8(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, 8); }
EIR_KERNEL static void unit_backward_dh16(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, 16); }
EIR_KERNEL static void unit_backward_any(ATT_BWD_ARGS) { unit_backward(ATT_BWD_PASS, a->dh); }

typedef void (*UnitForwardFn)(ATT_FWD_ARGS);
typedef void (*UnitBackwardFn)(ATT_BWD_ARGS);

static UnitForwardFn pick_forward(int dh) {
    return dh == 8 ? unit_forward_dh8 : dh == 4 ? unit_forward_dh4 : dh == 16 ? unit_forward_dh16 : unit_forward_any;
}
static UnitBackwardFn pick_backward(int dh) {
    return dh == 8 ? unit_backward_dh8 : dh == 4 ? unit_backward_dh4 : dh == 16 ? unit_backward_dh16 : unit_backward_any;
}

static void attn_shape(AttnShape *a, int W, int d, int heads, bool causal, float p_drop) {
    if (heads <= 0 || d % heads != 0) eir_die("window attention: d=%d not divisible by heads=%d", d, heads);
    a->W = W;
    a->Wp = (W + ATT_LANES - 1) / ATT_LANES * ATT_LANES;
    a->d = d;
    a->heads = heads;
    a->dh = d / heads;
    if (a->dh > 64) eir_die("window attention: head dim %d > 64 not supported", a->dh);
    a->causal = causal;
    a->scale = 1.0f / sqrtf((float)a->dh);
    a->thr = dropout_threshold(p_drop);
    a->keep_scale = dropout_keep_scale(p_drop);
}

static int scratch_threads(int n_scratch) {
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    return nt < n_scratch ? nt : n_scratch;
#else
    (void)n_scratch;
    return 1;
#endif
}

static inline int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void window_attention_forward(float *out, float *lse, uint32_t *mask, const float *qkv, int B, int T, int W, int d,
                              int heads, bool causal, float p_drop, const DropoutKey *key, float *scratch,
                              int n_scratch) {
    AttnShape a;
    attn_shape(&a, W, d, heads, causal, p_drop);
    if (a.thr && (!mask || !key)) eir_die("window attention: dropout needs a mask buffer and a key");
    int C = T / W;
    size_t mw = unit_mask_words(W);
    long units = (long)B * C * heads;
    size_t per = window_attention_scratch_floats(W, a.dh);
    UnitForwardFn fwd = pick_forward(a.dh);
#pragma omp parallel for schedule(static) num_threads(scratch_threads(n_scratch)) \
    if ((size_t)B * T * W * d >= EIR_PAR_MIN)
    for (long u = 0; u < units; u++) {
        int head = (int)(u % heads), c = (int)((u / heads) % C), b = (int)(u / ((long)heads * C));
        size_t row0 = (size_t)b * T + (size_t)c * W;
        uint32_t *m = a.thr ? mask + (size_t)u * mw : NULL;
        uint64_t e_base = ((uint64_t)c * heads + head) * (uint64_t)W * W;
        fwd(out + row0 * d, lse + row0 * heads + head, m, qkv + row0 * 3 * d, &a, head, key,
            a.thr ? key->sample_ids[b] : 0, e_base, scratch + (size_t)thread_id() * per);
    }
}

void window_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse,
                               const uint32_t *mask, int B, int T, int W, int d, int heads, bool causal, float p_drop,
                               float *scratch, int n_scratch) {
    AttnShape a;
    attn_shape(&a, W, d, heads, causal, p_drop);
    int C = T / W;
    size_t mw = unit_mask_words(W);
    long units = (long)B * C * heads;
    size_t per = window_attention_scratch_floats(W, a.dh);
    UnitBackwardFn bwd = pick_backward(a.dh);
#pragma omp parallel for schedule(static) num_threads(scratch_threads(n_scratch)) \
    if ((size_t)B * T * W * d >= EIR_PAR_MIN)
    for (long u = 0; u < units; u++) {
        int head = (int)(u % heads), c = (int)((u / heads) % C), b = (int)(u / ((long)heads * C));
        size_t row0 = (size_t)b * T + (size_t)c * W;
        const uint32_t *m = a.thr ? mask + (size_t)u * mw : NULL;
        bwd(dqkv + row0 * 3 * d, dout + row0 * d, qkv + row0 * 3 * d, lse + row0 * heads + head, m, &a, head,
            scratch + (size_t)thread_id() * per);
    }
}
