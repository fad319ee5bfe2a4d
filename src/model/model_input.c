// model_input.c: one bytes input module (spec §3.1): embedding lookup, mixup, sqrt(d) scale and
// position, position dropout, front padding into windows, the pre-norm transformer layers run on
// every window at once (rows = batch x windows x tokens), pooling into the fusion input.
#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "model/model.h"
#include "model/model_internal.h"

DropoutKey model_dropout_key(const Model *m, uint32_t site) {
    DropoutKey k = {.seed = m->ctx.seed, .purpose = rng_purpose(RNG_DROPOUT, site), .step = m->ctx.step,
                    .sample_ids = m->acts.sample_ids};
    return k;
}

static size_t concat_offset(const ModelConfig *mc, int i) {
    size_t off = 0;
    for (int j = 0; j < i; j++) off += (size_t)mc->inputs[j].out_features;
    return off;
}

// x_out = x_mid + ls2 * W3(SiLU(W1 f) * W2 f), f = norm2(x_mid); x_mid = x_in + ls1 * drop(Wo attn(norm1(x_in)))
static void layer_forward(Model *m, int i, int l, int B) {
    const ModelInputSpec *s = &m->config.inputs[i];
    const TransformerLayerW *W = &m->w.inputs[i].layers[l];
    LayerActs *A = &m->acts.inputs[i].layers[l];
    OpProfile *P = m->prof;
    int d = s->d, F = s->ffn, Lp = s->padded_length, N = B * Lp, dh = d / s->heads;
    double Nf = N;
    float p = m->ctx.train ? s->dropout : 0.0f;
    OP_TIMED(P, OP_NORM, OP_FWD, 0, rmsnorm_forward(A->a, A->rstd1, A->x_in, W->norm1, N, d, RMSNORM_EPS));
    OP_TIMED(P, OP_QKV, OP_FWD, 2 * Nf * d * 3 * d, linear_forward(A->qkv, A->a, W->wqkv, NULL, N, d, 3 * d, Lp));
    OP_TIMED(P, OP_ROPE, OP_FWD, 0,  // q and k heads
             rope_forward(A->qkv, N, 3 * d, s->win, 2 * s->heads, dh, m->rope_cos[i], m->rope_sin[i]));
    DropoutKey k_att = model_dropout_key(m, site_attention(i, l));
    OP_TIMED(P, OP_ATTENTION, OP_FWD, 4 * Nf * s->win * d,
             window_attention_forward(A->att, A->lse, A->att_mask, A->qkv, B, Lp, s->win, d, s->heads, s->masked, p,
                                      &k_att, m->acts.attn_scratch, m->acts.n_attn_scratch));
    OP_TIMED(P, OP_PROJ, OP_FWD, 2 * Nf * d * d, linear_forward(A->y, A->att, W->wo, NULL, N, d, d, Lp));
    DropoutKey k_out = model_dropout_key(m, site_attention_out(i, l));
    OP_TIMED(P, OP_DROPOUT, OP_FWD, 0, dropout_forward(A->y, A->y_mask, A->y, B, (size_t)Lp * d, p, &k_out));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0, layerscale_residual_forward(A->x_mid, A->x_in, A->y, W->ls1, 1.0f, N, d));
    OP_TIMED(P, OP_NORM, OP_FWD, 0, rmsnorm_forward(A->f, A->rstd2, A->x_mid, W->norm2, N, d, RMSNORM_EPS));
    OP_TIMED(P, OP_MLP_W12, OP_FWD, 2 * Nf * d * 2 * F, linear_forward(A->hh, A->f, W->w12, NULL, N, d, 2 * F, Lp));
    OP_TIMED(P, OP_SWIGLU, OP_FWD, 0, swiglu_forward(A->g, A->hh, N, F));
    OP_TIMED(P, OP_MLP_W3, OP_FWD, 2 * Nf * F * d, linear_forward(A->z, A->g, W->w3, NULL, N, F, d, Lp));
    OP_TIMED(P, OP_RESIDUAL, OP_FWD, 0, layerscale_residual_forward(A->x_out, A->x_mid, A->z, W->ls2, 1.0f, N, d));
}

// dres holds d(x_out) on entry and d(x_in) on return.
static void layer_backward(Model *m, int i, int l, int B) {
    const ModelInputSpec *s = &m->config.inputs[i];
    const TransformerLayerW *W = &m->w.inputs[i].layers[l];
    TransformerLayerW *G = &m->g.inputs[i].layers[l];
    const LayerActs *A = &m->acts.inputs[i].layers[l];
    ModelActs *S = &m->acts;
    OpProfile *P = m->prof;
    int d = s->d, F = s->ffn, Lp = s->padded_length, N = B * Lp, dh = d / s->heads;
    double Nf = N;
    float p = m->ctx.train ? s->dropout : 0.0f;
    // FFN branch
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0, layerscale_residual_backward(S->d1, G->ls2, S->dres, A->z, W->ls2, 1.0f, N, d));
    OP_TIMED(P, OP_MLP_W3, OP_BWD, 4 * Nf * F * d,
             linear_backward(S->dg, G->w3, NULL, S->d1, A->g, W->w3, N, F, d, false, S->lin_scratch));
    OP_TIMED(P, OP_SWIGLU, OP_BWD, 0, swiglu_backward(S->dhh, S->dg, A->hh, N, F));
    OP_TIMED(P, OP_MLP_W12, OP_BWD, 4 * Nf * d * 2 * F,
             linear_backward(S->d2, G->w12, NULL, S->dhh, A->f, W->w12, N, d, 2 * F, false, S->lin_scratch));
    OP_TIMED(P, OP_NORM, OP_BWD, 0, rmsnorm_backward(S->dres, G->norm2, S->d2, A->x_mid, W->norm2, A->rstd2, N, d));
    // attention branch
    OP_TIMED(P, OP_RESIDUAL, OP_BWD, 0, layerscale_residual_backward(S->d1, G->ls1, S->dres, A->y, W->ls1, 1.0f, N, d));
    OP_TIMED(P, OP_DROPOUT, OP_BWD, 0, dropout_backward(S->d1, S->d1, A->y_mask, B, (size_t)Lp * d, p));
    OP_TIMED(P, OP_PROJ, OP_BWD, 4 * Nf * d * d,
             linear_backward(S->d2, G->wo, NULL, S->d1, A->att, W->wo, N, d, d, false, S->lin_scratch));
    // 2x the forward's products (dV, dP, dQ, dK); the recomputed scores are not counted
    OP_TIMED(P, OP_ATTENTION, OP_BWD, 8 * Nf * s->win * d,
             window_attention_backward(S->dqkv, S->d2, A->qkv, A->lse, A->att_mask, B, Lp, s->win, d, s->heads,
                                       s->masked, p, S->attn_scratch, S->n_attn_scratch));
    OP_TIMED(P, OP_ROPE, OP_BWD, 0,
             rope_backward(S->dqkv, N, 3 * d, s->win, 2 * s->heads, dh, m->rope_cos[i], m->rope_sin[i]));
    OP_TIMED(P, OP_QKV, OP_BWD, 4 * Nf * d * 3 * d,
             linear_backward(S->d1, G->wqkv, NULL, S->dqkv, A->a, W->wqkv, N, d, 3 * d, false, S->lin_scratch));
    OP_TIMED(P, OP_NORM, OP_BWD, 0, rmsnorm_backward(S->dres, G->norm1, S->d1, A->x_in, W->norm1, A->rstd1, N, d));
}

void input_module_forward(Model *m, int i, int B) {
    const ModelConfig *mc = &m->config;
    const ModelInputSpec *s = &mc->inputs[i];
    const InputW *W = &m->w.inputs[i];
    InputActs *A = &m->acts.inputs[i];
    const ForwardCtx *ctx = &m->ctx;
    int L = s->max_length, d = s->d, Lp = s->padded_length;
    size_t D = (size_t)L * d;
    OpProfile *P = m->prof;
    double t0 = op_begin(P);
    embedding_forward(A->emb, m->acts.tokens[i], W->embedding, B * L, s->vocab, d);
    const float *e = A->emb;
    if (ctx->train && ctx->mixup) {  // spec §4.2: mix the looked-up embeddings, before the scale
        mixup_forward(A->mixed, A->emb, ctx->mixup_perm, ctx->mixup_lambda, B, D);
        e = A->mixed;
    }
    const float *pos = s->position == POS_EMBED ? W->pos : m->pos_table[i];
    embed_position_forward(A->xpos, e, pos, B, L, d, sqrtf((float)d));
    op_end(P, OP_EMBED, OP_FWD, t0, 0);
    DropoutKey kp = model_dropout_key(m, site_position(i));
    OP_TIMED(P, OP_DROPOUT, OP_FWD, 0,
             dropout_forward(A->xpos, A->pos_mask, A->xpos, B, D, ctx->train ? s->position_dropout : 0.0f, &kp));
    if (Lp != L) OP_TIMED(P, OP_EMBED, OP_FWD, 0, window_pad_forward(A->x0, A->xpos, B, L, Lp, d));
    for (int l = 0; l < s->layers; l++) layer_forward(m, i, l, B);
    const float *x = A->layers[s->layers - 1].x_out;
    OP_TIMED(P, OP_POOL, OP_FWD, 0,
             pool_forward(m->acts.concat + concat_offset(mc, i), A->argmax, x, B, s->n_windows, s->win, d, s->pool,
                          mc->fusion_in));
}

void input_module_backward(Model *m, int i, int B) {
    const ModelConfig *mc = &m->config;
    const ModelInputSpec *s = &mc->inputs[i];
    InputW *G = &m->g.inputs[i];
    const InputActs *A = &m->acts.inputs[i];
    ModelActs *S = &m->acts;
    const ForwardCtx *ctx = &m->ctx;
    int L = s->max_length, d = s->d, Lp = s->padded_length;
    size_t D = (size_t)L * d;
    OpProfile *P = m->prof;
    OP_TIMED(P, OP_POOL, OP_BWD, 0,
             pool_backward(S->dres, S->dconcat + concat_offset(mc, i), A->argmax, B, s->n_windows, s->win, d, s->pool,
                           mc->fusion_in));
    for (int l = s->layers - 1; l >= 0; l--) {
        layer_backward(m, i, l, B);
        model_report_range(m, m->unit_layer0[i] + l);
    }
    float *dx = S->dres;  // d(x0)
    if (Lp != L) {
        OP_TIMED(P, OP_EMBED, OP_BWD, 0, window_pad_backward(S->dxpos, S->dres, B, L, Lp, d));
        dx = S->dxpos;
    }
    OP_TIMED(P, OP_DROPOUT, OP_BWD, 0, dropout_backward(dx, dx, A->pos_mask, B, D, ctx->train ? s->position_dropout : 0.0f));
    double t0 = op_begin(P);
    embed_position_backward(dx, s->position == POS_EMBED ? G->pos : NULL, dx, B, L, d, sqrtf((float)d));
    if (ctx->train && ctx->mixup) {
        mixup_backward(S->dmix, dx, ctx->mixup_perm, ctx->mixup_lambda, B, D);
        dx = S->dmix;
    }
    embedding_backward(G->embedding, dx, m->acts.tokens[i], B * L, s->vocab, d);
    op_end(P, OP_EMBED, OP_BWD, t0, 0);
    model_report_range(m, m->unit_embed[i]);
}
