// model_mlp.c: EIR's MLPResidualBlock (spec §3.2) and what is built from it: the fusion stack
// and one head per target (§3.3: blocks, RMSNorm, GELU, dropout, Linear with bias). Written once
// over the backend's ops (model_pass.h).
//
// Block: out = identity + sd * ls (.) fc_2(drop(GELU(fc_1(RMSNorm(x))))), identity = x, or
// Linear-with-bias of the un-normalised x when in != out; sd = batch-mode stochastic depth.
#include "common/rng.h"
#include "model/model_internal.h"
#include "model/model_pass.h"

// Matrix-product FLOPs of one block's forward over B rows as run (a dropped branch does none).
static double mlp_block_flops(const MlpBlockW *W, const MlpActs *A, int B) {
    double f = W->ds_w ? 2.0 * B * A->in * A->out_dim : 0.0;
    if (A->sd_scale != 0.0f) f += 2.0 * B * A->in * A->out_dim + 2.0 * B * A->out_dim * A->out_dim;
    return f;
}

static void mlp_block_forward(ModelPass *p, const MlpBlockW *W, MlpActs *A, int B, float rb_do, float sd_p,
                              uint32_t site) {
    const ForwardCtx *ctx = p->ctx;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    int in = A->in, out = A->out_dim;
    A->sd_scale = ctx->train ? stochastic_depth_scale(sd_p, ctx->seed, rng_purpose(RNG_STOCH_DEPTH, site), ctx->step) : 1.0f;
    if (W->ds_w)
        o->linear_forward(dv, A->out, A->x_in, W->ds_w, W->ds_b, B, in, out, 1);
    else
        o->copy(dv, A->out, A->x_in, (size_t)B * out);
    if (A->sd_scale == 0.0f) return;  // branch dropped for the whole batch: out = identity
    o->rmsnorm_forward(dv, A->h, A->rstd, A->x_in, W->norm, B, in);
    o->linear_forward(dv, A->u, A->h, W->fc1, NULL, B, in, out, 1);
    o->gelu_forward(dv, A->v, A->u, (size_t)B * out);
    DropoutKey k = model_pass_dropout_key(p, site);
    o->dropout_forward(dv, A->v, A->mask, A->v, B, (size_t)out, ctx->train ? rb_do : 0.0f, &k);
    o->linear_forward(dv, A->w, A->v, W->fc2, NULL, B, out, out, 1);
    o->layerscale_residual_forward(dv, A->out, A->out, A->w, W->ls, A->sd_scale, B, out);
}

// dx = (or += when accumulate) d(block input). t1, t2: B x out scratch, t3: B x in scratch.
static void mlp_block_backward(ModelPass *p, const MlpBlockW *W, MlpBlockW *G, const MlpActs *A, const float *dout,
                               float *dx, bool accumulate, int B, float rb_do, float *t1, float *t2, float *t3) {
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    int in = A->in, out = A->out_dim;
    if (W->ds_w)
        o->linear_backward(dv, dx, G->ds_w, G->ds_b, dout, A->x_in, W->ds_w, B, in, out, accumulate);
    else if (accumulate)
        o->add(dv, dx, dout, (size_t)B * out);
    else
        o->copy(dv, dx, dout, (size_t)B * out);
    if (A->sd_scale == 0.0f) return;
    o->layerscale_residual_backward(dv, t1, G->ls, dout, A->w, W->ls, A->sd_scale, B, out);
    o->linear_backward(dv, t2, G->fc2, NULL, t1, A->v, W->fc2, B, out, out, false);
    o->dropout_backward(dv, t2, t2, A->mask, B, (size_t)out, p->ctx->train ? rb_do : 0.0f);
    o->gelu_backward(dv, t2, t2, A->u, (size_t)B * out);
    o->linear_backward(dv, t3, G->fc1, NULL, t2, A->h, W->fc1, B, in, out, false);
    o->rmsnorm_backward(dv, dx, G->norm, t3, A->x_in, W->norm, A->rstd, B, in);
}

void pass_fusion_forward(ModelPass *p, int B) {
    const ModelConfig *mc = &p->host->config;
    for (int k = 0; k < mc->fusion_layers; k++) {
        double t0 = op_begin(p->prof);
        mlp_block_forward(p, &p->w->fusion[k], &p->acts->fusion[k], B, mc->fusion_rb_do, mc->fusion_sd_p,
                          site_fusion_block(k));
        op_end(p->prof, OP_FUSION, OP_FWD, t0, mlp_block_flops(&p->w->fusion[k], &p->acts->fusion[k], B));
    }
}

void pass_heads_forward(ModelPass *p, int B) {
    const ModelConfig *mc = &p->host->config;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        const HeadW *W = &p->w->heads[t];
        HeadActs *H = &p->acts->heads[t];
        double t0 = op_begin(p->prof), flops = 2.0 * B * s->dim * s->n_classes;
        for (int k = 0; k < s->layers; k++) {
            mlp_block_forward(p, &W->blocks[k], &H->blocks[k], B, s->rb_do, s->sd_p, site_head_block(t, k));
            flops += mlp_block_flops(&W->blocks[k], &H->blocks[k], B);
        }
        const float *x = H->blocks[s->layers - 1].out;
        o->rmsnorm_forward(dv, H->hn, H->rstd, x, W->norm_final, B, s->dim);
        o->gelu_forward(dv, H->ga, H->hn, (size_t)B * s->dim);
        DropoutKey k = model_pass_dropout_key(p, site_head_final(t));
        o->dropout_forward(dv, H->ga, H->mask, H->ga, B, (size_t)s->dim, p->ctx->train ? s->fc_do : 0.0f, &k);
        o->linear_forward(dv, H->logits, H->ga, W->final_w, W->final_b, B, s->dim, s->n_classes, 1);
        op_end(p->prof, OP_HEAD, OP_FWD, t0, flops);
    }
}

void pass_heads_fusion_backward(ModelPass *p, int B) {
    const Model *m = p->host;
    const ModelConfig *mc = &m->config;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    ModelActs *S = p->acts;
    float *ga = S->dm1, *gb = S->dm2, *t1 = S->dm3, *t2 = S->dm4, *t3 = S->dm5;
    o->zero(dv, S->dfusion, (size_t)B * mc->fusion_dim * sizeof(float));  // every head adds into it
    for (int t = mc->n_targets - 1; t >= 0; t--) {
        const ModelTargetSpec *s = &mc->targets[t];
        const HeadW *W = &p->w->heads[t];
        HeadW *G = &p->g->heads[t];
        const HeadActs *H = &S->heads[t];
        const float *x = H->blocks[s->layers - 1].out;
        double t0 = op_begin(p->prof), flops = 4.0 * B * s->dim * s->n_classes;
        o->linear_backward(dv, t1, G->final_w, G->final_b, H->dlogits, H->ga, W->final_w, B, s->dim, s->n_classes,
                           false);
        o->dropout_backward(dv, t1, t1, H->mask, B, (size_t)s->dim, p->ctx->train ? s->fc_do : 0.0f);
        o->gelu_backward(dv, t1, t1, H->hn, (size_t)B * s->dim);
        o->zero(dv, ga, (size_t)B * s->dim * sizeof(float));  // rmsnorm_backward adds
        o->rmsnorm_backward(dv, ga, G->norm_final, t1, x, W->norm_final, H->rstd, B, s->dim);
        model_pass_report_range(p, m->unit_head0[t] + s->layers);
        for (int k = s->layers - 1; k >= 0; k--) {
            float *dx = k == 0 ? S->dfusion : gb;
            mlp_block_backward(p, &W->blocks[k], &G->blocks[k], &H->blocks[k], ga, dx, k == 0, B, s->rb_do, t1, t2, t3);
            flops += 2 * mlp_block_flops(&W->blocks[k], &H->blocks[k], B);
            model_pass_report_range(p, m->unit_head0[t] + k);
            float *tmp = ga;
            ga = gb;
            gb = tmp;
        }
        op_end(p->prof, OP_HEAD, OP_BWD, t0, flops);
    }
    const float *dout = S->dfusion;
    for (int k = mc->fusion_layers - 1; k >= 0; k--) {
        float *dx = k == 0 ? S->dconcat : (dout == ga ? gb : ga);
        double t0 = op_begin(p->prof);
        mlp_block_backward(p, &p->w->fusion[k], &p->g->fusion[k], &S->fusion[k], dout, dx, false, B, mc->fusion_rb_do,
                           t1, t2, t3);
        op_end(p->prof, OP_FUSION, OP_BWD, t0, 2 * mlp_block_flops(&p->w->fusion[k], &S->fusion[k], B));
        model_pass_report_range(p, m->unit_fusion0 + k);
        dout = dx;
    }
}
