// model.c: one training step's model passes: forward over all inputs -> fusion -> heads, the
// loss that seeds the backward pass (spec §4.1-4.2), and the backward pass in reverse buffer order.
#include <math.h>
#include <string.h>

#include "common/util.h"
#include "model/model.h"
#include "model/model_internal.h"

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
    for (int i = 0; i < mc->n_inputs; i++) input_module_forward(m, i, B);
    fusion_forward(m, B);
    heads_forward(m, B);
    m->batch = B;
    m->have_forward = true;
    m->have_loss = false;
}

float *model_logits(Model *m, int t) { return m->acts.heads[t].logits; }

double model_loss(Model *m, const TargetLabels *labels, const double *denominators, float *target_losses) {
    const ModelConfig *mc = &m->config;
    if (!m->have_forward) eir_die("model_loss: no forward pass");
    int B = m->batch, T = mc->n_targets;
    double t0 = op_begin(m->prof);
    bool mix = m->ctx.mixup;
    float lam = mix ? m->ctx.mixup_lambda : 1.0f;
    const int32_t *perm = m->ctx.mixup_perm;
    double total = 0.0;
    for (int t = 0; t < T; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        HeadActs *H = &m->acts.heads[t];
        int K = s->n_classes, n1 = 0, n2 = 0;
        memset(H->dlogits, 0, (size_t)B * K * sizeof(float));
        double s1, s2 = 0.0, denom;
        // first the sums and counts, then (knowing the denominator) the gradient
        if (s->continuous) {
            if (!labels[t].value) eir_die("model_loss: target %s has no continuous labels", s->column);
            s1 = mse_forward_backward(NULL, H->logits, labels[t].value, NULL, B, 0.0f, &n1);
            if (mix) s2 = mse_forward_backward(NULL, H->logits, labels[t].value, perm, B, 0.0f, &n2);
            denom = (denominators ? denominators[t] : (double)n1) + 1e-8;  // EIR: sum / (n + 1e-8)
        } else {
            if (!labels[t].cls) eir_die("model_loss: target %s has no class labels", s->column);
            s1 = crossentropy_forward_backward(NULL, H->logits, labels[t].cls, NULL, B, K, s->label_smoothing, 0.0f, &n1);
            if (mix)
                s2 = crossentropy_forward_backward(NULL, H->logits, labels[t].cls, perm, B, K, s->label_smoothing, 0.0f,
                                                   &n2);
            denom = denominators ? denominators[t] : (double)n1;  // EIR: mean over present labels, 0 if none
        }
        double loss_t = 0.0;
        if (denom > 0.0 && (n1 > 0 || n2 > 0)) {
            loss_t = (lam * s1 + (1.0 - lam) * s2) / denom;
            float g1 = (float)(lam / (denom * T)), g2 = (float)((1.0 - lam) / (denom * T));
            if (s->continuous) {
                mse_forward_backward(H->dlogits, H->logits, labels[t].value, NULL, B, g1, &n1);
                if (mix) mse_forward_backward(H->dlogits, H->logits, labels[t].value, perm, B, g2, &n2);
            } else {
                crossentropy_forward_backward(H->dlogits, H->logits, labels[t].cls, NULL, B, K, s->label_smoothing, g1, &n1);
                if (mix)
                    crossentropy_forward_backward(H->dlogits, H->logits, labels[t].cls, perm, B, K, s->label_smoothing, g2,
                                                  &n2);
            }
        }
        if (target_losses) target_losses[t] = (float)loss_t;
        total += loss_t;
    }
    m->have_loss = true;
    op_end(m->prof, OP_LOSS, OP_FWD, t0, 0);
    return total / T;
}

void model_backward(Model *m) {
    const ModelConfig *mc = &m->config;
    if (!m->have_forward) eir_die("model_backward: no forward pass");
    int B = m->batch;
    m->last_reported = m->num_parameters;
    heads_fusion_backward(m, B);
    for (int i = mc->n_inputs - 1; i >= 0; i--) input_module_backward(m, i, B);
    if (m->last_reported != 0) eir_die("model_backward: gradient ranges did not cover the buffer");
}
