// model_pass.h: the model's forward and backward passes, written once (model_input.c,
// model_mlp.c, model_loss.c) over a table of ops that a backend fills: the CPU layers of layers.h
// (model_ops_cpu.c) or their CUDA twins of layers_cuda.h (model_ops_cuda.c). A pass never knows
// where its buffers live; the backend's `dev` state (scratch, stream, cuBLAS handle) rides along
// as every op's first argument.
//
// Each op has the contract of the layers.h function it is named after (sizes, aliasing,
// "adds" vs "writes"); an op that needs scratch takes it from its backend state. Every pointer is
// the backend's memory, except where a comment says host.
#pragma once
#include "model/model.h"

typedef struct ModelOps {
    // embedding, mixup, scale + position, front padding (layers_embed.c)
    void (*embedding_forward)(void *dev, float *out, const int32_t *tokens, const float *table, int N, int V, int d);
    void (*embedding_backward)(void *dev, float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d);
    void (*mixup_forward)(void *dev, float *out, const float *inp, const int32_t *perm, float lambda, int B, size_t D);
    void (*mixup_backward)(void *dev, float *dinp, const float *dout, const int32_t *perm, float lambda, int B,
                           size_t D);
    void (*embed_position_forward)(void *dev, float *out, const float *emb, const float *pos, int B, int L, int d,
                                   float scale);
    void (*embed_position_backward)(void *dev, float *demb, float *dpos, const float *dout, int B, int L, int d,
                                    float scale);
    void (*window_pad_forward)(void *dev, float *out, const float *inp, int B, int L, int Lp, int d);
    void (*window_pad_backward)(void *dev, float *dinp, const float *dout, int B, int L, int Lp, int d);
    // norm, matrix products, element-wise (layers_norm.c, layers_linear.c, layers_act.c)
    void (*rmsnorm_forward)(void *dev, float *out, float *rstd, const float *inp, const float *weight, int N, int C);
    void (*rmsnorm_backward)(void *dev, float *dinp, float *dweight, const float *dout, const float *inp,
                             const float *weight, const float *rstd, int N, int C);
    // block: rows per sgemm call on the CPU (batch invariance, see linear_forward); unused on a GPU
    void (*linear_forward)(void *dev, float *out, const float *inp, const float *weight, const float *bias, int N,
                           int in, int out_dim, int block);
    void (*linear_backward)(void *dev, float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int N, int in, int out_dim, bool accumulate_dinp);
    void (*layerscale_residual_forward)(void *dev, float *out, const float *x, const float *y, const float *gamma,
                                        float scale, int N, int C);
    void (*layerscale_residual_backward)(void *dev, float *dy, float *dgamma, const float *dout, const float *y,
                                         const float *gamma, float scale, int N, int C);
    void (*swiglu_forward)(void *dev, float *out, const float *h, int N, int F);
    // linear_forward (no bias) of w12 into h, then swiglu_forward of h into out, fused where it pays;
    // keep_h false: h is not read later (inference), a backend may leave it unwritten
    void (*linear_swiglu_forward)(void *dev, float *out, float *h, bool keep_h, const float *inp, const float *w12, int N, int in,
                                  int F, int block);
    void (*swiglu_backward)(void *dev, float *dh, const float *dout, const float *h, int N, int F);
    // linear_backward of w3 (input gradient into dg, no bias, no accumulation) then swiglu_backward
    // of dg into dh, fused where it pays (then dg may be left unwritten)
    void (*linear_swiglu_backward)(void *dev, float *dh, float *dw3, const float *dout, const float *g, const float *h,
                                   const float *w3, int N, int F, int d, float *dg);
    void (*gelu_forward)(void *dev, float *out, const float *inp, size_t n);
    void (*gelu_backward)(void *dev, float *dinp, const float *dout, const float *inp, size_t n);
    // rotary embedding, window attention (layers_rope.c, layers_attention.c); out: the forward's
    // output, which a backend may use in the backward pass (the GPU's D_i = dO_i . O_i)
    void (*rope_forward)(void *dev, float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t,
                         const float *sin_t);
    void (*rope_backward)(void *dev, float *dx, int N, int ld, int W, int n_heads, int dh, const float *cos_t,
                          const float *sin_t);
    void (*attention_forward)(void *dev, float *out, float *lse, uint32_t *mask, const float *qkv, int B, int T,
                              int W, int d, int heads, bool causal, float p_drop, const DropoutKey *key);
    void (*attention_backward)(void *dev, float *dqkv, const float *dout, const float *qkv, const float *out,
                               const float *lse, const uint32_t *mask, int B, int T, int W, int d, int heads,
                               bool causal, float p_drop);
    // dropout (layers_dropout.c), pooling (layers_pool.c)
    void (*dropout_forward)(void *dev, float *out, uint32_t *mask, const float *inp, int B, size_t D, float p,
                            const DropoutKey *key);
    void (*dropout_backward)(void *dev, float *dinp, const float *dout, const uint32_t *mask, int B, size_t D, float p);
    void (*pool_forward)(void *dev, float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d,
                         PoolKind kind, int ld_out);
    void (*pool_backward)(void *dev, float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d,
                          PoolKind kind, int ld_out);
    // the global stage's way back into the windows (layers_pool.c)
    void (*window_broadcast_add_forward)(void *dev, float *out, const float *x, const float *y, const float *gamma,
                                         int N, int W, int d);
    void (*window_sum)(void *dev, float *out, const float *inp, int N, int W, int d);
    // loss of one term (layers_loss.c): ADDS grad_scale * d(row loss)/d(logits) into dlogits and
    // writes {sum of the row losses, rows used} to sums (2 doubles, backend memory). labels: int32
    // classes, or float values when continuous.
    void (*loss)(void *dev, float *dlogits, double *sums, const float *logits, const void *labels,
                 const int32_t *perm, int B, int K, bool continuous, float smoothing, float grad_scale);
    // copies (n floats)
    void (*copy)(void *dev, float *dst, const float *src, size_t n);
    void (*add)(void *dev, float *dst, const float *src, size_t n);
    void (*zero)(void *dev, void *p, size_t bytes);
    // a finished range of the gradient buffer (backward's order), for the backend's hook
    void (*grad_ready)(void *dev, size_t offset, size_t count);
} ModelOps;

// A backend names its functions as below (static, in its own file) and writes
// `const ModelOps model_ops_<name> = MODEL_OPS_TABLE;`, so no backend can leave an op out.
#define MODEL_OPS_TABLE \
    { \
        .embedding_forward = embedding_fwd, \
        .embedding_backward = embedding_bwd, \
        .mixup_forward = mixup_fwd, \
        .mixup_backward = mixup_bwd, \
        .embed_position_forward = embed_pos_fwd, \
        .embed_position_backward = embed_pos_bwd, \
        .window_pad_forward = pad_fwd, \
        .window_pad_backward = pad_bwd, \
        .rmsnorm_forward = rmsnorm_fwd, \
        .rmsnorm_backward = rmsnorm_bwd, \
        .linear_forward = linear_fwd, \
        .linear_backward = linear_bwd, \
        .layerscale_residual_forward = lsres_fwd, \
        .layerscale_residual_backward = lsres_bwd, \
        .swiglu_forward = swiglu_fwd, \
        .linear_swiglu_forward = linear_swiglu_fwd, \
        .swiglu_backward = swiglu_bwd, \
        .linear_swiglu_backward = linear_swiglu_bwd, \
        .gelu_forward = gelu_fwd, \
        .gelu_backward = gelu_bwd, \
        .rope_forward = rope_fwd, \
        .rope_backward = rope_bwd, \
        .attention_forward = attention_fwd, \
        .attention_backward = attention_bwd, \
        .dropout_forward = dropout_fwd, \
        .dropout_backward = dropout_bwd, \
        .pool_forward = pool_fwd, \
        .pool_backward = pool_bwd, \
        .window_broadcast_add_forward = wbadd_fwd, \
        .window_sum = wsum, \
        .loss = loss_term, \
        .copy = copy_f, \
        .add = add_f, \
        .zero = zero_b, \
        .grad_ready = grad_ready, \
    }

extern const ModelOps model_ops_cpu;
extern const ModelOps model_ops_cuda;  // linked only by builds with the CUDA backend

// What the passes run over: the backend, the host model's configuration and tables, and the
// backend's views (same layouts as the host's).
typedef struct ModelPass {
    const ModelOps *ops;
    void *dev;
    const Model *host;
    const ModelWeights *w;
    ModelWeights *g;
    ModelActs *acts;
    const ForwardCtx *ctx;  // the current forward's (sample_ids, mixup_perm: backend memory)
    float *const *rope_cos, *const *rope_sin, *const *pos_table;  // [n_inputs]
    int32_t *const *tokens;                                        // [n_inputs]: this batch
    OpProfile *prof;        // time per op (CPU only; NULL: off)
    size_t last_reported;   // offset of the last gradient range reported in this backward
    // the loss: 4 doubles per target {s1, n1, s2, n2} in backend memory (sums) and on the host
    // (host_sums, filled by the backend before model_pass_loss_read), each target's denominator
    double *sums, *host_sums;
    double loss_denom[MODEL_MAX_TARGETS];
    float loss_lambda;
} ModelPass;

// model_input.c / model_mlp.c
void pass_input_forward(ModelPass *p, int i, int B);
void pass_input_backward(ModelPass *p, int i, int B);  // from acts.dconcat; reports ranges
void pass_fusion_forward(ModelPass *p, int B);
void pass_heads_forward(ModelPass *p, int B);
void pass_heads_fusion_backward(ModelPass *p, int B);  // from each dlogits to acts.dconcat

// model_pass.c: the whole forward (over p->tokens) and backward, the gradient-range contract
void model_pass_forward(ModelPass *p, int B);
void model_pass_backward(ModelPass *p, int B);
void model_pass_report_range(ModelPass *p, int unit);
DropoutKey model_pass_dropout_key(const ModelPass *p, uint32_t site);

// model_loss.c: the loss rules (spec §4.1-4.2) once. labels: host labels (counted here);
// dev_labels: the same in backend memory (what the loss op reads). Queues the dlogits and the
// sums; model_pass_loss_total combines p->host_sums once the backend has them back.
void model_pass_loss_queue(ModelPass *p, int B, const TargetLabels *labels, const TargetLabels *dev_labels,
                           const int32_t *host_perm, const double *denominators);
double model_pass_loss_total(const ModelPass *p, float *target_losses);
