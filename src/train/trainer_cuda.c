// trainer_cuda.c: the GPU side of a training run (issue 7). The loop, validation handlers, files
// and checkpoints stay in trainer.c; here each iteration runs on this rank's GPU:
//
//   forward -> loss (labels uploaded) -> backward, whose finished gradient buckets are summed over
//   ranks by NCCL while backward goes on -> [clip + AdamW on the device] -> load and stage the
//   NEXT batch (host file reads and the copy overlap the GPU) -> read the loss: the one wait,
//   which returns once the loss sums are back, so the GPU finishes backward and AdamW while the
//   host already queues the next iteration behind them.
//
// Parameters, gradients, AdamW moments and activations live on the device; the host copies
// (t->model.params_memory, t->adam_m/v) are refreshed only when a file is written.
// EIR_DIST_GPU_COMM=mpi replaces NCCL by MPI on host copies of the gradients (a slower fallback,
// and the reference the NCCL path is tested against).
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "train/trainer_internal.h"

#ifdef EIR_HAVE_CUDA
#include "dist/comm_nccl.h"
#include "dist/grad_reduce_nccl.h"
#include "model/model_cuda.h"

struct TrainerCuda {
    ModelCuda g;
    NcclComm *nccl;         // several ranks, NCCL path
    NcclGradReducer reducer;
    bool mpi_fallback;      // several ranks, EIR_DIST_GPU_COMM=mpi
    float *host_grads;      // MPI fallback / gradient noise: host copy of the gradients
    // the next iteration's batch, loaded while the GPU runs the current one
    int32_t **pf_tokens;    // pinned
    float *pf_targets;
    int64_t *pf_sample_idx;
    long pf_step;           // iteration the prefetched batch belongs to (0: none)
    bool pf_on_device;      // it was staged and nothing has replaced the staged slot since
    long comm_steps;
    int buckets;
};

static const char *math_name(int m) { return m == CUDA_MATH_TF32 ? "tf32" : m == CUDA_MATH_BF16 ? "bf16" : "fp32"; }

void trainer_cuda_setup(Trainer *t, const TrainOptions *opt) {
    Comm *c = t->comm;
    TrainerCuda *tc = calloc_check(1, sizeof *tc);
    t->cuda = tc;
    tc->mpi_fallback = c->size > 1 && opt->gpu_comm_mpi;
    int device;
    if (c->size > 1 && !tc->mpi_fallback) {
        tc->nccl = nccl_comm_create(c);  // selects the device too
        device = nccl_comm_device(tc->nccl);
    } else {
        device = cuda_pick_device(c->rank, c->local_rank, c->local_size);
    }
    int rows = t->local_rows > t->valid_chunk ? t->local_rows : t->valid_chunk;
    model_cuda_init(&tc->g, &t->model, device, rows, (CudaMath)opt->cuda_math);
    CudaDeviceInfo info;
    cuda_device_info(&info);
#ifdef EIR_CUDA_EMU
    const char *emu = " (EMULATED on the CPU: a test build)";
#else
    const char *emu = "";
#endif
    log_msg(LOG_INFO, "eir.train", "rank %d: device cuda:%d (%s)%s, matrix products in %s, gradients over %s", c->rank,
            device, info.name, emu, math_name(opt->cuda_math),
            c->size == 1 ? "one rank" : tc->nccl ? "NCCL" : "MPI (EIR_DIST_GPU_COMM=mpi)");
    if (tc->nccl) {
        grad_reduce_nccl_init(&tc->reducer, tc->nccl, tc->g.grads, t->model.num_parameters,
                              (size_t)(opt->bucket_mb * 1024 * 1024));
    }
    if (tc->mpi_fallback || t->cfg->global.optimization.gradient_noise > 0)
        tc->host_grads = malloc_check(t->model.num_parameters * sizeof(float));
    // pinned token buffers, so that batch copies are truly asynchronous; two sets (current, next)
    tc->pf_tokens = calloc_check((size_t)t->n_inputs, sizeof(int32_t *));
    for (int i = 0; i < t->n_inputs; i++) {
        size_t bytes = (size_t)rows * t->cfg->inputs[i].max_length * sizeof(int32_t);
        free(t->tokens[i]);
        t->tokens[i] = cuda_host_alloc(bytes);
        tc->pf_tokens[i] = cuda_host_alloc(bytes);
    }
    tc->pf_targets = malloc_check((size_t)rows * t->n_targets * sizeof(float));
    tc->pf_sample_idx = malloc_check((size_t)rows * sizeof(int64_t));
}

void trainer_cuda_zero_grad(Trainer *t) { model_cuda_zero_grad(&t->cuda->g); }

// The batch of iteration step+1, loaded into the prefetch buffers and staged on the device.
static void prefetch_next(Trainer *t, long step) {
    TrainerCuda *tc = t->cuda;
    long epoch = t->prog.epoch, iter = t->prog.iter_in_epoch + 1;  // iter_in_epoch is still this step's
    if (iter >= t->iters_per_epoch) epoch++, iter = 0;
    if (epoch >= t->cfg->global.basic_experiment.n_epochs) return;
    if (dataset_train_batch(&t->ds, epoch, iter, step + 1, tc->pf_tokens, tc->pf_targets, tc->pf_sample_idx) != 0)
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    model_cuda_stage(&tc->g, (const int32_t *const *)tc->pf_tokens, t->local_rows);
    tc->pf_step = step + 1;
    tc->pf_on_device = true;
}

static void swap_ptr(void *a, void *b) {
    void **x = a, **y = b, *tmp = *x;
    *x = *y;
    *y = tmp;
}

static void optimizer_step(Trainer *t, long step) {
    TrainerCuda *tc = t->cuda;
    Model *m = &t->model;
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    if (tc->nccl) {
        grad_reduce_nccl_finish(&tc->reducer, tc->g.stream);
        tc->buckets = tc->reducer.buckets_launched;
        tc->comm_steps++;
    } else if (tc->mpi_fallback) {
        model_cuda_download_grads(&tc->g, tc->host_grads);
        comm_allreduce_sum_f32(t->comm, tc->host_grads, m->num_parameters);
        model_cuda_upload_grads(&tc->g, tc->host_grads);
        tc->comm_steps++;
    }
    int accum = oc->gradient_accumulation_steps > 1 ? oc->gradient_accumulation_steps : 1;
    CudaAdamW a = {.grad_scale = 1.0f / (float)accum, .clip = oc->gradient_clipping};
    if (oc->gradient_noise > 0) {
        // the noise streams live on the host: scale, clip and noise there, as the CPU path does
        model_cuda_download_grads(&tc->g, tc->host_grads);
        trainer_prepare_grads(t, tc->host_grads, step);
        model_cuda_upload_grads(&tc->g, tc->host_grads);
        a.grad_scale = 1.0f;
        a.clip = 0;
    }
    AdamWStep s = trainer_next_adamw_step(t, step);
    a.lr = s.lr, a.b1 = s.b1, a.b2 = s.b2, a.eps = s.eps, a.wd = s.wd, a.step = s.step;
    model_cuda_adamw(&tc->g, &a);
}

double trainer_cuda_step(Trainer *t, long step, double *target_losses) {
    TrainerCuda *tc = t->cuda;
    int rows = t->local_rows;
    bool staged = false;
    if (tc->pf_step == step) {  // the batch was loaded during the previous iteration
        swap_ptr(&t->tokens, &tc->pf_tokens);
        swap_ptr(&t->targets, &tc->pf_targets);
        swap_ptr(&t->sample_idx, &tc->pf_sample_idx);
        staged = tc->pf_on_device;
    } else if (dataset_train_batch(&t->ds, t->prog.epoch, t->prog.iter_in_epoch, step, t->tokens, t->targets,
                                   t->sample_idx) != 0) {
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    }
    tc->pf_step = 0;
    ForwardCtx ctx = trainer_step_ctx(t, step);
    model_cuda_forward(&tc->g, staged ? NULL : (const int32_t *const *)t->tokens, rows, &ctx);
    double *buf = t->loss_buf;
    trainer_label_counts(t, rows, buf);
    model_cuda_loss_queue(&tc->g, t->labels, buf);
    int accum = t->cfg->global.optimization.gradient_accumulation_steps;
    bool step_now = accum <= 1 || step % accum == 0;
    if (step_now && tc->nccl) {
        grad_reduce_nccl_begin(&tc->reducer);
        model_cuda_set_grad_hook(&tc->g, grad_reduce_nccl_on_ready, &tc->reducer);
    } else {
        model_cuda_set_grad_hook(&tc->g, NULL, NULL);
    }
    model_cuda_backward(&tc->g);
    if (step_now) optimizer_step(t, step);
    prefetch_next(t, step);  // the host reads files while the GPU computes
    double loss = model_cuda_loss_read(&tc->g, t->loss_tl);
    return trainer_sum_losses(t, loss, t->loss_tl, buf, target_losses);
}

void trainer_cuda_forward_eval(Trainer *t, int n, const ForwardCtx *ctx) {
    TrainerCuda *tc = t->cuda;
    model_cuda_forward(&tc->g, (const int32_t *const *)t->tokens, n, ctx);
    tc->pf_on_device = false;  // validation batches went through the staging slot
}

void trainer_cuda_logits(Trainer *t, int k, float *out) { model_cuda_download_logits(&t->cuda->g, k, out); }

void trainer_cuda_to_host(Trainer *t, bool moments) {
    model_cuda_download_params(&t->cuda->g, t->model.params_memory);
    if (moments) model_cuda_download_moments(&t->cuda->g, t->adam_m, t->adam_v);
}

void trainer_cuda_from_host(Trainer *t) {
    model_cuda_upload_params(&t->cuda->g, t->model.params_memory);
    model_cuda_upload_moments(&t->cuda->g, t->adam_m, t->adam_v);
}

void trainer_cuda_log_comm(Trainer *t) {
    TrainerCuda *tc = t->cuda;
    if (tc->comm_steps > 0)
        log_msg(LOG_INFO, "eir.train", "gradient all-reduce (%s): %.1f MiB in %d bucket(s) per step",
                tc->nccl ? "NCCL, overlapped with backward" : "MPI on host copies", t->model.num_parameters * 4.0 / 1048576,
                tc->nccl ? tc->buckets : 1);
    model_cuda_synchronize(&tc->g);
}

void trainer_cuda_free(Trainer *t) {
    TrainerCuda *tc = t->cuda;
    if (!tc) return;
    model_cuda_free(&tc->g);  // waits for the device
    if (tc->nccl) nccl_comm_destroy(tc->nccl);
    for (int i = 0; i < t->n_inputs; i++) {
        cuda_host_free(t->tokens[i]);
        cuda_host_free(tc->pf_tokens[i]);
        t->tokens[i] = NULL;
    }
    free(tc->pf_tokens);
    free(tc->pf_targets);
    free(tc->pf_sample_idx);
    free(tc->host_grads);
    free(tc);
    t->cuda = NULL;
}

#else  // no CUDA backend: eir_dist_main refuses --device cuda before a run starts

void trainer_cuda_setup(Trainer *t, const TrainOptions *opt) {
    (void)t, (void)opt;
    eir_die_user("--device cuda: this eir-dist was built without the CUDA backend");
}
double trainer_cuda_step(Trainer *t, long step, double *target_losses) {
    (void)t, (void)step, (void)target_losses;
    return 0.0;
}
void trainer_cuda_zero_grad(Trainer *t) { (void)t; }
void trainer_cuda_forward_eval(Trainer *t, int n, const ForwardCtx *ctx) { (void)t, (void)n, (void)ctx; }
void trainer_cuda_logits(Trainer *t, int k, float *out) { (void)t, (void)k, (void)out; }
void trainer_cuda_to_host(Trainer *t, bool moments) { (void)t, (void)moments; }
void trainer_cuda_from_host(Trainer *t) { (void)t; }
void trainer_cuda_log_comm(Trainer *t) { (void)t; }
void trainer_cuda_free(Trainer *t) { (void)t; }
#endif
