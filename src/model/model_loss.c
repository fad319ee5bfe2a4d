// model_loss.c: the loss rules of spec §4.1-4.2, once for every backend. Per target: the mean
// over present labels (cross-entropy with label smoothing, or squared error with NaN targets
// skipped); with mixup lambda*L(y) + (1-lambda)*L(y[perm]); then the mean over targets.
// The counts are known on the host before any kernel runs, so the gradient scales are too: the
// backend computes each term's sums and dlogits in one pass, and the host combines the sums.
#include <math.h>

#include "common/util.h"
#include "model/model_pass.h"

// Present labels of target t in the rows as they are (n1) and as mixup pairs them (n2).
static void count_labels(const ModelTargetSpec *s, const TargetLabels *lab, const int32_t *perm, int B, int *n1,
                         int *n2) {
    *n1 = *n2 = 0;
    for (int b = 0; b < B; b++) {
        if (s->continuous) {
            *n1 += !isnan(lab->value[b]);
            if (perm) *n2 += !isnan(lab->value[perm[b]]);
        } else {
            *n1 += lab->cls[b] >= 0;
            if (perm) *n2 += lab->cls[perm[b]] >= 0;
        }
    }
}

void model_pass_loss_queue(ModelPass *p, int B, const TargetLabels *labels, const TargetLabels *dev_labels,
                           const int32_t *host_perm, const double *denominators) {
    const ModelConfig *mc = &p->host->config;
    const ModelOps *o = p->ops;
    void *dv = p->dev;
    int T = mc->n_targets;
    bool mix = p->ctx->mixup;
    float lam = mix ? p->ctx->mixup_lambda : 1.0f;
    o->zero(dv, p->sums, (size_t)4 * T * sizeof(double));
    for (int t = 0; t < T; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        HeadActs *H = &p->acts->heads[t];
        int K = s->n_classes, n1, n2;
        if (s->continuous ? !labels[t].value : !labels[t].cls)
            eir_die("model loss: target %s has no %s labels", s->column, s->continuous ? "continuous" : "class");
        o->zero(dv, H->dlogits, (size_t)B * K * sizeof(float));
        count_labels(s, &labels[t], mix ? host_perm : NULL, B, &n1, &n2);
        double denom = denominators ? denominators[t] : (double)n1;
        if (s->continuous) denom += 1e-8;  // EIR: sum / (n + 1e-8); categorical: mean, 0 if none
        p->loss_denom[t] = 0.0;
        if (!(denom > 0.0 && (n1 > 0 || n2 > 0))) continue;  // this target adds nothing
        p->loss_denom[t] = denom;
        float g1 = (float)(lam / (denom * T)), g2 = (float)((1.0 - lam) / (denom * T));
        const void *y = s->continuous ? (const void *)dev_labels[t].value : (const void *)dev_labels[t].cls;
        double *sums = p->sums + 4 * t;
        o->loss(dv, H->dlogits, sums, H->logits, y, NULL, B, K, s->continuous, s->label_smoothing, g1);
        if (mix) o->loss(dv, H->dlogits, sums + 2, H->logits, y, p->ctx->mixup_perm, B, K, s->continuous, s->label_smoothing, g2);
    }
    p->loss_lambda = lam;
}

double model_pass_loss_total(const ModelPass *p, float *target_losses) {
    int T = p->host->config.n_targets;
    double total = 0.0, lam = p->loss_lambda;
    for (int t = 0; t < T; t++) {
        double loss_t = 0.0;
        if (p->loss_denom[t] > 0.0) {
            const double *r = p->host_sums + 4 * t;
            loss_t = (lam * r[0] + (1.0 - lam) * r[2]) / p->loss_denom[t];
        }
        if (target_losses) target_losses[t] = (float)loss_t;
        total += loss_t;
    }
    return total / T;
}
