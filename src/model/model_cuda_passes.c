// model_cuda_passes.c: the forward and backward passes of model_input.c and model_mlp.c on the
// GPU, line for line the same sequence of layers with the CUDA twins of layers_cuda.h, over the
// device views of ModelCuda (same layouts as the host model). Everything is queued on g->stream.
#include <math.h>

#include "common/rng.h"
#include "common/util.h"
#include "model/model_cuda.h"
#include "model/model_cuda_internal.h"
#include "model/model_internal.h"

static DropoutKey dkey(const ModelCuda *g, uint32_t site) {
    DropoutKey k = {.seed = g->ctx.seed, .purpose = rng_purpose(RNG_DROPOUT, site), .step = g->ctx.step,
                    .sample_ids = g->acts.sample_ids};
    return k;
}

static size_t concat_offset(const ModelConfig *mc, int i) {
    size_t off = 0;
    for (int j = 0; j < i; j++) off += (size_t)mc->inputs[j].out_features;
    return off;
}

void model_cuda_report_range(ModelCuda *g, int unit) {
    const GradRange *r = &g->host->ranges[unit];
    if (r->offset + r->count != g->last_reported)
        eir_die("model_cuda_backward: gradient range [%zu, +%zu) reported out of order (expected end %zu)", r->offset,
                r->count, g->last_reported);
    g->last_reported = r->offset;
    if (g->grad_hook && r->count) g->grad_hook(g->grad_hook_user, r->offset, r->count, g->stream);
}

// ---- transformer layers (model_input.c) -------------------------------------------------------

static void layer_forward(ModelCuda *g, int i, int l, int B) {
    const ModelInputSpec *s = &g->host->config.inputs[i];
    const TransformerLayerW *W = &g->w.inputs[i].layers[l];
    LayerActs *A = &g->acts.inputs[i].layers[l];
    void *st = g->stream, *bl = g->blas;
    int d = s->d, F = s->ffn, Lp = s->padded_length, N = B * Lp, dh = d / s->heads;
    float p = g->ctx.train ? s->dropout : 0.0f;
    rmsnorm_forward_cuda(A->a, A->rstd1, A->x_in, W->norm1, N, d, RMSNORM_EPS, st);
    linear_forward_cuda(bl, A->qkv, A->a, W->wqkv, NULL, N, d, 3 * d, st);
    rope_forward_cuda(A->qkv, N, 3 * d, s->win, 2 * s->heads, dh, g->rope_cos[i], g->rope_sin[i], st);
    DropoutKey k_att = dkey(g, site_attention(i, l));
    window_attention_forward_cuda(A->att, A->lse, A->att_mask, A->qkv, B, Lp, s->win, d, s->heads, s->masked, p, &k_att,
                                  st);
    linear_forward_cuda(bl, A->y, A->att, W->wo, NULL, N, d, d, st);
    DropoutKey k_out = dkey(g, site_attention_out(i, l));
    dropout_forward_cuda(A->y, A->y_mask, A->y, B, (size_t)Lp * d, p, &k_out, st);
    layerscale_residual_forward_cuda(A->x_mid, A->x_in, A->y, W->ls1, 1.0f, N, d, st);
    rmsnorm_forward_cuda(A->f, A->rstd2, A->x_mid, W->norm2, N, d, RMSNORM_EPS, st);
    linear_forward_cuda(bl, A->hh, A->f, W->w12, NULL, N, d, 2 * F, st);
    swiglu_forward_cuda(A->g, A->hh, N, F, st);
    linear_forward_cuda(bl, A->z, A->g, W->w3, NULL, N, F, d, st);
    layerscale_residual_forward_cuda(A->x_out, A->x_mid, A->z, W->ls2, 1.0f, N, d, st);
}

// dres holds d(x_out) on entry and d(x_in) on return.
static void layer_backward(ModelCuda *g, int i, int l, int B) {
    const ModelInputSpec *s = &g->host->config.inputs[i];
    const TransformerLayerW *W = &g->w.inputs[i].layers[l];
    TransformerLayerW *G = &g->g.inputs[i].layers[l];
    const LayerActs *A = &g->acts.inputs[i].layers[l];
    ModelActs *S = &g->acts;
    void *st = g->stream, *bl = g->blas;
    float *cs = g->layer_scratch;
    int d = s->d, F = s->ffn, Lp = s->padded_length, N = B * Lp, dh = d / s->heads;
    float p = g->ctx.train ? s->dropout : 0.0f;
    layerscale_residual_backward_cuda(S->d1, G->ls2, S->dres, A->z, W->ls2, 1.0f, N, d, cs, st);
    linear_backward_cuda(bl, S->dg, G->w3, NULL, S->d1, A->g, W->w3, N, F, d, false, cs, st);
    swiglu_backward_cuda(S->dhh, S->dg, A->hh, N, F, st);
    linear_backward_cuda(bl, S->d2, G->w12, NULL, S->dhh, A->f, W->w12, N, d, 2 * F, false, cs, st);
    rmsnorm_backward_cuda(S->dres, G->norm2, S->d2, A->x_mid, W->norm2, A->rstd2, N, d, cs, st);
    layerscale_residual_backward_cuda(S->d1, G->ls1, S->dres, A->y, W->ls1, 1.0f, N, d, cs, st);
    dropout_backward_cuda(S->d1, S->d1, A->y_mask, B, (size_t)Lp * d, p, st);
    linear_backward_cuda(bl, S->d2, G->wo, NULL, S->d1, A->att, W->wo, N, d, d, false, cs, st);
    window_attention_backward_cuda(S->dqkv, S->d2, A->qkv, A->att, A->lse, A->att_mask, B, Lp, s->win, d, s->heads, s->masked,
                                   p, st);
    rope_backward_cuda(S->dqkv, N, 3 * d, s->win, 2 * s->heads, dh, g->rope_cos[i], g->rope_sin[i], st);
    linear_backward_cuda(bl, S->d1, G->wqkv, NULL, S->dqkv, A->a, W->wqkv, N, d, 3 * d, false, cs, st);
    rmsnorm_backward_cuda(S->dres, G->norm1, S->d1, A->x_in, W->norm1, A->rstd1, N, d, cs, st);
}

void model_cuda_input_forward(ModelCuda *g, int i, int B) {
    const ModelConfig *mc = &g->host->config;
    const ModelInputSpec *s = &mc->inputs[i];
    const InputW *W = &g->w.inputs[i];
    InputActs *A = &g->acts.inputs[i];
    const ForwardCtx *ctx = &g->ctx;
    void *st = g->stream;
    int L = s->max_length, d = s->d, Lp = s->padded_length;
    size_t D = (size_t)L * d;
    embedding_forward_cuda(A->emb, g->tokens[g->slot][i], W->embedding, B * L, s->vocab, d, st);
    const float *e = A->emb;
    if (ctx->train && ctx->mixup) {
        mixup_forward_cuda(A->mixed, A->emb, ctx->mixup_perm, ctx->mixup_lambda, B, D, st);
        e = A->mixed;
    }
    const float *pos = s->position == POS_EMBED ? W->pos : g->pos_table[i];
    embed_position_forward_cuda(A->xpos, e, pos, B, L, d, sqrtf((float)d), st);
    DropoutKey kp = dkey(g, site_position(i));
    dropout_forward_cuda(A->xpos, A->pos_mask, A->xpos, B, D, ctx->train ? s->position_dropout : 0.0f, &kp, st);
    if (Lp != L) window_pad_forward_cuda(A->x0, A->xpos, B, L, Lp, d, st);
    for (int l = 0; l < s->layers; l++) layer_forward(g, i, l, B);
    const float *x = A->layers[s->layers - 1].x_out;
    pool_forward_cuda(g->acts.concat + concat_offset(mc, i), A->argmax, x, B, s->n_windows, s->win, d, s->pool,
                      mc->fusion_in, st);
}

void model_cuda_input_backward(ModelCuda *g, int i, int B) {
    const ModelConfig *mc = &g->host->config;
    const ModelInputSpec *s = &mc->inputs[i];
    InputW *G = &g->g.inputs[i];
    const InputActs *A = &g->acts.inputs[i];
    ModelActs *S = &g->acts;
    const ForwardCtx *ctx = &g->ctx;
    void *st = g->stream;
    int L = s->max_length, d = s->d, Lp = s->padded_length;
    size_t D = (size_t)L * d;
    pool_backward_cuda(S->dres, S->dconcat + concat_offset(mc, i), A->argmax, B, s->n_windows, s->win, d, s->pool,
                       mc->fusion_in, st);
    for (int l = s->layers - 1; l >= 0; l--) {
        layer_backward(g, i, l, B);
        model_cuda_report_range(g, g->host->unit_layer0[i] + l);
    }
    float *dx = S->dres;
    if (Lp != L) {
        window_pad_backward_cuda(S->dxpos, S->dres, B, L, Lp, d, st);
        dx = S->dxpos;
    }
    dropout_backward_cuda(dx, dx, A->pos_mask, B, D, ctx->train ? s->position_dropout : 0.0f, st);
    embed_position_backward_cuda(dx, s->position == POS_EMBED ? G->pos : NULL, dx, B, L, d, sqrtf((float)d), st);
    if (ctx->train && ctx->mixup) {
        mixup_backward_cuda(S->dmix, dx, ctx->mixup_perm, ctx->mixup_lambda, B, D, st);
        dx = S->dmix;
    }
    embedding_backward_cuda(G->embedding, dx, g->tokens[g->slot][i], B * L, s->vocab, d, g->layer_scratch, st);
    model_cuda_report_range(g, g->host->unit_embed[i]);
}

// ---- residual MLP blocks, fusion and heads (model_mlp.c) ---------------------------------------

static void mlp_block_forward(ModelCuda *g, const MlpBlockW *W, MlpActs *A, int B, float rb_do, float sd_p,
                              uint32_t site) {
    const ForwardCtx *ctx = &g->ctx;
    void *st = g->stream, *bl = g->blas;
    int in = A->in, out = A->out_dim;
    A->sd_scale = ctx->train ? stochastic_depth_scale(sd_p, ctx->seed, rng_purpose(RNG_STOCH_DEPTH, site), ctx->step) : 1.0f;
    if (W->ds_w)
        linear_forward_cuda(bl, A->out, A->x_in, W->ds_w, W->ds_b, B, in, out, st);
    else
        cuda_memcpy_d2d(A->out, A->x_in, (size_t)B * out * sizeof(float), st);
    if (A->sd_scale == 0.0f) return;
    rmsnorm_forward_cuda(A->h, A->rstd, A->x_in, W->norm, B, in, RMSNORM_EPS, st);
    linear_forward_cuda(bl, A->u, A->h, W->fc1, NULL, B, in, out, st);
    gelu_forward_cuda(A->v, A->u, (size_t)B * out, st);
    DropoutKey k = dkey(g, site);
    dropout_forward_cuda(A->v, A->mask, A->v, B, (size_t)out, ctx->train ? rb_do : 0.0f, &k, st);
    linear_forward_cuda(bl, A->w, A->v, W->fc2, NULL, B, out, out, st);
    layerscale_residual_forward_cuda(A->out, A->out, A->w, W->ls, A->sd_scale, B, out, st);
}

static void mlp_block_backward(ModelCuda *g, const MlpBlockW *W, MlpBlockW *G, const MlpActs *A, const float *dout,
                               float *dx, bool accumulate, int B, float rb_do, float *t1, float *t2, float *t3) {
    void *st = g->stream, *bl = g->blas;
    float *cs = g->layer_scratch;
    int in = A->in, out = A->out_dim;
    if (W->ds_w)
        linear_backward_cuda(bl, dx, G->ds_w, G->ds_b, dout, A->x_in, W->ds_w, B, in, out, accumulate, cs, st);
    else if (accumulate)
        add_inplace_cuda(dx, dout, (size_t)B * out, st);
    else
        cuda_memcpy_d2d(dx, dout, (size_t)B * out * sizeof(float), st);
    if (A->sd_scale == 0.0f) return;
    layerscale_residual_backward_cuda(t1, G->ls, dout, A->w, W->ls, A->sd_scale, B, out, cs, st);
    linear_backward_cuda(bl, t2, G->fc2, NULL, t1, A->v, W->fc2, B, out, out, false, cs, st);
    dropout_backward_cuda(t2, t2, A->mask, B, (size_t)out, g->ctx.train ? rb_do : 0.0f, st);
    gelu_backward_cuda(t2, t2, A->u, (size_t)B * out, st);
    linear_backward_cuda(bl, t3, G->fc1, NULL, t2, A->h, W->fc1, B, in, out, false, cs, st);
    rmsnorm_backward_cuda(dx, G->norm, t3, A->x_in, W->norm, A->rstd, B, in, cs, st);
}

void model_cuda_fusion_heads_forward(ModelCuda *g, int B) {
    const ModelConfig *mc = &g->host->config;
    void *st = g->stream;
    for (int k = 0; k < mc->fusion_layers; k++)
        mlp_block_forward(g, &g->w.fusion[k], &g->acts.fusion[k], B, mc->fusion_rb_do, mc->fusion_sd_p,
                          site_fusion_block(k));
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        const HeadW *W = &g->w.heads[t];
        HeadActs *H = &g->acts.heads[t];
        for (int k = 0; k < s->layers; k++)
            mlp_block_forward(g, &W->blocks[k], &H->blocks[k], B, s->rb_do, s->sd_p, site_head_block(t, k));
        const float *x = H->blocks[s->layers - 1].out;
        rmsnorm_forward_cuda(H->hn, H->rstd, x, W->norm_final, B, s->dim, RMSNORM_EPS, st);
        gelu_forward_cuda(H->ga, H->hn, (size_t)B * s->dim, st);
        DropoutKey k = dkey(g, site_head_final(t));
        dropout_forward_cuda(H->ga, H->mask, H->ga, B, (size_t)s->dim, g->ctx.train ? s->fc_do : 0.0f, &k, st);
        linear_forward_cuda(g->blas, H->logits, H->ga, W->final_w, W->final_b, B, s->dim, s->n_classes, st);
    }
}

void model_cuda_heads_fusion_backward(ModelCuda *g, int B) {
    const ModelConfig *mc = &g->host->config;
    ModelActs *S = &g->acts;
    void *st = g->stream;
    float *cs = g->layer_scratch;
    float *ga = S->dm1, *gb = S->dm2, *t1 = S->dm3, *t2 = S->dm4, *t3 = S->dm5;
    cuda_memset_zero(S->dfusion, (size_t)B * mc->fusion_dim * sizeof(float), st);
    for (int t = mc->n_targets - 1; t >= 0; t--) {
        const ModelTargetSpec *s = &mc->targets[t];
        const HeadW *W = &g->w.heads[t];
        HeadW *G = &g->g.heads[t];
        const HeadActs *H = &S->heads[t];
        const float *x = H->blocks[s->layers - 1].out;
        linear_backward_cuda(g->blas, t1, G->final_w, G->final_b, H->dlogits, H->ga, W->final_w, B, s->dim,
                             s->n_classes, false, cs, st);
        dropout_backward_cuda(t1, t1, H->mask, B, (size_t)s->dim, g->ctx.train ? s->fc_do : 0.0f, st);
        gelu_backward_cuda(t1, t1, H->hn, (size_t)B * s->dim, st);
        cuda_memset_zero(ga, (size_t)B * s->dim * sizeof(float), st);
        rmsnorm_backward_cuda(ga, G->norm_final, t1, x, W->norm_final, H->rstd, B, s->dim, cs, st);
        model_cuda_report_range(g, g->host->unit_head0[t] + s->layers);
        for (int k = s->layers - 1; k >= 0; k--) {
            float *dx = k == 0 ? S->dfusion : gb;
            mlp_block_backward(g, &W->blocks[k], &G->blocks[k], &H->blocks[k], ga, dx, k == 0, B, s->rb_do, t1, t2, t3);
            model_cuda_report_range(g, g->host->unit_head0[t] + k);
            float *tmp = ga;
            ga = gb;
            gb = tmp;
        }
    }
    const float *dout = S->dfusion;
    for (int k = mc->fusion_layers - 1; k >= 0; k--) {
        float *dx = k == 0 ? S->dconcat : (dout == ga ? gb : ga);
        mlp_block_backward(g, &g->w.fusion[k], &g->g.fusion[k], &S->fusion[k], dout, dx, false, B, mc->fusion_rb_do, t1,
                           t2, t3);
        model_cuda_report_range(g, g->host->unit_fusion0 + k);
        dout = dx;
    }
}
