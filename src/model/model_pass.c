// model_pass.c: the whole forward and backward pass over a backend (model_pass.h), and the
// gradient-range contract of model.h: ranges reported last to first, tiling the buffer once.
#include "common/rng.h"
#include "common/util.h"
#include "model/model_pass.h"

DropoutKey model_pass_dropout_key(const ModelPass *p, uint32_t site) {
    DropoutKey k = {.seed = p->ctx->seed, .purpose = rng_purpose(RNG_DROPOUT, site), .step = p->ctx->step,
                    .sample_ids = p->ctx->sample_ids};
    return k;
}

void model_pass_forward(ModelPass *p, int B) {
    for (int i = 0; i < p->host->config.n_inputs; i++) pass_input_forward(p, i, B);
    pass_fusion_forward(p, B);
    pass_heads_forward(p, B);
}

void model_pass_backward(ModelPass *p, int B) {
    p->last_reported = p->host->num_parameters;
    pass_heads_fusion_backward(p, B);
    for (int i = p->host->config.n_inputs - 1; i >= 0; i--) pass_input_backward(p, i, B);
    if (p->last_reported != 0) eir_die("model backward: gradient ranges did not cover the buffer");
}

void model_pass_report_range(ModelPass *p, int unit) {
    const GradRange *r = &p->host->ranges[unit];
    // ranges must come strictly from the end of the buffer towards its start
    if (r->offset + r->count != p->last_reported)
        eir_die("model backward: gradient range [%zu, +%zu) reported out of order (expected end %zu)", r->offset,
                r->count, p->last_reported);
    p->last_reported = r->offset;
    if (r->count) p->ops->grad_ready(p->dev, r->offset, r->count);
}
