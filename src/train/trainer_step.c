// trainer_step.c: one training iteration (spec §4): this rank builds its slice of the global
// batch, runs forward, loss and backward; on the iteration that completes an optimizer step the
// gradients are summed across ranks (overlapping backward), scaled, clipped, noised and AdamW
// steps. The GPU path (trainer_cuda.c) runs the same rules through the shared helpers here.
#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"
#include "train/optimizer.h"
#include "train/trainer_internal.h"

// Splits the dataset's [rows x n_targets] float targets into the model's per-target label arrays.
static void split_targets(Trainer *t, int rows) {
    for (int k = 0; k < t->n_targets; k++)
        for (int r = 0; r < rows; r++) {
            float v = t->targets[(size_t)r * t->n_targets + k];
            if (t->meta.targets[k].continuous) t->val[k][r] = v;
            else t->cls[k][r] = (int32_t)v;
        }
}

// Mixup (spec §4.2, §10): lambda ~ Beta(a, a) once per global step (all ranks agree); the pairing
// permutes this rank's local rows, keyed by the step and the rank's first global batch position.
static void mixup_draw(Trainer *t, long step, float *lambda) {
    double a = t->cfg->global.training_control.mixing_alpha;
    RngStream r;
    rng_stream_init(&r, t->seed, rng_purpose(RNG_MIXUP, 0), (uint64_t)step, 0);
    *lambda = (float)rng_next_beta(&r, a, a);
    rng_stream_init(&r, t->seed, rng_purpose(RNG_MIXUP, 1), (uint64_t)step, (uint64_t)t->comm->rank * t->local_rows);
    int n = t->local_rows;
    for (int i = 0; i < n; i++) t->mix_perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_next_below(&r, (uint64_t)i + 1);
        int32_t tmp = t->mix_perm[i];
        t->mix_perm[i] = t->mix_perm[j];
        t->mix_perm[j] = tmp;
    }
}

// With the batch of `step` in the batch buffers: its per-target labels, global sample ids and the
// training forward context (dropout streams, mixup lambda and pairing).
ForwardCtx trainer_step_ctx(Trainer *t, long step) {
    split_targets(t, t->local_rows);
    for (int r = 0; r < t->local_rows; r++) t->sample_ids[r] = (uint64_t)t->sample_idx[r];
    ForwardCtx ctx = {.train = true, .seed = t->seed, .step = (uint64_t)step, .sample_ids = t->sample_ids};
    if (t->cfg->global.training_control.mixing_alpha > 0) {
        ctx.mixup = true;
        mixup_draw(t, step, &ctx.mixup_lambda);
        ctx.mixup_perm = t->mix_perm;
    }
    return ctx;
}

// Denominators: present labels per target over the GLOBAL batch (buf[0..T)), so that summing the
// ranks' gradients gives exactly the gradient of the global-batch mean loss.
void trainer_label_counts(Trainer *t, int rows, double *buf) {
    int T = t->n_targets;
    for (int k = 0; k < T; k++) {
        buf[k] = 0.0;
        for (int r = 0; r < rows; r++)
            buf[k] += t->meta.targets[k].continuous ? !isnan(t->val[k][r]) : (t->cls[k][r] >= 0);
    }
    comm_allreduce_sum_f64(t->comm, buf, (size_t)T);
}

// The local losses are this rank's share of the global mean: their sum over ranks is the global
// loss. buf: room for 2T+1 doubles (the second part is used here).
double trainer_sum_losses(Trainer *t, double loss, const float *tl, double *buf, double *target_losses) {
    int T = t->n_targets;
    for (int k = 0; k < T; k++) buf[T + k] = tl[k];
    buf[2 * T] = loss;
    comm_allreduce_sum_f64(t->comm, buf + T, (size_t)T + 1);
    for (int k = 0; k < T; k++) target_losses[k] = buf[T + k];
    return buf[2 * T];
}

// Forward + loss + backward of this rank's rows of the global batch of iteration `step` (1-based);
// returns the global loss and fills target_losses (global).
static double forward_backward(Trainer *t, long step, double *target_losses) {
    int rows = t->local_rows;
    if (dataset_train_batch(&t->ds, t->prog.epoch, t->prog.iter_in_epoch, step, t->tokens, t->targets,
                            t->sample_idx) != 0)
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    ForwardCtx ctx = trainer_step_ctx(t, step);
    model_forward(&t->model, (const int32_t *const *)t->tokens, rows, &ctx);
    double *buf = t->loss_buf;
    trainer_label_counts(t, rows, buf);
    double loss = model_loss(&t->model, t->labels, buf, t->loss_tl);
    loss = trainer_sum_losses(t, loss, t->loss_tl, buf, target_losses);
    // the last micro-batch of an optimizer step reduces its gradients while backward runs
    int accum = t->cfg->global.optimization.gradient_accumulation_steps;
    bool reduce_now = accum <= 1 || step % accum == 0;
    if (reduce_now && t->comm->size > 1) {
        grad_reduce_begin(&t->reducer);
        model_set_grad_hook(&t->model, grad_reduce_on_ready, &t->reducer);
    } else {
        model_set_grad_hook(&t->model, NULL, NULL);
    }
    double t0 = now_seconds();
    model_backward(&t->model);
    t->backward_total += now_seconds() - t0;
    return loss;
}

// The summed gradients (host buffer) before AdamW: 1/accumulation steps, global-norm clipping,
// then Gaussian noise of std gradient_noise, one stream per tensor and step (same on all ranks).
void trainer_prepare_grads(Trainer *t, float *grads, long step) {
    const Model *m = &t->model;
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    int accum = oc->gradient_accumulation_steps > 1 ? oc->gradient_accumulation_steps : 1;
    if (accum > 1) grad_scale(grads, m->num_parameters, 1.0f / (float)accum);
    if (oc->gradient_clipping > 0) {
        double f = grad_clip_factor(sqrt(grad_sum_squares(grads, m->num_parameters)), oc->gradient_clipping);
        if (f < 1.0) grad_scale(grads, m->num_parameters, (float)f);
    }
    if (oc->gradient_noise <= 0) return;
    for (int i = 0; i < m->n_param_tensors; i++) {
        RngStream r;
        rng_stream_init(&r, t->seed, rng_purpose(RNG_NOISE, (uint32_t)i), (uint64_t)step, 0);
        float *g = grads + m->params[i].offset;
        for (size_t j = 0; j < m->params[i].numel; j++) g[j] += (float)(oc->gradient_noise * rng_next_normal(&r));
    }
}

// Counts the optimizer step and returns its AdamW settings.
AdamWStep trainer_next_adamw_step(Trainer *t, long step) {
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    t->prog.optimizer_steps++;
    AdamWStep s = {.lr = lr_schedule_lr(&t->sched, step), .b1 = oc->b1, .b2 = oc->b2, .eps = 1e-8,
                   .wd = oc->wd, .step = t->prog.optimizer_steps};
    return s;
}

static void optimizer_step(Trainer *t, long step) {
    Model *m = &t->model;
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    if (t->comm->size > 1) {
        grad_reduce_finish(&t->reducer);
        t->comm_wait_total += t->reducer.t_finish_wait;
        t->comm_steps++;
    }
    trainer_prepare_grads(t, m->grads_memory, step);
    AdamWStep s = trainer_next_adamw_step(t, step);
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *p = &m->params[i];
        adamw_update(m->params_memory + p->offset, m->grads_memory + p->offset, t->adam_m + p->offset,
                     t->adam_v + p->offset, p->numel, &s, p->decay ? oc->wd : 0.0);
    }
}

double trainer_step(Trainer *t, double *target_losses) {
    long step = t->prog.iteration + 1;
    int accum = t->cfg->global.optimization.gradient_accumulation_steps;
    if (accum < 1) accum = 1;
    double loss;
    if (t->cuda) {  // the optimizer step is part of the GPU iteration (no host round trip)
        if ((step - 1) % accum == 0) trainer_cuda_zero_grad(t);
        loss = trainer_cuda_step(t, step, target_losses);
    } else {
        if ((step - 1) % accum == 0) model_zero_grad(&t->model);
        loss = forward_backward(t, step, target_losses);
        if (step % accum == 0) optimizer_step(t, step);
    }
    t->prog.iteration = step;
    t->prog.iter_in_epoch++;
    running_average_update(&t->prog.loss_avg, loss);
    for (int k = 0; k < t->n_targets; k++) running_average_update(&t->prog.target_loss_avg[k], target_losses[k]);
    if (t->root) run_files_append_train(t);
    return loss;
}
