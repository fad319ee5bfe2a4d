// trainer_step.c: one training iteration (spec §4): this rank builds its slice of the global
// batch, runs forward, loss and backward; on the iteration that completes an optimizer step the
// gradients are summed across ranks (overlapping backward), scaled, clipped, noised and AdamW
// steps. One path for every device (train_device.h): the host reads the next batch's files
// while a GPU still runs this one's backward and optimizer step.
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
static ForwardCtx trainer_step_ctx(Trainer *t, long step) {
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
static void trainer_label_counts(Trainer *t, int rows, double *buf) {
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
static double trainer_sum_losses(Trainer *t, double loss, const float *tl, double *buf, double *target_losses) {
    int T = t->n_targets;
    for (int k = 0; k < T; k++) buf[T + k] = tl[k];
    buf[2 * T] = loss;
    comm_allreduce_sum_f64(t->comm, buf + T, (size_t)T + 1);
    for (int k = 0; k < T; k++) target_losses[k] = buf[T + k];
    return buf[2 * T];
}

// The summed gradients (host buffer) before AdamW: 1/accumulation steps, global-norm clipping,
// then Gaussian noise of std gradient_noise, one stream per tensor and step (same on all ranks).
static void trainer_prepare_grads(Trainer *t, float *grads, long step) {
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
static AdamWStep trainer_next_adamw_step(Trainer *t, long step) {
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    t->prog.optimizer_steps++;
    AdamWStep s = {.lr = lr_schedule_lr(&t->sched, step), .b1 = oc->b1, .b2 = oc->b2, .eps = 1e-8,
                   .wd = oc->wd, .step = t->prog.optimizer_steps};
    return s;
}

// Sums the gradients over the ranks (when several), then 1/accumulation steps and clipping on
// the device, or on the host with the gradient noise, whose streams live there; then AdamW.
static void optimizer_step(Trainer *t, long step) {
    const TrainDevice *d = t->dev;
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    if (t->comm->size > 1) {
        d->reduce_finish(t);
        t->comm_steps++;
    }
    int accum = oc->gradient_accumulation_steps > 1 ? oc->gradient_accumulation_steps : 1;
    float scale = 1.0f / (float)accum;
    double clip = oc->gradient_clipping;
    if (oc->gradient_noise > 0) {
        trainer_prepare_grads(t, d->grads_to_host(t), step);
        d->grads_from_host(t);
        scale = 1.0f, clip = 0.0;
    }
    AdamWStep s = trainer_next_adamw_step(t, step);
    d->adamw(t, &s, scale, clip);
}

static void swap_ptr(void *a, void *b) {
    void **x = a, **y = b, *tmp = *x;
    *x = *y;
    *y = tmp;
}

// The batch of iteration `step` into the batch buffers: the one prefetched during the previous
// iteration, or read now. Returns whether the device already holds its tokens.
static bool take_batch(Trainer *t, long step) {
    bool staged = false;
    if (t->pf_step == step) {
        swap_ptr(&t->tokens, &t->pf_tokens);
        swap_ptr(&t->targets, &t->pf_targets);
        swap_ptr(&t->sample_idx, &t->pf_sample_idx);
        staged = t->pf_on_device;
    } else if (dataset_train_batch(&t->ds, t->prog.epoch, t->prog.iter_in_epoch, step, t->tokens, t->targets,
                                   t->sample_idx) != 0) {
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    }
    t->pf_step = 0;
    return staged;
}

// The batch of iteration step+1, read into the prefetch buffers and staged on the device.
static void prefetch_next(Trainer *t, long step) {
    long epoch = t->prog.epoch, iter = t->prog.iter_in_epoch + 1;  // iter_in_epoch is still this step's
    if (iter >= t->iters_per_epoch) epoch++, iter = 0;
    if (epoch >= t->cfg->global.basic_experiment.n_epochs) return;
    if (dataset_train_batch(&t->ds, epoch, iter, step + 1, t->pf_tokens, t->pf_targets, t->pf_sample_idx) != 0)
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    t->dev->stage(t, t->pf_tokens, t->local_rows);
    t->pf_step = step + 1;
    t->pf_on_device = true;
}

// Forward, loss and backward of this rank's rows of the global batch of iteration `step`
// (1-based), and the optimizer step when the iteration completes one; returns the global loss
// and fills target_losses (global).
static double iteration(Trainer *t, long step, double *target_losses) {
    const TrainDevice *d = t->dev;
    int rows = t->local_rows;
    bool staged = take_batch(t, step);
    ForwardCtx ctx = trainer_step_ctx(t, step);
    d->forward(t, rows, &ctx, staged);
    double *buf = t->loss_buf;
    trainer_label_counts(t, rows, buf);
    d->loss_queue(t, buf);
    // the last micro-batch of an optimizer step reduces its gradients while backward runs
    int accum = t->cfg->global.optimization.gradient_accumulation_steps;
    bool step_now = accum <= 1 || step % accum == 0;
    d->backward(t, step_now && t->comm->size > 1);
    if (step_now) optimizer_step(t, step);
    prefetch_next(t, step);  // the host reads files while a GPU computes
    double loss = d->loss_read(t, t->loss_tl);
    return trainer_sum_losses(t, loss, t->loss_tl, buf, target_losses);
}

double trainer_step(Trainer *t, double *target_losses) {
    long step = t->prog.iteration + 1;
    int accum = t->cfg->global.optimization.gradient_accumulation_steps;
    if (accum < 1) accum = 1;
    if ((step - 1) % accum == 0) t->dev->zero_grad(t);
    double loss = iteration(t, step, target_losses);
    t->prog.iteration = step;
    t->prog.iter_in_epoch++;
    running_average_update(&t->prog.loss_avg, loss);
    for (int k = 0; k < t->n_targets; k++) running_average_update(&t->prog.target_loss_avg[k], target_losses[k]);
    if (t->root) run_files_append_train(t);
    return loss;
}
