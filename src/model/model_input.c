// model_input.c: one bytes input module (spec §3.1): embedding lookup, mixup, sqrt(d) scale and
// position, position dropout, front padding into windows, the pre-norm transformer layers run on
// every window at once (rows = batch x windows x tokens), pooling into the fusion input. Written
// once over the backend's ops (model_pass.h): the CPU and the GPU run these very lines.
#include <math.h>

#include "model/model_internal.h"
#include "model/model_pass.h"

static size_t concat_offset(const ModelConfig *mc, int i) {
    size_t off = 0;
    for (int j = 0; j < i; j++) off += (size_t)mc->inputs[j].out_features;
    return off;
}

// x_out = x_mid + ls2 * W3(SiLU(W1 f) * W2 f), f = norm2(x_mid); x_mid = x_in + ls1 * drop(Wo attn(norm1(x_in)))
static void layer_forward(ModelPass *p, int i, int l, int B) {
    const ModelInputSpec *s = &p->host->config.inputs[i];
    const TransformerLayerW *W = &p->w->inputs[i].layers[l];
    LayerActs *A = &p->acts->inputs[i].layers[l];
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    OpProfile *P = p->prof;
    int d = s->d, F = s->ffn, Lp = s->padded_length, N = B * Lp, dh = d / s->heads;
    double Nf = N;
    float pd = p->ctx->train ? s->dropout : 0.0f;
    OP_TIMED(P, OP_NORM, OP_FWD, 0, o->rmsnorm_forward(dv, A->a, A->rstd1, A->x_in, W->norm1, N, d));
    OP_TIMED(P, OP_QKV, OP_FWD, 2 * Nf * d * 3 * d, o->linear_forward(dv, A->qkv, A->a, W->wqkv, NULL, N, d, 3 * d, Lp));
    OP_TIMED(P, OP_ROPE, OP_FWD, 0,  // q and k heads
             o->rope_forward(dv, A->qkv, N, 3 * d, s->win, 2 * s->heads, dh, p->rope_cos[i], p->rope_sin[i]));
    DropoutKey k_att = model_pass_dropout_key(p, site_attention(i, l));
    OP_TIMED(P, OP_ATTENTION, OP_FWD, 4 * Nf * s->win * d,
             o->attention_forward(dv, A->att, A->lse, A->att_mask, A->qkv, B, Lp, s->win, d, s->heads, s->masked, pd,
                                  &k_att));
    OP_TIMED(P, OP_PROJ, OP_FWD, 2 * Nf * d * d, o->linear_forward(dv, A->y, A->att, W->wo, NULL, N, d, d, Lp));
    DropoutKey k_out = model_pass_dropout_key(p, site_attention_out(i, l));
    OP_TIMED(P, OP_DROPOUT, OP_FWD, 0, o->dropout_forward(dv, A->y, A->y_mask, A->y, B, (size_t)Lp * d, pd, &k_out));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0, o->layerscale_residual_forward(dv, A->x_mid, A->x_in, A->y, W->ls1, 1.0f, N, d));
    OP_TIMED(P, OP_NORM, OP_FWD, 0, o->rmsnorm_forward(dv, A->f, A->rstd2, A->x_mid, W->norm2, N, d));
    // the gate is fused into the product on the CPU (profile: forward "MLP w1,w2" includes it)
    OP_TIMED(P, OP_MLP_W12, OP_FWD, 2 * Nf * d * 2 * F,
             o->linear_swiglu_forward(dv, A->g, A->hh, A->f, W->w12, N, d, F, Lp));
    OP_TIMED(P, OP_MLP_W3, OP_FWD, 2 * Nf * F * d, o->linear_forward(dv, A->z, A->g, W->w3, NULL, N, F, d, Lp));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0, o->layerscale_residual_forward(dv, A->x_out, A->x_mid, A->z, W->ls2, 1.0f, N, d));
}

// dres holds d(x_out) on entry and d(x_in) on return.
static void layer_backward(ModelPass *p, int i, int l, int B) {
    const ModelInputSpec *s = &p->host->config.inputs[i];
    const TransformerLayerW *W = &p->w->inputs[i].layers[l];
    TransformerLayerW *G = &p->g->inputs[i].layers[l];
    const LayerActs *A = &p->acts->inputs[i].layers[l];
    ModelActs *S = p->acts;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    OpProfile *P = p->prof;
    int d = s->d, F = s->ffn, Lp = s->padded_length, N = B * Lp, dh = d / s->heads;
    double Nf = N;
    float pd = p->ctx->train ? s->dropout : 0.0f;
    // FFN branch
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0,
             o->layerscale_residual_backward(dv, S->d1, G->ls2, S->dres, A->z, W->ls2, 1.0f, N, d));
    OP_TIMED(P, OP_MLP_W3, OP_BWD, 4 * Nf * F * d,
             o->linear_backward(dv, S->dg, G->w3, NULL, S->d1, A->g, W->w3, N, F, d, false));
    OP_TIMED(P, OP_SWIGLU, OP_BWD, 0, o->swiglu_backward(dv, S->dhh, S->dg, A->hh, N, F));
    OP_TIMED(P, OP_MLP_W12, OP_BWD, 4 * Nf * d * 2 * F,
             o->linear_backward(dv, S->d2, G->w12, NULL, S->dhh, A->f, W->w12, N, d, 2 * F, false));
    OP_TIMED(P, OP_NORM, OP_BWD, 0, o->rmsnorm_backward(dv, S->dres, G->norm2, S->d2, A->x_mid, W->norm2, A->rstd2, N, d));
    // attention branch
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0,
             o->layerscale_residual_backward(dv, S->d1, G->ls1, S->dres, A->y, W->ls1, 1.0f, N, d));
    OP_TIMED(P, OP_DROPOUT, OP_BWD, 0, o->dropout_backward(dv, S->d1, S->d1, A->y_mask, B, (size_t)Lp * d, pd));
    OP_TIMED(P, OP_PROJ, OP_BWD, 4 * Nf * d * d,
             o->linear_backward(dv, S->d2, G->wo, NULL, S->d1, A->att, W->wo, N, d, d, false));
    // 2x the forward's products (dV, dP, dQ, dK); the recomputed scores are not counted
    OP_TIMED(P, OP_ATTENTION, OP_BWD, 8 * Nf * s->win * d,
             o->attention_backward(dv, S->dqkv, S->d2, A->qkv, A->att, A->lse, A->att_mask, B, Lp, s->win, d, s->heads,
                                   s->masked, pd));
    OP_TIMED(P, OP_ROPE, OP_BWD, 0,
             o->rope_backward(dv, S->dqkv, N, 3 * d, s->win, 2 * s->heads, dh, p->rope_cos[i], p->rope_sin[i]));
    OP_TIMED(P, OP_QKV, OP_BWD, 4 * Nf * d * 3 * d,
             o->linear_backward(dv, S->d1, G->wqkv, NULL, S->dqkv, A->a, W->wqkv, N, d, 3 * d, false));
    OP_TIMED(P, OP_NORM, OP_BWD, 0, o->rmsnorm_backward(dv, S->dres, G->norm1, S->d1, A->x_in, W->norm1, A->rstd1, N, d));
}

void pass_input_forward(ModelPass *p, int i, int B) {
    const ModelConfig *mc = &p->host->config;
    const ModelInputSpec *s = &mc->inputs[i];
    const InputW *W = &p->w->inputs[i];
    InputActs *A = &p->acts->inputs[i];
    const ForwardCtx *ctx = p->ctx;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    int L = s->max_length, d = s->d, Lp = s->padded_length;
    size_t D = (size_t)L * d;
    OpProfile *P = p->prof;
    double t0 = op_begin(P);
    o->embedding_forward(dv, A->emb, p->tokens[i], W->embedding, B * L, s->vocab, d);
    const float *e = A->emb;
    if (ctx->train && ctx->mixup) {  // spec §4.2: mix the looked-up embeddings, before the scale
        o->mixup_forward(dv, A->mixed, A->emb, ctx->mixup_perm, ctx->mixup_lambda, B, D);
        e = A->mixed;
    }
    const float *pos = s->position == POS_EMBED ? W->pos : p->pos_table[i];
    o->embed_position_forward(dv, A->xpos, e, pos, B, L, d, sqrtf((float)d));
    op_end(P, OP_EMBED, OP_FWD, t0, 0);
    DropoutKey kp = model_pass_dropout_key(p, site_position(i));
    OP_TIMED(P, OP_DROPOUT, OP_FWD, 0,
             o->dropout_forward(dv, A->xpos, A->pos_mask, A->xpos, B, D, ctx->train ? s->position_dropout : 0.0f, &kp));
    if (Lp != L) OP_TIMED(P, OP_EMBED, OP_FWD, 0, o->window_pad_forward(dv, A->x0, A->xpos, B, L, Lp, d));
    for (int l = 0; l < s->layers; l++) layer_forward(p, i, l, B);
    const float *x = A->layers[s->layers - 1].x_out;
    OP_TIMED(P, OP_POOL, OP_FWD, 0,
             o->pool_forward(dv, p->acts->concat + concat_offset(mc, i), A->argmax, x, B, s->n_windows, s->win, d,
                             s->pool, mc->fusion_in));
}

void pass_input_backward(ModelPass *p, int i, int B) {
    const Model *m = p->host;
    const ModelConfig *mc = &m->config;
    const ModelInputSpec *s = &mc->inputs[i];
    InputW *G = &p->g->inputs[i];
    const InputActs *A = &p->acts->inputs[i];
    ModelActs *S = p->acts;
    const ForwardCtx *ctx = p->ctx;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    int L = s->max_length, d = s->d, Lp = s->padded_length;
    size_t D = (size_t)L * d;
    OpProfile *P = p->prof;
    OP_TIMED(P, OP_POOL, OP_BWD, 0,
             o->pool_backward(dv, S->dres, S->dconcat + concat_offset(mc, i), A->argmax, B, s->n_windows, s->win, d,
                              s->pool, mc->fusion_in));
    for (int l = s->layers - 1; l >= 0; l--) {
        layer_backward(p, i, l, B);
        model_pass_report_range(p, m->unit_layer0[i] + l);
    }
    float *dx = S->dres;  // d(x0)
    if (Lp != L) {
        OP_TIMED(P, OP_EMBED, OP_BWD, 0, o->window_pad_backward(dv, S->dxpos, S->dres, B, L, Lp, d));
        dx = S->dxpos;
    }
    OP_TIMED(P, OP_DROPOUT, OP_BWD, 0,
             o->dropout_backward(dv, dx, dx, A->pos_mask, B, D, ctx->train ? s->position_dropout : 0.0f));
    double t0 = op_begin(P);
    o->embed_position_backward(dv, dx, s->position == POS_EMBED ? G->pos : NULL, dx, B, L, d, sqrtf((float)d));
    if (ctx->train && ctx->mixup) {
        o->mixup_backward(dv, S->dmix, dx, ctx->mixup_perm, ctx->mixup_lambda, B, D);
        dx = S->dmix;
    }
    o->embedding_backward(dv, G->embedding, dx, p->tokens[i], B * L, s->vocab, d);
    op_end(P, OP_EMBED, OP_BWD, t0, 0);
    model_pass_report_range(p, m->unit_embed[i]);
}
