// model_cuda.c: ModelCuda's memory, transfers, batch staging, forward / loss / backward entry
// points and the optimizer step (model_cuda.h). The passes are the CPU's (model_pass.h), run
// over the CUDA ops (model_ops_cuda.c).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "model/model_cuda.h"

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

// The largest scratch any layer asks for: column sums (rmsnorm / layerscale / bias gradients) and
// the embedding's chunk partials.
static size_t layer_scratch_floats(const ModelConfig *mc, int B) {
    size_t n = 1;
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        n = max_sz(n, colsum_cuda_scratch_floats(B * s->padded_length, s->d));
        n = max_sz(n, embedding_backward_cuda_scratch_floats(B * s->max_length, s->vocab, s->d));
        if (s->global_layers > 0) {  // the global stage's norms and LayerScales
            n = max_sz(n, colsum_cuda_scratch_floats(B * s->n_windows, s->global_d));
            n = max_sz(n, colsum_cuda_scratch_floats(B * s->n_windows, s->d));
        }
    }
    n = max_sz(n, colsum_cuda_scratch_floats(B, mc->fusion_in));
    n = max_sz(n, colsum_cuda_scratch_floats(B, mc->fusion_dim));
    for (int t = 0; t < mc->n_targets; t++) {
        n = max_sz(n, colsum_cuda_scratch_floats(B, mc->targets[t].dim));
        n = max_sz(n, colsum_cuda_scratch_floats(B, mc->targets[t].n_classes));
    }
    return n;
}

void model_cuda_init(ModelCuda *g, const Model *host, int device, int max_batch, CudaMath math) {
    memset(g, 0, sizeof *g);
    const ModelConfig *mc = &host->config;
    if (max_batch < 1) eir_die("model_cuda_init: max_batch %d < 1", max_batch);
    g->host = host;
    g->device = device;
    g->math = math;
    g->max_batch = max_batch;
    cuda_set_device(device);
    g->stream = cuda_stream_create();
    g->copy_stream = cuda_stream_create();
    g->staged_event = cuda_event_create();
    for (int k = 0; k < 2; k++) {
        g->slot_free[k] = cuda_event_create();
        cuda_event_record(g->slot_free[k], g->stream);
    }
    g->fwd_copied = cuda_event_create();
    g->labels_copied = cuda_event_create();
    g->loss_ready = cuda_event_create();
    cuda_event_record(g->fwd_copied, g->stream);
    cuda_event_record(g->labels_copied, g->stream);
    // pinned staging of the per-batch uploads, copied asynchronously on the stream (the host
    // rewrites them once the copies out of them are done: fwd_copied, labels_copied)
    g->h_perm = cuda_host_alloc((size_t)max_batch * sizeof(int32_t));
    g->h_ids = cuda_host_alloc((size_t)max_batch * sizeof(uint64_t));
    g->h_cls = cuda_host_alloc((size_t)host->config.n_targets * max_batch * sizeof(int32_t));
    g->h_val = cuda_host_alloc((size_t)host->config.n_targets * max_batch * sizeof(float));
    g->blas = cuda_blas_create();
    cuda_blas_set_math(g->blas, math);

    size_t P = host->num_parameters;
    g->memory = cuda_malloc(4 * P * sizeof(float));
    g->params = g->memory;
    g->grads = g->memory + P;
    g->adam_m = g->memory + 2 * P;
    g->adam_v = g->memory + 3 * P;
    cuda_memset_zero(g->memory, 4 * P * sizeof(float), g->stream);
    model_weight_views(host, &g->w, g->params);
    model_weight_views(host, &g->g, g->grads);

    size_t af = model_acts_floats(host, max_batch);
    g->acts_memory = cuda_malloc(af * sizeof(float));
    cuda_memset_zero(g->acts_memory, af * sizeof(float), g->stream);  // deterministic contents
    model_acts_views(host, &g->acts, g->acts_memory, max_batch);

    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        size_t rope = (size_t)s->win * (size_t)(s->d / s->heads / 2);
        g->rope_cos[i] = cuda_malloc(rope * sizeof(float));
        g->rope_sin[i] = cuda_malloc(rope * sizeof(float));
        cuda_memcpy_h2d(g->rope_cos[i], host->rope_cos[i], rope * sizeof(float));
        cuda_memcpy_h2d(g->rope_sin[i], host->rope_sin[i], rope * sizeof(float));
        if (host->pos_table[i]) {
            size_t n = (size_t)s->max_length * s->d;
            g->pos_table[i] = cuda_malloc(n * sizeof(float));
            cuda_memcpy_h2d(g->pos_table[i], host->pos_table[i], n * sizeof(float));
        }
        for (int k = 0; k < 2; k++) g->tokens[k][i] = cuda_malloc((size_t)max_batch * s->max_length * sizeof(int32_t));
    }
    g->staged_slot = -1;
    g->layer_scratch = cuda_malloc(layer_scratch_floats(mc, max_batch) * sizeof(float));
    g->loss_rows = cuda_malloc((size_t)2 * max_batch * sizeof(double));
    int T = mc->n_targets;
    g->loss_result = cuda_malloc((size_t)4 * T * sizeof(double));
    g->h_loss = cuda_host_alloc((size_t)4 * T * sizeof(double));
    g->norm_scratch = cuda_malloc((grad_norm_cuda_scratch_doubles(P) + 1) * sizeof(double));
    g->sumsq = g->norm_scratch + grad_norm_cuda_scratch_doubles(P);
    g->labels_cls = cuda_malloc((size_t)T * max_batch * sizeof(int32_t));
    g->labels_val = cuda_malloc((size_t)T * max_batch * sizeof(float));
    ModelPass p = {.ops = &model_ops_cuda, .dev = g, .host = host, .w = &g->w, .g = &g->g, .acts = &g->acts,
                   .ctx = &g->ctx, .rope_cos = g->rope_cos, .rope_sin = g->rope_sin, .pos_table = g->pos_table,
                   .tokens = g->tokens[0], .sums = g->loss_result, .host_sums = g->h_loss};
    g->pass = p;
    model_cuda_upload_params(g, host->params_memory);
}

void model_cuda_free(ModelCuda *g) {
    if (!g->host) return;
    model_cuda_synchronize(g);
    const ModelConfig *mc = &g->host->config;
    for (int i = 0; i < mc->n_inputs; i++) {
        cuda_free(g->rope_cos[i]);
        cuda_free(g->rope_sin[i]);
        cuda_free(g->pos_table[i]);
        for (int k = 0; k < 2; k++) cuda_free(g->tokens[k][i]);
    }
    cuda_free(g->layer_scratch);
    cuda_free(g->loss_rows);
    cuda_free(g->loss_result);
    cuda_host_free(g->h_loss);
    cuda_free(g->norm_scratch);
    cuda_free(g->labels_cls);
    cuda_free(g->labels_val);
    cuda_free(g->acts_memory);
    cuda_free(g->memory);
    model_acts_views_free(g->host, &g->acts);
    model_weight_views_free(g->host, &g->w);
    model_weight_views_free(g->host, &g->g);
    cuda_blas_destroy(g->blas);
    cuda_event_destroy(g->staged_event);
    cuda_event_destroy(g->fwd_copied);
    cuda_event_destroy(g->labels_copied);
    cuda_event_destroy(g->loss_ready);
    for (int k = 0; k < 2; k++) cuda_event_destroy(g->slot_free[k]);
    cuda_host_free(g->h_perm);
    cuda_host_free(g->h_ids);
    cuda_host_free(g->h_cls);
    cuda_host_free(g->h_val);
    cuda_stream_destroy(g->copy_stream);
    cuda_stream_destroy(g->stream);
    memset(g, 0, sizeof *g);
}

void model_cuda_synchronize(ModelCuda *g) {
    cuda_stream_synchronize(g->copy_stream);
    cuda_stream_synchronize(g->stream);
}

// ---- transfers (synchronous: the queued work finishes first) ------------------------------------

static void upload(ModelCuda *g, float *dst, const float *src) {
    cuda_stream_synchronize(g->stream);
    cuda_memcpy_h2d(dst, src, g->host->num_parameters * sizeof(float));
}
static void download(ModelCuda *g, float *dst, const float *src) {
    cuda_stream_synchronize(g->stream);
    cuda_memcpy_d2h(dst, src, g->host->num_parameters * sizeof(float));
}
void model_cuda_upload_params(ModelCuda *g, const float *params) { upload(g, g->params, params); }
void model_cuda_download_params(ModelCuda *g, float *params) { download(g, params, g->params); }
void model_cuda_upload_grads(ModelCuda *g, const float *grads) { upload(g, g->grads, grads); }
void model_cuda_download_grads(ModelCuda *g, float *grads) { download(g, grads, g->grads); }
void model_cuda_upload_moments(ModelCuda *g, const float *m, const float *v) {
    upload(g, g->adam_m, m);
    upload(g, g->adam_v, v);
}
void model_cuda_download_moments(ModelCuda *g, float *m, float *v) {
    download(g, m, g->adam_m);
    download(g, v, g->adam_v);
}

// ---- batches -------------------------------------------------------------------------------------

// The device cannot stop on a bad token (embedding_forward_cuda would give NaN rows): check on the
// host, as embedding_forward does on the CPU.
static void check_tokens(const ModelCuda *g, const int32_t *const *tokens, int B) {
    const ModelConfig *mc = &g->host->config;
    for (int i = 0; i < mc->n_inputs; i++) {
        size_t n = (size_t)B * mc->inputs[i].max_length;
        int V = mc->inputs[i].vocab;
        for (size_t k = 0; k < n; k++)
            if (tokens[i][k] < 0 || tokens[i][k] >= V)
                eir_die("model_cuda_forward: token %d at position %zu of input %d outside [0, %d)", tokens[i][k], k, i, V);
    }
}

void model_cuda_stage(ModelCuda *g, const int32_t *const *tokens, int B) {
    const ModelConfig *mc = &g->host->config;
    if (B < 1 || B > g->max_batch) eir_die("model_cuda_stage: batch %d outside 1..%d", B, g->max_batch);
    check_tokens(g, tokens, B);
    int slot = 1 - g->slot;
    // the free slot's tokens were last read by an earlier step's passes: the copy waits for
    // those (slot_free), not for the current step, which it overlaps
    cuda_stream_wait_event(g->copy_stream, g->slot_free[slot]);
    for (int i = 0; i < mc->n_inputs; i++)
        cuda_memcpy_h2d_async(g->tokens[slot][i], tokens[i], (size_t)B * mc->inputs[i].max_length * sizeof(int32_t),
                              g->copy_stream);
    cuda_event_record(g->staged_event, g->copy_stream);
    g->staged_slot = slot;
    g->staged_rows = B;
}

void model_cuda_forward(ModelCuda *g, const int32_t *const *tokens, int B, const ForwardCtx *ctx) {
    if (B < 1 || B > g->max_batch) eir_die("model_cuda_forward: batch %d outside 1..%d", B, g->max_batch);
    if (tokens) {
        model_cuda_stage(g, tokens, B);
    } else if (g->staged_slot < 0 || g->staged_rows != B) {
        eir_die("model_cuda_forward: no staged batch of %d rows", B);
    }
    g->slot = g->staged_slot;
    g->staged_slot = -1;
    cuda_stream_wait_event(g->stream, g->staged_event);

    // h_ids / h_perm are rewritten below: the previous forward's copies out of them must be done.
    // They ran at that forward's start, so this does not wait for the rest of the previous step
    // (its backward and optimizer may still run: the host queues this step behind them).
    cuda_event_synchronize(g->fwd_copied);
    g->ctx = *ctx;
    for (int b = 0; b < B; b++) g->h_ids[b] = ctx->sample_ids ? ctx->sample_ids[b] : ctx->sample_base + (uint64_t)b;
    cuda_memcpy_h2d_async(g->acts.sample_ids, g->h_ids, (size_t)B * sizeof(uint64_t), g->stream);
    g->ctx.sample_ids = g->acts.sample_ids;
    g->ctx.mixup = ctx->train && ctx->mixup;
    if (g->ctx.mixup) {
        if (!ctx->mixup_perm) eir_die("model_cuda_forward: mixup without a permutation");
        for (int b = 0; b < B; b++)
            if (ctx->mixup_perm[b] < 0 || ctx->mixup_perm[b] >= B)
                eir_die("model_cuda_forward: mixup_perm[%d] = %d outside [0, %d)", b, ctx->mixup_perm[b], B);
        memcpy(g->h_perm, ctx->mixup_perm, (size_t)B * sizeof(int32_t));
        cuda_memcpy_h2d_async(g->acts.perm, g->h_perm, (size_t)B * sizeof(int32_t), g->stream);
        g->ctx.mixup_perm = g->acts.perm;
    } else {
        g->ctx.mixup_perm = NULL;
        g->ctx.mixup_lambda = 1.0f;
    }
    cuda_event_record(g->fwd_copied, g->stream);
    g->pass.tokens = g->tokens[g->slot];
    model_pass_forward(&g->pass, B);
    cuda_event_record(g->slot_free[g->slot], g->stream);
    g->batch = B;
    g->have_forward = true;
    g->loss_pending = false;
}

void model_cuda_download_logits(ModelCuda *g, int t, float *out) {
    if (!g->have_forward) eir_die("model_cuda_download_logits: no forward pass");
    cuda_stream_synchronize(g->stream);
    size_t n = (size_t)g->batch * g->host->config.targets[t].n_classes;
    cuda_memcpy_d2h(out, g->acts.heads[t].logits, n * sizeof(float));
}

// ---- loss (model_loss.c's rules: the counts are known on the host, the sums come back) ---------

void model_cuda_loss_queue(ModelCuda *g, const TargetLabels *labels, const double *denominators) {
    const ModelConfig *mc = &g->host->config;
    if (!g->have_forward) eir_die("model_cuda_loss: no forward pass");
    int B = g->batch, T = mc->n_targets, MB = g->max_batch;
    // the labels go up through the pinned staging, once the last loss's copies out of it are done
    cuda_event_synchronize(g->labels_copied);
    TargetLabels dev[MODEL_MAX_TARGETS];
    for (int t = 0; t < T; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        dev[t].cls = NULL, dev[t].value = NULL;
        if (s->continuous && labels[t].value) {
            float *hv = g->h_val + (size_t)t * MB;
            memcpy(hv, labels[t].value, (size_t)B * sizeof(float));
            cuda_memcpy_h2d_async(g->labels_val + (size_t)t * MB, hv, (size_t)B * sizeof(float), g->stream);
            dev[t].value = g->labels_val + (size_t)t * MB;
        } else if (!s->continuous && labels[t].cls) {
            int32_t *hc = g->h_cls + (size_t)t * MB;
            memcpy(hc, labels[t].cls, (size_t)B * sizeof(int32_t));
            cuda_memcpy_h2d_async(g->labels_cls + (size_t)t * MB, hc, (size_t)B * sizeof(int32_t), g->stream);
            dev[t].cls = g->labels_cls + (size_t)t * MB;
        }
    }
    cuda_event_record(g->labels_copied, g->stream);
    model_pass_loss_queue(&g->pass, B, labels, dev, g->h_perm, denominators);
    // the sums come back right behind the loss kernels; backward and the optimizer queue after
    cuda_memcpy_d2h_async(g->h_loss, g->loss_result, (size_t)4 * T * sizeof(double), g->stream);
    cuda_event_record(g->loss_ready, g->stream);
    g->loss_pending = true;
}

double model_cuda_loss_read(ModelCuda *g, float *target_losses) {
    if (!g->loss_pending) eir_die("model_cuda_loss_read: no loss queued");
    cuda_event_synchronize(g->loss_ready);  // not the whole stream: backward may still be running
    return model_pass_loss_total(&g->pass, target_losses);
}

// ---- backward and the optimizer -----------------------------------------------------------------

void model_cuda_set_grad_hook(ModelCuda *g, CudaGradReadyFn fn, void *user) {
    g->grad_hook = fn;
    g->grad_hook_user = user;
}

void model_cuda_zero_grad(ModelCuda *g) {
    cuda_memset_zero(g->grads, g->host->num_parameters * sizeof(float), g->stream);
}

void model_cuda_backward(ModelCuda *g) {
    if (!g->have_forward) eir_die("model_cuda_backward: no forward pass");
    if (!g->loss_pending) eir_die("model_cuda_backward: no loss queued (model_cuda_loss_queue)");
    model_pass_backward(&g->pass, g->batch);
    cuda_event_record(g->slot_free[g->slot], g->stream);  // embedding_backward read the tokens
}

void model_cuda_adamw(ModelCuda *g, const CudaAdamW *a) {
    const Model *h = g->host;
    size_t P = h->num_parameters;
    if (a->grad_scale != 1.0f) grad_scale_cuda(g->grads, P, a->grad_scale, g->stream);
    if (a->clip > 0) {
        grad_sum_squares_cuda(g->sumsq, g->grads, P, g->norm_scratch, g->stream);
        grad_clip_cuda(g->grads, P, g->sumsq, a->clip, g->stream);
    }
    // AdamW is elementwise: neighbouring tensors with the same decay setting form one contiguous
    // range of the flat buffer and take one launch
    for (int i = 0; i < h->n_param_tensors;) {
        const ParamTensor *p = &h->params[i];
        size_t n = p->numel;
        int j = i + 1;
        while (j < h->n_param_tensors && h->params[j].decay == p->decay && h->params[j].offset == p->offset + n)
            n += h->params[j++].numel;
        adamw_update_cuda(g->params + p->offset, g->grads + p->offset, g->adam_m + p->offset, g->adam_v + p->offset, n,
                          a->lr, a->b1, a->b2, a->eps, p->decay ? a->wd : 0.0, a->step, g->stream);
        i = j;
    }
}
