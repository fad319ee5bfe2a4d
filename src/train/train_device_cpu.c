// train_device_cpu.c: the CPU as a run's device (train_device.h): the host Model, its gradient
// all-reduce on the MPI communication thread (grad_reduce.c), AdamW on the host buffers.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "train/train_device.h"
#include "train/trainer_internal.h"

// The CPU device's own state: the loss model_loss computed in loss_queue, until loss_read.
typedef struct {
    double loss;
} CpuDevice;

static void cpu_init(Trainer *t) {
    Model *m = &t->model;
    t->dev_state = calloc_check(1, sizeof(CpuDevice));
    model_alloc_activations(m, t->local_rows > t->valid_chunk ? t->local_rows : t->valid_chunk);
    grad_reduce_init(&t->reducer, t->comm, m->grads_memory, m->num_parameters, train_bucket_bytes(&t->opt, false));
    if (t->comm->size > 1) {
        // the cost to hide: one blocking all-reduce of the whole gradient buffer
        comm_barrier(t->comm);
        double t0 = now_seconds();
        comm_allreduce_sum_f32(t->comm, m->grads_memory, m->num_parameters);
        t->t_allreduce_alone = now_seconds() - t0;
        model_zero_grad(m);
    }
}

static void *cpu_host_alloc(size_t bytes) { return calloc_check(1, bytes); }
static void cpu_host_free(void *p) { free(p); }
static void cpu_zero_grad(Trainer *t) { model_zero_grad(&t->model); }

static void cpu_stage(Trainer *t, int32_t *const *tokens, int rows) { (void)t, (void)tokens, (void)rows; }

static void cpu_forward(Trainer *t, int rows, const ForwardCtx *ctx, bool staged) {
    (void)staged;  // the host reads t->tokens either way
    model_forward(&t->model, (const int32_t *const *)t->tokens, rows, ctx);
}

static const float *cpu_logits(Trainer *t, int k, int rows) {
    (void)rows;
    return model_logits(&t->model, k);
}

static void cpu_loss_queue(Trainer *t, const double *denominators) {
    ((CpuDevice *)t->dev_state)->loss = model_loss(&t->model, t->labels, denominators, t->loss_tl);
}

static double cpu_loss_read(Trainer *t, float *target_losses) {
    if (target_losses != t->loss_tl) memcpy(target_losses, t->loss_tl, (size_t)t->n_targets * sizeof(float));
    return ((CpuDevice *)t->dev_state)->loss;
}

static void cpu_backward(Trainer *t, bool reduce) {
    if (reduce) {
        grad_reduce_begin(&t->reducer);
        model_set_grad_hook(&t->model, grad_reduce_on_ready, &t->reducer);
    } else {
        model_set_grad_hook(&t->model, NULL, NULL);
    }
    double t0 = now_seconds();
    model_backward(&t->model);
    t->backward_total += now_seconds() - t0;
}

static void cpu_reduce_finish(Trainer *t) {
    grad_reduce_finish(&t->reducer);
    t->comm_wait_total += t->reducer.t_finish_wait;
}

static float *cpu_grads_to_host(Trainer *t) { return t->model.grads_memory; }
static void cpu_grads_from_host(Trainer *t) { (void)t; }

static void cpu_adamw(Trainer *t, const AdamWStep *s, float grad_scale_by, double clip) {
    Model *m = &t->model;
    if (grad_scale_by != 1.0f) grad_scale(m->grads_memory, m->num_parameters, grad_scale_by);
    if (clip > 0) {
        double f = grad_clip_factor(sqrt(grad_sum_squares(m->grads_memory, m->num_parameters)), clip);
        if (f < 1.0) grad_scale(m->grads_memory, m->num_parameters, (float)f);
    }
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *p = &m->params[i];
        adamw_update(m->params_memory + p->offset, m->grads_memory + p->offset, t->adam_m + p->offset,
                     t->adam_v + p->offset, p->numel, s, p->decay ? s->wd : 0.0);
    }
}

static void cpu_to_host(Trainer *t, bool moments) { (void)t, (void)moments; }
static void cpu_from_host(Trainer *t) { (void)t; }

static void cpu_log_comm(Trainer *t) {
    if (t->comm_steps > 0)
        log_msg(LOG_INFO, "eir.train", "gradient all-reduce: %.1f MiB in %d bucket(s) per step; mean backward %.2f ms, "
                "mean wait after backward %.2f ms; one all-reduce of the whole buffer alone took %.2f ms",
                t->model.num_parameters * 4.0 / 1048576, t->reducer.buckets_launched, 1e3 * t->backward_total / t->comm_steps,
                1e3 * t->comm_wait_total / t->comm_steps, 1e3 * t->t_allreduce_alone);
}

static void cpu_free(Trainer *t) {
    grad_reduce_free(&t->reducer);
    free(t->dev_state);
    t->dev_state = NULL;
}

const TrainDevice train_device_cpu = TRAIN_DEVICE_TABLE(cpu, "cpu");
