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

// Where a transformer layer runs: the local layers over every window of the bytes (T = Lp rows
// per sample in windows of W, RoPE), the global layers over the window summaries (T = W = C).
typedef struct {
    int d, F, heads, T, W;
    bool causal;
    float p_drop;                          // 0 outside training
    const float *rope_cos, *rope_sin;      // NULL: no rotary embedding
    uint32_t site_att, site_out;           // dropout streams
} LayerGeom;

static LayerGeom local_geom(const ModelPass *p, int i, int l) {
    const ModelInputSpec *s = &p->host->config.inputs[i];
    LayerGeom g = {.d = s->d, .F = s->ffn, .heads = s->heads, .T = s->padded_length, .W = s->win, .causal = s->masked,
                   .p_drop = p->ctx->train ? s->dropout : 0.0f, .rope_cos = p->rope_cos[i], .rope_sin = p->rope_sin[i],
                   .site_att = site_attention(i, l), .site_out = site_attention_out(i, l)};
    return g;
}

static LayerGeom global_geom(const ModelPass *p, int i, int l) {
    const ModelInputSpec *s = &p->host->config.inputs[i];
    LayerGeom g = {.d = s->global_d, .F = s->global_ffn, .heads = s->global_heads, .T = s->n_windows,
                   .W = s->n_windows, .causal = false, .p_drop = p->ctx->train ? s->dropout : 0.0f,
                   .site_att = site_global_attention(i, l), .site_out = site_global_attention_out(i, l)};
    return g;
}

// x_out = x_mid + ls2 * W3(SiLU(W1 f) * W2 f), f = norm2(x_mid); x_mid = x_in + ls1 * drop(Wo attn(norm1(x_in)))
static void layer_forward(ModelPass *p, const LayerGeom *G, const TransformerLayerW *W, LayerActs *A, int B) {
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    OpProfile *P = p->prof;
    int d = G->d, F = G->F, T = G->T, N = B * T, dh = d / G->heads;
    double Nf = N;
    float pd = G->p_drop;
    OP_TIMED(P, OP_NORM, OP_FWD, 0, o->rmsnorm_forward(dv, A->a, A->rstd1, A->x_in, W->norm1, N, d));
    OP_TIMED(P, OP_QKV, OP_FWD, 2 * Nf * d * 3 * d, o->linear_forward(dv, A->qkv, A->a, W->wqkv, NULL, N, d, 3 * d, T));
    if (G->rope_cos)
        OP_TIMED(P, OP_ROPE, OP_FWD, 0,  // q and k heads
                 o->rope_forward(dv, A->qkv, N, 3 * d, G->W, 2 * G->heads, dh, G->rope_cos, G->rope_sin));
    DropoutKey k_att = model_pass_dropout_key(p, G->site_att);
    OP_TIMED(P, OP_ATTENTION, OP_FWD, 4 * Nf * G->W * d,
             o->attention_forward(dv, A->att, A->lse, A->att_mask, A->qkv, B, T, G->W, d, G->heads, G->causal, pd,
                                  &k_att));
    OP_TIMED(P, OP_PROJ, OP_FWD, 2 * Nf * d * d, o->linear_forward(dv, A->y, A->att, W->wo, NULL, N, d, d, T));
    DropoutKey k_out = model_pass_dropout_key(p, G->site_out);
    OP_TIMED(P, OP_DROPOUT, OP_FWD, 0, o->dropout_forward(dv, A->y, A->y_mask, A->y, B, (size_t)T * d, pd, &k_out));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0, o->layerscale_residual_forward(dv, A->x_mid, A->x_in, A->y, W->ls1, 1.0f, N, d));
    OP_TIMED(P, OP_NORM, OP_FWD, 0, o->rmsnorm_forward(dv, A->f, A->rstd2, A->x_mid, W->norm2, N, d));
    // the gate is fused into the product on the CPU (profile: forward "MLP w1,w2" includes it)
    OP_TIMED(P, OP_MLP_W12, OP_FWD, 2 * Nf * d * 2 * F,
             o->linear_swiglu_forward(dv, A->g, A->hh, !p->ctx->inference_only, A->f, W->w12, N, d, F, T));
    OP_TIMED(P, OP_MLP_W3, OP_FWD, 2 * Nf * F * d, o->linear_forward(dv, A->z, A->g, W->w3, NULL, N, F, d, T));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0, o->layerscale_residual_forward(dv, A->x_out, A->x_mid, A->z, W->ls2, 1.0f, N, d));
}

// dres holds d(x_out) on entry and d(x_in) on return.
static void layer_backward(ModelPass *p, const LayerGeom *Gm, const TransformerLayerW *W, TransformerLayerW *G,
                           const LayerActs *A, float *dres, int B) {
    ModelActs *S = p->acts;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    OpProfile *P = p->prof;
    int d = Gm->d, F = Gm->F, T = Gm->T, N = B * T, dh = d / Gm->heads;
    double Nf = N;
    float pd = Gm->p_drop;
    // FFN branch
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0,
             o->layerscale_residual_backward(dv, S->d1, G->ls2, dres, A->z, W->ls2, 1.0f, N, d));
    // w3's input gradient goes straight into the gate's backward where the CPU fuses them (the
    // profile's "MLP w3" backward then includes the gate, and "SwiGLU gate" stays at zero)
    OP_TIMED(P, OP_MLP_W3, OP_BWD, 4 * Nf * F * d,
             o->linear_swiglu_backward(dv, S->dhh, G->w3, S->d1, A->g, A->hh, W->w3, N, F, d, S->dg));
    OP_TIMED(P, OP_MLP_W12, OP_BWD, 4 * Nf * d * 2 * F,
             o->linear_backward(dv, S->d2, G->w12, NULL, S->dhh, A->f, W->w12, N, d, 2 * F, false));
    OP_TIMED(P, OP_NORM, OP_BWD, 0, o->rmsnorm_backward(dv, dres, G->norm2, S->d2, A->x_mid, W->norm2, A->rstd2, N, d));
    // attention branch
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0,
             o->layerscale_residual_backward(dv, S->d1, G->ls1, dres, A->y, W->ls1, 1.0f, N, d));
    OP_TIMED(P, OP_DROPOUT, OP_BWD, 0, o->dropout_backward(dv, S->d1, S->d1, A->y_mask, B, (size_t)T * d, pd));
    OP_TIMED(P, OP_PROJ, OP_BWD, 4 * Nf * d * d,
             o->linear_backward(dv, S->d2, G->wo, NULL, S->d1, A->att, W->wo, N, d, d, false));
    // 2x the forward's products (dV, dP, dQ, dK); the recomputed scores are not counted
    OP_TIMED(P, OP_ATTENTION, OP_BWD, 8 * Nf * Gm->W * d,
             o->attention_backward(dv, S->dqkv, S->d2, A->qkv, A->att, A->lse, A->att_mask, B, T, Gm->W, d, Gm->heads,
                                   Gm->causal, pd));
    if (Gm->rope_cos)
        OP_TIMED(P, OP_ROPE, OP_BWD, 0,
                 o->rope_backward(dv, S->dqkv, N, 3 * d, Gm->W, 2 * Gm->heads, dh, Gm->rope_cos, Gm->rope_sin));
    OP_TIMED(P, OP_QKV, OP_BWD, 4 * Nf * d * 3 * d,
             o->linear_backward(dv, S->d1, G->wqkv, NULL, S->dqkv, A->a, W->wqkv, N, d, 3 * d, false));
    OP_TIMED(P, OP_NORM, OP_BWD, 0, o->rmsnorm_backward(dv, dres, G->norm1, S->d1, A->x_in, W->norm1, A->rstd1, N, d));
}

// The global stage (model.h) on the local output x (B, Lp, d); returns what the pooling reads.
static const float *global_forward(ModelPass *p, int i, const float *x, int B) {
    const ModelInputSpec *s = &p->host->config.inputs[i];
    const InputW *W = &p->w->inputs[i];
    InputActs *A = &p->acts->inputs[i];
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    OpProfile *P = p->prof;
    int C = s->n_windows, d = s->d, Dg = s->global_d, NG = B * C;
    OP_TIMED(P, OP_POOL, OP_FWD, 0, o->pool_forward(dv, A->gsum, NULL, x, B, C, s->win, d, POOL_AVG, C * d));
    OP_TIMED(P, OP_PROJ, OP_FWD, 2.0 * NG * d * Dg, o->linear_forward(dv, A->gin, A->gsum, W->g_in, NULL, NG, d, Dg, C));
    OP_TIMED(P, OP_EMBED, OP_FWD, 0, o->embed_position_forward(dv, A->gx0, A->gin, W->g_pos, B, C, Dg, 1.0f));
    for (int l = 0; l < s->global_layers; l++) {
        LayerGeom g = global_geom(p, i, l);
        layer_forward(p, &g, &W->glayers[l], &A->glayers[l], B);
    }
    const float *gx = A->glayers[s->global_layers - 1].x_out;
    OP_TIMED(P, OP_PROJ, OP_FWD, 2.0 * NG * Dg * d, o->linear_forward(dv, A->gup, gx, W->g_out, NULL, NG, Dg, d, C));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0,
             o->window_broadcast_add_forward(dv, A->xg, x, A->gup, W->g_ls, NG, s->win, d));
    return A->xg;
}

// From d(xg) in acts.dres to d(x) in acts.dres, reporting the stage's gradient ranges.
static void global_backward(ModelPass *p, int i, int B) {
    const Model *m = p->host;
    const ModelInputSpec *s = &m->config.inputs[i];
    const InputW *W = &p->w->inputs[i];
    InputW *G = &p->g->inputs[i];
    const InputActs *A = &p->acts->inputs[i];
    ModelActs *S = p->acts;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    OpProfile *P = p->prof;
    int C = s->n_windows, d = s->d, Dg = s->global_d, NG = B * C;
    // out = x + ls (.) up per window: d(up) = ls (.) window sum of dres, d(x) = dres
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0, o->window_sum(dv, S->gdup, S->dres, NG, s->win, d));
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0,
             o->layerscale_residual_backward(dv, S->gdup, G->g_ls, S->gdup, A->gup, W->g_ls, 1.0f, NG, d));
    const float *gx = A->glayers[s->global_layers - 1].x_out;
    OP_TIMED(P, OP_PROJ, OP_BWD, 4.0 * NG * Dg * d,
             o->linear_backward(dv, S->gdres, G->g_out, NULL, S->gdup, gx, W->g_out, NG, Dg, d, false));
    model_pass_report_range(p, m->unit_gout[i]);
    for (int l = s->global_layers - 1; l >= 0; l--) {
        LayerGeom g = global_geom(p, i, l);
        layer_backward(p, &g, &W->glayers[l], &G->glayers[l], &A->glayers[l], S->gdres, B);
        model_pass_report_range(p, m->unit_glayer0[i] + l);
    }
    OP_TIMED(P, OP_EMBED, OP_BWD, 0, o->embed_position_backward(dv, S->gdres, G->g_pos, S->gdres, B, C, Dg, 1.0f));
    OP_TIMED(P, OP_PROJ, OP_BWD, 4.0 * NG * d * Dg,
             o->linear_backward(dv, S->gdsum, G->g_in, NULL, S->gdres, A->gsum, W->g_in, NG, d, Dg, false));
    model_pass_report_range(p, m->unit_gin[i]);
    // the window means: every token of window c gets d(mean_c) / W
    OP_TIMED(P, OP_POOL, OP_BWD, 0, o->pool_backward(dv, S->d1, S->gdsum, NULL, B, C, s->win, d, POOL_AVG, C * d));
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0, o->add(dv, S->dres, S->d1, (size_t)NG * s->win * d));
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
    for (int l = 0; l < s->layers; l++) {
        LayerGeom g = local_geom(p, i, l);
        layer_forward(p, &g, &W->layers[l], &A->layers[l], B);
    }
    const float *x = A->layers[s->layers - 1].x_out;
    if (s->global_layers > 0) x = global_forward(p, i, x, B);
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
    if (s->global_layers > 0) global_backward(p, i, B);
    for (int l = s->layers - 1; l >= 0; l--) {
        LayerGeom g = local_geom(p, i, l);
        layer_backward(p, &g, &p->w->inputs[i].layers[l], &G->layers[l], &A->layers[l], S->dres, B);
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
