// model.c: the CPU model's entry points: forward, loss and backward run the passes of
// model_pass.h over the CPU ops (model_ops_cpu.c) and the host buffers.
#include <math.h>
#include <string.h>

#include "common/util.h"
#include "model/model.h"
#include "model/model_internal.h"
#include "model/model_pass.h"

// The passes over the host buffers; built per call (a few pointers, no allocation).
static ModelPass cpu_pass(Model *m, double *sums) {
    ModelPass p = {.ops = &model_ops_cpu, .dev = m, .host = m, .w = &m->w, .g = &m->g, .acts = &m->acts,
                   .ctx = &m->ctx, .rope_cos = m->rope_cos, .rope_sin = m->rope_sin, .pos_table = m->pos_table,
                   .tokens = m->acts.tokens, .prof = m->prof, .sums = sums, .host_sums = sums};
    return p;
}

void model_forward(Model *m, const int32_t *const *tokens, int B, const ForwardCtx *ctx) {
    const ModelConfig *mc = &m->config;
    if (!m->acts_memory) eir_die("model_forward: call model_alloc_activations first");
    if (B < 1 || B > m->max_batch) eir_die("model_forward: batch %d outside 1..%d", B, m->max_batch);
    ModelActs *A = &m->acts;
    m->ctx = *ctx;
    for (int b = 0; b < B; b++) A->sample_ids[b] = ctx->sample_ids ? ctx->sample_ids[b] : ctx->sample_base + (uint64_t)b;
    m->ctx.sample_ids = A->sample_ids;
    m->ctx.mixup = ctx->train && ctx->mixup;
    if (m->ctx.mixup) {
        if (!ctx->mixup_perm) eir_die("model_forward: mixup without a permutation");
        for (int b = 0; b < B; b++) {
            if (ctx->mixup_perm[b] < 0 || ctx->mixup_perm[b] >= B)
                eir_die("model_forward: mixup_perm[%d] = %d outside [0, %d)", b, ctx->mixup_perm[b], B);
            A->perm[b] = ctx->mixup_perm[b];
        }
        m->ctx.mixup_perm = A->perm;
    } else {
        m->ctx.mixup_perm = NULL;
        m->ctx.mixup_lambda = 1.0f;
    }
    for (int i = 0; i < mc->n_inputs; i++)
        memcpy(A->tokens[i], tokens[i], (size_t)B * mc->inputs[i].max_length * sizeof(int32_t));
    ModelPass p = cpu_pass(m, NULL);
    model_pass_forward(&p, B);
    m->batch = B;
    m->have_forward = true;
    m->have_loss = false;
}

float *model_logits(Model *m, int t) { return m->acts.heads[t].logits; }

double model_loss(Model *m, const TargetLabels *labels, const double *denominators, float *target_losses) {
    if (!m->have_forward) eir_die("model_loss: no forward pass");
    double t0 = op_begin(m->prof);
    double sums[4 * MODEL_MAX_TARGETS];
    ModelPass p = cpu_pass(m, sums);
    // on the CPU the labels and the permutation are where the loss op reads them
    model_pass_loss_queue(&p, m->batch, labels, labels, m->ctx.mixup_perm, denominators);
    double loss = model_pass_loss_total(&p, target_losses);
    m->have_loss = true;
    op_end(m->prof, OP_LOSS, OP_FWD, t0, 0);
    return loss;
}

void model_backward(Model *m) {
    if (!m->have_forward) eir_die("model_backward: no forward pass");
    if (m->ctx.inference_only) eir_die("model_backward: the last forward pass was inference-only");
    ModelPass p = cpu_pass(m, NULL);
    model_pass_backward(&p, m->batch);
}
