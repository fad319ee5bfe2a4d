// model_mlp.c: EIR's MLPResidualBlock (spec §3.2) and what is built from it: the fusion stack
// and one head per target (§3.3: blocks, RMSNorm, GELU, dropout, Linear with bias).
//
// Block: out = identity + sd * ls (.) fc_2(drop(GELU(fc_1(RMSNorm(x))))), identity = x, or
// Linear-with-bias of the un-normalised x when in != out; sd = batch-mode stochastic depth.
#include <string.h>

#include "common/rng.h"
#include "model/model.h"
#include "model/model_internal.h"

// Matrix-product FLOPs of one block's forward over B rows as run (a dropped branch does none).
static double mlp_block_flops(const MlpBlockW *W, const MlpActs *A, int B) {
    double f = W->ds_w ? 2.0 * B * A->in * A->out_dim : 0.0;
    if (A->sd_scale != 0.0f) f += 2.0 * B * A->in * A->out_dim + 2.0 * B * A->out_dim * A->out_dim;
    return f;
}

static void mlp_block_forward(Model *m, const MlpBlockW *W, MlpActs *A, int B, float rb_do, float sd_p, uint32_t site) {
    const ForwardCtx *ctx = &m->ctx;
    int in = A->in, out = A->out_dim;
    A->sd_scale = ctx->train ? stochastic_depth_scale(sd_p, ctx->seed, rng_purpose(RNG_STOCH_DEPTH, site), ctx->step) : 1.0f;
    if (W->ds_w)
        linear_forward(A->out, A->x_in, W->ds_w, W->ds_b, B, in, out, 1);
    else
        memcpy(A->out, A->x_in, (size_t)B * out * sizeof(float));
    if (A->sd_scale == 0.0f) return;  // branch dropped for the whole batch: out = identity
    rmsnorm_forward(A->h, A->rstd, A->x_in, W->norm, B, in, RMSNORM_EPS);
    linear_forward(A->u, A->h, W->fc1, NULL, B, in, out, 1);
    gelu_forward(A->v, A->u, (size_t)B * out);
    DropoutKey k = model_dropout_key(m, site);
    dropout_forward(A->v, A->mask, A->v, B, (size_t)out, ctx->train ? rb_do : 0.0f, &k);
    linear_forward(A->w, A->v, W->fc2, NULL, B, out, out, 1);
    layerscale_residual_forward(A->out, A->out, A->w, W->ls, A->sd_scale, B, out);
}

// dx = (or += when accumulate) d(block input). t1, t2: B x out scratch, t3: B x in scratch.
static void mlp_block_backward(Model *m, const MlpBlockW *W, MlpBlockW *G, const MlpActs *A, const float *dout, float *dx,
                               bool accumulate, int B, float rb_do, float *t1, float *t2, float *t3) {
    int in = A->in, out = A->out_dim;
    if (W->ds_w) {
        linear_backward(dx, G->ds_w, G->ds_b, dout, A->x_in, W->ds_w, B, in, out, accumulate, m->acts.lin_scratch);
    } else if (accumulate) {
        size_t n = (size_t)B * out;
        for (size_t k = 0; k < n; k++) dx[k] += dout[k];
    } else {
        memcpy(dx, dout, (size_t)B * out * sizeof(float));
    }
    if (A->sd_scale == 0.0f) return;
    layerscale_residual_backward(t1, G->ls, dout, A->w, W->ls, A->sd_scale, B, out);
    linear_backward(t2, G->fc2, NULL, t1, A->v, W->fc2, B, out, out, false, m->acts.lin_scratch);
    dropout_backward(t2, t2, A->mask, B, (size_t)out, m->ctx.train ? rb_do : 0.0f);
    gelu_backward(t2, t2, A->u, (size_t)B * out);
    linear_backward(t3, G->fc1, NULL, t2, A->h, W->fc1, B, in, out, false, m->acts.lin_scratch);
    rmsnorm_backward(dx, G->norm, t3, A->x_in, W->norm, A->rstd, B, in);
}

void fusion_forward(Model *m, int B) {
    const ModelConfig *mc = &m->config;
    for (int k = 0; k < mc->fusion_layers; k++) {
        double t0 = op_begin(m->prof);
        mlp_block_forward(m, &m->w.fusion[k], &m->acts.fusion[k], B, mc->fusion_rb_do, mc->fusion_sd_p,
                          site_fusion_block(k));
        op_end(m->prof, OP_FUSION, OP_FWD, t0, mlp_block_flops(&m->w.fusion[k], &m->acts.fusion[k], B));
    }
}

void heads_forward(Model *m, int B) {
    const ModelConfig *mc = &m->config;
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        const HeadW *W = &m->w.heads[t];
        HeadActs *H = &m->acts.heads[t];
        double t0 = op_begin(m->prof), flops = 2.0 * B * s->dim * s->n_classes;
        for (int k = 0; k < s->layers; k++) {
            mlp_block_forward(m, &W->blocks[k], &H->blocks[k], B, s->rb_do, s->sd_p, site_head_block(t, k));
            flops += mlp_block_flops(&W->blocks[k], &H->blocks[k], B);
        }
        const float *x = H->blocks[s->layers - 1].out;
        rmsnorm_forward(H->hn, H->rstd, x, W->norm_final, B, s->dim, RMSNORM_EPS);
        gelu_forward(H->ga, H->hn, (size_t)B * s->dim);
        DropoutKey k = model_dropout_key(m, site_head_final(t));
        dropout_forward(H->ga, H->mask, H->ga, B, (size_t)s->dim, m->ctx.train ? s->fc_do : 0.0f, &k);
        linear_forward(H->logits, H->ga, W->final_w, W->final_b, B, s->dim, s->n_classes, 1);
        op_end(m->prof, OP_HEAD, OP_FWD, t0, flops);
    }
}

void heads_fusion_backward(Model *m, int B) {
    const ModelConfig *mc = &m->config;
    ModelActs *S = &m->acts;
    float *ga = S->dm1, *gb = S->dm2, *t1 = S->dm3, *t2 = S->dm4, *t3 = S->dm5;
    memset(S->dfusion, 0, (size_t)B * mc->fusion_dim * sizeof(float));  // every head adds into it
    for (int t = mc->n_targets - 1; t >= 0; t--) {
        const ModelTargetSpec *s = &mc->targets[t];
        const HeadW *W = &m->w.heads[t];
        HeadW *G = &m->g.heads[t];
        const HeadActs *H = &S->heads[t];
        const float *x = H->blocks[s->layers - 1].out;
        double t0 = op_begin(m->prof), flops = 4.0 * B * s->dim * s->n_classes;
        linear_backward(t1, G->final_w, G->final_b, H->dlogits, H->ga, W->final_w, B, s->dim, s->n_classes, false,
                        S->lin_scratch);
        dropout_backward(t1, t1, H->mask, B, (size_t)s->dim, m->ctx.train ? s->fc_do : 0.0f);
        gelu_backward(t1, t1, H->hn, (size_t)B * s->dim);
        memset(ga, 0, (size_t)B * s->dim * sizeof(float));
        rmsnorm_backward(ga, G->norm_final, t1, x, W->norm_final, H->rstd, B, s->dim);
        model_report_range(m, m->unit_head0[t] + s->layers);
        for (int k = s->layers - 1; k >= 0; k--) {
            float *dx = k == 0 ? S->dfusion : gb;
            mlp_block_backward(m, &W->blocks[k], &G->blocks[k], &H->blocks[k], ga, dx, k == 0, B, s->rb_do, t1, t2, t3);
            flops += 2 * mlp_block_flops(&W->blocks[k], &H->blocks[k], B);
            model_report_range(m, m->unit_head0[t] + k);
            float *tmp = ga;
            ga = gb;
            gb = tmp;
        }
        op_end(m->prof, OP_HEAD, OP_BWD, t0, flops);
    }
    const float *dout = S->dfusion;
    for (int k = mc->fusion_layers - 1; k >= 0; k--) {
        float *dx = k == 0 ? S->dconcat : (dout == ga ? gb : ga);
        double t0 = op_begin(m->prof);
        mlp_block_backward(m, &m->w.fusion[k], &m->g.fusion[k], &S->fusion[k], dout, dx, false, B, mc->fusion_rb_do, t1, t2,
                           t3);
        op_end(m->prof, OP_FUSION, OP_BWD, t0, 2 * mlp_block_flops(&m->w.fusion[k], &S->fusion[k], B));
        model_report_range(m, m->unit_fusion0 + k);
        dout = dx;
    }
}
