// model_ops_cpu.c: the CPU backend of the model passes (model_pass.h): the layers of layers.h,
// with the scratch they need taken from the host Model's activations (dev is the Model).
#include <string.h>

#include "model/model_pass.h"

static void embedding_fwd(void *dev, float *out, const int32_t *tokens, const float *table, int N, int V, int d) {
    (void)dev;
    embedding_forward(out, tokens, table, N, V, d);
}
static void embedding_bwd(void *dev, float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d) {
    (void)dev;
    embedding_backward(dtable, dout, tokens, N, V, d);
}
static void mixup_fwd(void *dev, float *out, const float *inp, const int32_t *perm, float lambda, int B, size_t D) {
    (void)dev;
    mixup_forward(out, inp, perm, lambda, B, D);
}
static void mixup_bwd(void *dev, float *dinp, const float *dout, const int32_t *perm, float lambda, int B, size_t D) {
    (void)dev;
    mixup_backward(dinp, dout, perm, lambda, B, D);
}
static void embed_pos_fwd(void *dev, float *out, const float *emb, const float *pos, int B, int L, int d, float scale) {
    (void)dev;
    embed_position_forward(out, emb, pos, B, L, d, scale);
}
static void embed_pos_bwd(void *dev, float *demb, float *dpos, const float *dout, int B, int L, int d, float scale) {
    (void)dev;
    embed_position_backward(demb, dpos, dout, B, L, d, scale);
}
static void pad_fwd(void *dev, float *out, const float *inp, int B, int L, int Lp, int d) {
    (void)dev;
    window_pad_forward(out, inp, B, L, Lp, d);
}
static void pad_bwd(void *dev, float *dinp, const float *dout, int B, int L, int Lp, int d) {
    (void)dev;
    window_pad_backward(dinp, dout, B, L, Lp, d);
}
static void rmsnorm_fwd(void *dev, float *out, float *rstd, const float *inp, const float *w, int N, int C) {
    (void)dev;
    rmsnorm_forward(out, rstd, inp, w, N, C, RMSNORM_EPS);
}
static void rmsnorm_bwd(void *dev, float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                        const float *rstd, int N, int C) {
    (void)dev;
    rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C);
}
static void linear_fwd(void *dev, float *out, const float *inp, const float *w, const float *b, int N, int in, int out_dim,
                       int block) {
    ModelActs *A = &((Model *)dev)->acts;
    linear_forward_packed(out, inp, w, b, N, in, out_dim, block, A->gemm_pack, A->gemm_pack_floats);
}
static void linear_bwd(void *dev, float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                       int N, int in, int out_dim, bool accumulate) {
    ModelActs *A = &((Model *)dev)->acts;
    linear_backward_packed(dinp, dw, db, dout, inp, w, N, in, out_dim, accumulate, A->lin_scratch, A->gemm_pack,
                           A->gemm_pack_floats);
}
static void lsres_fwd(void *dev, float *out, const float *x, const float *y, const float *gamma, float scale, int N,
                      int C) {
    (void)dev;
    layerscale_residual_forward(out, x, y, gamma, scale, N, C);
}
static void lsres_bwd(void *dev, float *dy, float *dgamma, const float *dout, const float *y, const float *gamma,
                      float scale, int N, int C) {
    (void)dev;
    layerscale_residual_backward(dy, dgamma, dout, y, gamma, scale, N, C);
}
static void swiglu_fwd(void *dev, float *out, const float *h, int N, int F) {
    (void)dev;
    swiglu_forward(out, h, N, F);
}
static void linear_swiglu_fwd(void *dev, float *out, float *h, bool keep_h, const float *inp, const float *w12, int N,
                              int in, int F, int block) {
    ModelActs *A = &((Model *)dev)->acts;
    linear_swiglu_forward_packed(out, h, keep_h, inp, w12, N, in, F, block, A->gemm_pack, A->gemm_pack_floats);
}
static void swiglu_bwd(void *dev, float *dh, const float *dout, const float *h, int N, int F) {
    (void)dev;
    swiglu_backward(dh, dout, h, N, F);
}
static void linear_swiglu_bwd(void *dev, float *dh, float *dw3, const float *dout, const float *g, const float *h,
                              const float *w3, int N, int F, int d, float *dg) {
    ModelActs *A = &((Model *)dev)->acts;
    linear_swiglu_backward_packed(dh, dw3, dout, g, h, w3, N, F, d, dg, A->gemm_pack, A->gemm_pack_floats, A->lin_scratch);
}
static void gelu_fwd(void *dev, float *out, const float *inp, size_t n) {
    (void)dev;
    gelu_forward(out, inp, n);
}
static void gelu_bwd(void *dev, float *dinp, const float *dout, const float *inp, size_t n) {
    (void)dev;
    gelu_backward(dinp, dout, inp, n);
}
static void rope_fwd(void *dev, float *x, int N, int ld, int W, int nh, int dh, const float *c, const float *s) {
    (void)dev;
    rope_forward(x, N, ld, W, nh, dh, c, s);
}
static void rope_bwd(void *dev, float *dx, int N, int ld, int W, int nh, int dh, const float *c, const float *s) {
    (void)dev;
    rope_backward(dx, N, ld, W, nh, dh, c, s);
}
static void attention_fwd(void *dev, float *out, float *lse, uint32_t *mask, const float *qkv, int B, int T, int W, int d,
                          int heads, bool causal, float p_drop, const DropoutKey *key) {
    ModelActs *A = &((Model *)dev)->acts;
    window_attention_forward(out, lse, mask, qkv, B, T, W, d, heads, causal, p_drop, key, A->attn_scratch,
                             A->n_attn_scratch);
}
static void attention_bwd(void *dev, float *dqkv, const float *dout, const float *qkv, const float *out,
                          const float *lse, const uint32_t *mask, int B, int T, int W, int d, int heads, bool causal,
                          float p_drop) {
    (void)out;  // the CPU kernel recomputes what it needs from lse
    ModelActs *A = &((Model *)dev)->acts;
    window_attention_backward(dqkv, dout, qkv, lse, mask, B, T, W, d, heads, causal, p_drop, A->attn_scratch,
                              A->n_attn_scratch);
}
static void dropout_fwd(void *dev, float *out, uint32_t *mask, const float *inp, int B, size_t D, float p,
                        const DropoutKey *key) {
    (void)dev;
    dropout_forward(out, mask, inp, B, D, p, key);
}
static void dropout_bwd(void *dev, float *dinp, const float *dout, const uint32_t *mask, int B, size_t D, float p) {
    (void)dev;
    dropout_backward(dinp, dout, mask, B, D, p);
}
static void pool_fwd(void *dev, float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d, PoolKind kind,
                     int ld_out) {
    (void)dev;
    pool_forward(out, argmax, inp, B, C, W, d, kind, ld_out);
}
static void pool_bwd(void *dev, float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d,
                     PoolKind kind, int ld_out) {
    (void)dev;
    pool_backward(dinp, dout, argmax, B, C, W, d, kind, ld_out);
}
static void wbadd_fwd(void *dev, float *out, const float *x, const float *y, const float *gamma, int N, int W, int d) {
    (void)dev;
    window_broadcast_add_forward(out, x, y, gamma, N, W, d);
}
static void wsum(void *dev, float *out, const float *inp, int N, int W, int d) {
    (void)dev;
    window_sum(out, inp, N, W, d);
}
static void loss_term(void *dev, float *dlogits, double *sums, const float *logits, const void *labels,
                      const int32_t *perm, int B, int K, bool continuous, float smoothing, float grad_scale) {
    (void)dev;
    int n = 0;
    sums[0] = continuous ? mse_forward_backward(dlogits, logits, labels, perm, B, grad_scale, &n)
                         : crossentropy_forward_backward(dlogits, logits, labels, perm, B, K, smoothing, grad_scale, &n);
    sums[1] = n;
}
static void copy_f(void *dev, float *dst, const float *src, size_t n) {
    (void)dev;
    memcpy(dst, src, n * sizeof(float));
}
static void add_f(void *dev, float *dst, const float *src, size_t n) {
    (void)dev;
    for (size_t k = 0; k < n; k++) dst[k] += src[k];
}
static void zero_b(void *dev, void *p, size_t bytes) {
    (void)dev;
    memset(p, 0, bytes);
}
static void grad_ready(void *dev, size_t offset, size_t count) {
    Model *m = dev;
    if (m->grad_hook) m->grad_hook(m->grad_hook_user, offset, count);
}

const ModelOps model_ops_cpu = MODEL_OPS_TABLE;
