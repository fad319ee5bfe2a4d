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

size_t window_attention_mask_words(int B, int T, int W, int heads) {
    return (size_t)B * (size_t)(T / W) * (size_t)heads * (size_t)W * (size_t)((W + 31) / 32);
}

size_t window_attention_scratch_floats(int W, int dh) {
    // KT, VT, dKT, dVT (dh x W each), s / p, dp, kf (W each), padding
    size_t n = 4 * (size_t)dh * W + 3 * (size_t)W + 64;
    return (n + 15) & ~(size_t)15;
}

typedef struct {
    int W, d, dh, heads;
    bool causal;
    float scale;       // 1/sqrt(dh)
    uint32_t thr;      // dropout threshold (0: no dropout)
    float keep_scale;  // 1/(1-p)
} AttnShape;

// KT[t][j] = k_j[t], VT[t][j] = v_j[t] for the W rows of one window and one head.
static inline void gather_kv(float *KT, float *VT, const float *qkv, const AttnShape *a, int head) {
    int ld = 3 * a->d, W = a->W, dh = a->dh;
    const float *k = qkv + a->d + head * dh, *v = qkv + 2 * a->d + head * dh;
    for (int j = 0; j < W; j++)
        for (int t = 0; t < dh; t++) {
            KT[(size_t)t * W + j] = k[(size_t)j * ld + t];
            VT[(size_t)t * W + j] = v[(size_t)j * ld + t];
        }
}

// s[j] = sum_t qs[t] * KT[t][j], j < jn
static inline void scores(float *s, const float *qs, const float *KT, int W, int dh, int jn) {
    for (int j = 0; j < jn; j++) s[j] = 0.0f;
    for (int t = 0; t < dh; t++) {
        float qt = qs[t];
        const float *kt = KT + (size_t)t * W;
        for (int j = 0; j < jn; j++) s[j] += qt * kt[j];
    }
}

// kf[j] = keep_scale if bit j set else 0
static inline void expand_keep(float *kf, const uint32_t *bits, int jn, float keep_scale) {
    for (int j = 0; j < jn; j++) kf[j] = (float)((bits[j >> 5] >> (j & 31)) & 1u) * keep_scale;
}

EIR_KERNEL static void attn_unit_forward(float *out, float *lse, uint32_t *mask, const float *qkv, const AttnShape *a,
                                         int head, const DropoutKey *key, uint64_t sample, uint64_t e_base,
                                         float *scr) {
    int W = a->W, dh = a->dh, ld = 3 * a->d, mw = (W + 31) / 32;
    float *KT = scr, *VT = KT + (size_t)dh * W, *s = VT + (size_t)dh * W, *kf = s + W;
    float qs[64];
    gather_kv(KT, VT, qkv, a, head);
    for (int i = 0; i < W; i++) {
        const float *q = qkv + (size_t)i * ld + head * dh;
        for (int t = 0; t < dh; t++) qs[t] = q[t] * a->scale;
        int jn = a->causal ? i + 1 : W;
        scores(s, qs, KT, W, dh, jn);
        float m = s[0];
        for (int j = 1; j < jn; j++) m = s[j] > m ? s[j] : m;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < jn; j++) {
            float e = exp_approx(s[j] - m);
            s[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        lse[(size_t)i * a->heads] = m + logf(sum);
        if (a->thr) {
            uint32_t *row_bits = mask + (size_t)i * mw;
            dropout_keep_bits(row_bits, key->seed, key->purpose, key->step, sample, e_base + (uint64_t)i * W, jn, a->thr);
            for (int w = (jn + 31) / 32; w < mw; w++) row_bits[w] = 0;
            expand_keep(kf, row_bits, jn, a->keep_scale * inv);
            for (int j = 0; j < jn; j++) s[j] *= kf[j];
        } else {
            for (int j = 0; j < jn; j++) s[j] *= inv;
        }
        float *o = out + (size_t)i * a->d + head * dh;
        for (int t = 0; t < dh; t++) {
            const float *vt = VT + (size_t)t * W;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int j = 0; j < jn; j++) acc += s[j] * vt[j];
            o[t] = acc;
        }
    }
}

EIR_KERNEL static void attn_unit_backward(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                          const uint32_t *mask, const AttnShape *a, int head, float *scr) {
    int W = a->W, dh = a->dh, ld = 3 * a->d, mw = (W + 31) / 32;
    float *KT = scr, *VT = KT + (size_t)dh * W, *dKT = VT + (size_t)dh * W, *dVT = dKT + (size_t)dh * W;
    float *p = dVT + (size_t)dh * W, *dp = p + W, *kf = dp + W;
    float qs[64], g[64];
    gather_kv(KT, VT, qkv, a, head);
    memset(dKT, 0, sizeof(float) * (size_t)dh * W);
    memset(dVT, 0, sizeof(float) * (size_t)dh * W);
    for (int i = 0; i < W; i++) {
        const float *q = qkv + (size_t)i * ld + head * dh;
        const float *go = dout + (size_t)i * a->d + head * dh;
        for (int t = 0; t < dh; t++) {
            qs[t] = q[t] * a->scale;
            g[t] = go[t];
        }
        int jn = a->causal ? i + 1 : W;
        float row_lse = lse[(size_t)i * a->heads];
        scores(p, qs, KT, W, dh, jn);
        for (int j = 0; j < jn; j++) p[j] = exp_approx(p[j] - row_lse);
        // dp[j] = dO . v_j  (gradient w.r.t. the dropped-out probability)
        scores(dp, g, VT, W, dh, jn);
        if (a->thr) {
            expand_keep(kf, mask + (size_t)i * mw, jn, a->keep_scale);
            for (int j = 0; j < jn; j++) dp[j] *= kf[j];  // -> gradient w.r.t. the probability
        }
        // dV[j] += p'[j] * dO with p' = p * kf (what multiplied V in the forward pass)
        for (int t = 0; t < dh; t++) {
            float gt = g[t];
            float *dv = dVT + (size_t)t * W;
            if (a->thr)
                for (int j = 0; j < jn; j++) dv[j] += p[j] * kf[j] * gt;
            else
                for (int j = 0; j < jn; j++) dv[j] += p[j] * gt;
        }
        float D = 0.0f;
#pragma omp simd reduction(+ : D)
        for (int j = 0; j < jn; j++) D += p[j] * dp[j];
        for (int j = 0; j < jn; j++) dp[j] = p[j] * (dp[j] - D);  // dp now holds dS (scaled scores)
        float *dq = dqkv + (size_t)i * ld + head * dh;
        for (int t = 0; t < dh; t++) {
            const float *kt = KT + (size_t)t * W;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int j = 0; j < jn; j++) acc += dp[j] * kt[j];
            dq[t] = acc * a->scale;
            float qt = qs[t];
            float *dk = dKT + (size_t)t * W;
            for (int j = 0; j < jn; j++) dk[j] += dp[j] * qt;
        }
    }
    float *dk = dqkv + a->d + head * dh, *dv = dqkv + 2 * a->d + head * dh;
    for (int j = 0; j < W; j++)
        for (int t = 0; t < dh; t++) {
            dk[(size_t)j * ld + t] = dKT[(size_t)t * W + j];
            dv[(size_t)j * ld + t] = dVT[(size_t)t * W + j];
        }
}

static void attn_shape(AttnShape *a, int W, int d, int heads, bool causal, float p_drop) {
    if (heads <= 0 || d % heads != 0) eir_die("window attention: d=%d not divisible by heads=%d", d, heads);
    a->W = W;
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
    int C = T / W, mw = (W + 31) / 32;
    long units = (long)B * C * heads;
    size_t per = window_attention_scratch_floats(W, a.dh);
#pragma omp parallel for schedule(static) num_threads(scratch_threads(n_scratch)) \
    if ((size_t)B * T * W * d >= EIR_PAR_MIN)
    for (long u = 0; u < units; u++) {
        int head = (int)(u % heads), c = (int)((u / heads) % C), b = (int)(u / ((long)heads * C));
        size_t row0 = (size_t)b * T + (size_t)c * W;
        uint32_t *m = a.thr ? mask + ((size_t)u * W) * mw : NULL;
        uint64_t e_base = ((uint64_t)c * heads + head) * (uint64_t)W * W;
        attn_unit_forward(out + row0 * d, lse + row0 * heads + head, m, qkv + row0 * 3 * d, &a, head, key,
                          a.thr ? key->sample_ids[b] : 0, e_base, scratch + (size_t)thread_id() * per);
    }
}

void window_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse,
                               const uint32_t *mask, int B, int T, int W, int d, int heads, bool causal, float p_drop,
                               float *scratch, int n_scratch) {
    AttnShape a;
    attn_shape(&a, W, d, heads, causal, p_drop);
    int C = T / W, mw = (W + 31) / 32;
    long units = (long)B * C * heads;
    size_t per = window_attention_scratch_floats(W, a.dh);
#pragma omp parallel for schedule(static) num_threads(scratch_threads(n_scratch)) \
    if ((size_t)B * T * W * d >= EIR_PAR_MIN)
    for (long u = 0; u < units; u++) {
        int head = (int)(u % heads), c = (int)((u / heads) % C), b = (int)(u / ((long)heads * C));
        size_t row0 = (size_t)b * T + (size_t)c * W;
        const uint32_t *m = a.thr ? mask + ((size_t)u * W) * mw : NULL;
        attn_unit_backward(dqkv + row0 * 3 * d, dout + row0 * d, qkv + row0 * 3 * d, lse + row0 * heads + head, m,
                           &a, head, scratch + (size_t)thread_id() * per);
    }
}
