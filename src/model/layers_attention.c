// layers_attention.c: multi-head softmax attention inside each window (spec §3.1 step 5), the
// hot spot of the model: the layer calls, their threading over (sample, window, head) units and
// the choice of kernels (attention_kernels.h: 16-lane AVX-512 ones where the CPU runs them, else
// 8-lane multi-versioned ones built here).
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/util.h"

#define AK_VL 8
#define AK_KERNEL EIR_KERNEL
#define AK_SUFFIX _v8
#include "model/attention_kernels.h"

// Keep bits of one (sample, window, head) unit: W*W bits, row i at bit i*W, padded to a word.
static size_t unit_mask_words(int W) { return ((size_t)W * W + 31) / 32; }

size_t window_attention_mask_words(int B, int T, int W, int heads) {
    return (size_t)B * (size_t)(T / W) * (size_t)heads * unit_mask_words(W);
}

size_t window_attention_scratch_floats(int W, int dh) {
    // KT, VT, K, V, dK, dV (dh x Wp each: key-major, or row / key-pair layouts padded to Wp keys),
    // S, P2, KF (ATT_RB x Wp each), row maxima and sums (Wp each), Wp = W rounded up to 16
    size_t Wp = ((size_t)W + 15) & ~(size_t)15;
    size_t n = 6 * (size_t)dh * Wp + 3 * 4 * Wp + 2 * Wp + 64;
    return (n + 15) & ~(size_t)15;
}

static void attn_shape(AttnShape *a, int W, int d, int heads, bool causal, float p_drop) {
    if (heads <= 0 || d % heads != 0) eir_die("window attention: d=%d not divisible by heads=%d", d, heads);
    a->W = W;
    a->Wp = (W + 15) / 16 * 16;  // both kernel widths (scratch: window_attention_scratch_floats)
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
    UnitForwardFn fwd = simd_wide_vectors() && attention_wide_forward(a.dh) ? attention_wide_forward(a.dh) : pick_forward_v8(a.dh);
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
    UnitBackwardFn bwd = simd_wide_vectors() && attention_wide_backward(a.dh) ? attention_wide_backward(a.dh) : pick_backward_v8(a.dh);
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
