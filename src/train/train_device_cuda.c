// train_device_cuda.c: this rank's GPU as a run's device (train_device.h; issue 7). Parameters,
// gradients, AdamW moments and activations live on the device; the host copies
// (t->model.params_memory, t->adam_m/v) are refreshed only when a file is written. The loss is
// queued and read back apart, so the host reads the next batch's files while the GPU runs
// backward and AdamW, and the gradient buckets of backward are summed over ranks by NCCL as they
// finish. EIR_DIST_GPU_COMM=mpi replaces NCCL by MPI on host copies of the gradients (a slower
// fallback, and the reference the NCCL path is tested against).
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "train/train_device.h"
#include "train/trainer_internal.h"

#ifdef EIR_HAVE_CUDA
#include "dist/comm_nccl.h"
#include "dist/grad_reduce_nccl.h"
#include "model/model_cuda.h"

typedef struct {
    ModelCuda g;
    NcclComm *nccl;         // several ranks, NCCL path
    NcclGradReducer reducer;
    bool mpi_fallback;      // several ranks, EIR_DIST_GPU_COMM=mpi
    float *host_grads;      // MPI fallback / gradient noise: host copy of the gradients
    float **logits;         // [n_targets]: validation logits downloaded (valid_chunk rows)
} CudaDevice;

static CudaDevice *cd(Trainer *t) { return t->dev_state; }

static const char *math_name(int m) { return m == CUDA_MATH_TF32 ? "tf32" : m == CUDA_MATH_BF16 ? "bf16" : "fp32"; }

static void gpu_init(Trainer *t) {
    Comm *c = t->comm;
    CudaDevice *d = calloc_check(1, sizeof *d);
    t->dev_state = d;
    d->mpi_fallback = c->size > 1 && t->opt.gpu_comm_mpi;
    int device;
    if (c->size > 1 && !d->mpi_fallback) {
        d->nccl = nccl_comm_create(c);  // selects the device too
        device = nccl_comm_device(d->nccl);
    } else {
        device = cuda_pick_device(c->rank, c->local_rank, c->local_size);
    }
    int rows = t->local_rows > t->valid_chunk ? t->local_rows : t->valid_chunk;
    model_cuda_init(&d->g, &t->model, device, rows, (CudaMath)t->opt.cuda_math);
    CudaDeviceInfo info;
    cuda_device_info(&info);
#ifdef EIR_CUDA_EMU
    const char *emu = " (EMULATED on the CPU: a test build)";
#else
    const char *emu = "";
#endif
    log_msg(LOG_INFO, "eir.train", "rank %d: device cuda:%d (%s)%s, matrix products in %s, gradients over %s", c->rank,
            device, info.name, emu, math_name(t->opt.cuda_math),
            c->size == 1 ? "one rank" : d->nccl ? "NCCL" : "MPI (EIR_DIST_GPU_COMM=mpi)");
    if (d->nccl)
        grad_reduce_nccl_init(&d->reducer, d->nccl, d->g.grads, t->model.num_parameters,
                              train_bucket_bytes(&t->opt, true));
    if (d->mpi_fallback || t->cfg->global.optimization.gradient_noise > 0)
        d->host_grads = malloc_check(t->model.num_parameters * sizeof(float));
    d->logits = calloc_check((size_t)t->n_targets, sizeof(float *));
    for (int k = 0; k < t->n_targets; k++)
        d->logits[k] = malloc_check((size_t)t->valid_chunk * t->meta.targets[k].n_classes * sizeof(float));
}

static void *gpu_host_alloc(size_t bytes) { return cuda_host_alloc(bytes); }
static void gpu_host_free(void *p) { cuda_host_free(p); }
static void gpu_zero_grad(Trainer *t) { model_cuda_zero_grad(&cd(t)->g); }

static void gpu_stage(Trainer *t, int32_t *const *tokens, int rows) {
    model_cuda_stage(&cd(t)->g, (const int32_t *const *)tokens, rows);
}

static void gpu_forward(Trainer *t, int rows, const ForwardCtx *ctx, bool staged) {
    // a batch that was not staged goes through the staging slot itself
    model_cuda_forward(&cd(t)->g, staged ? NULL : (const int32_t *const *)t->tokens, rows, ctx);
}

static const float *gpu_logits(Trainer *t, int k, int rows) {
    CudaDevice *d = cd(t);
    if (rows > t->valid_chunk) eir_die("train device cuda: %d rows of logits, room for %d", rows, t->valid_chunk);
    model_cuda_download_logits(&d->g, k, d->logits[k]);
    return d->logits[k];
}

static void gpu_loss_queue(Trainer *t, const double *denominators) {
    model_cuda_loss_queue(&cd(t)->g, t->labels, denominators);
}
static double gpu_loss_read(Trainer *t, float *target_losses) { return model_cuda_loss_read(&cd(t)->g, target_losses); }

static void gpu_backward(Trainer *t, bool reduce) {
    CudaDevice *d = cd(t);
    if (reduce && d->nccl) {
        grad_reduce_nccl_begin(&d->reducer);
        model_cuda_set_grad_hook(&d->g, grad_reduce_nccl_on_ready, &d->reducer);
    } else {
        model_cuda_set_grad_hook(&d->g, NULL, NULL);
    }
    model_cuda_backward(&d->g);
}

static void gpu_reduce_finish(Trainer *t) {
    CudaDevice *d = cd(t);
    if (d->nccl) {
        grad_reduce_nccl_finish(&d->reducer, d->g.stream);
    } else if (d->mpi_fallback) {
        model_cuda_download_grads(&d->g, d->host_grads);
        comm_allreduce_sum_f32(t->comm, d->host_grads, t->model.num_parameters);
        model_cuda_upload_grads(&d->g, d->host_grads);
    }
}

static float *gpu_grads_to_host(Trainer *t) {
    CudaDevice *d = cd(t);
    model_cuda_download_grads(&d->g, d->host_grads);
    return d->host_grads;
}
static void gpu_grads_from_host(Trainer *t) { model_cuda_upload_grads(&cd(t)->g, cd(t)->host_grads); }

static void gpu_adamw(Trainer *t, const AdamWStep *s, float grad_scale, double clip) {
    CudaAdamW a = {.lr = s->lr, .b1 = s->b1, .b2 = s->b2, .eps = s->eps, .wd = s->wd, .step = s->step,
                   .grad_scale = grad_scale, .clip = clip};
    model_cuda_adamw(&cd(t)->g, &a);
}

static void gpu_to_host(Trainer *t, bool moments) {
    model_cuda_download_params(&cd(t)->g, t->model.params_memory);
    if (moments) model_cuda_download_moments(&cd(t)->g, t->adam_m, t->adam_v);
}

static void gpu_from_host(Trainer *t) {
    model_cuda_upload_params(&cd(t)->g, t->model.params_memory);
    model_cuda_upload_moments(&cd(t)->g, t->adam_m, t->adam_v);
}

static void gpu_log_comm(Trainer *t) {
    CudaDevice *d = cd(t);
    if (t->comm_steps > 0)
        log_msg(LOG_INFO, "eir.train", "gradient all-reduce (%s): %.1f MiB in %d bucket(s) per step",
                d->nccl ? "NCCL, overlapped with backward" : "MPI on host copies", t->model.num_parameters * 4.0 / 1048576,
                d->nccl ? d->reducer.buckets_launched : 1);
    model_cuda_synchronize(&d->g);
}

static void gpu_free(Trainer *t) {
    CudaDevice *d = cd(t);
    if (!d) return;
    model_cuda_free(&d->g);  // waits for the device
    if (d->nccl) nccl_comm_destroy(d->nccl);
    for (int k = 0; d->logits && k < t->n_targets; k++) free(d->logits[k]);
    free(d->logits);
    free(d->host_grads);
    free(d);
    t->dev_state = NULL;
}

const TrainDevice train_device_cuda = TRAIN_DEVICE_TABLE(gpu, "cuda");

#else  // no CUDA backend: eir_dist_main refuses --device cuda before a run starts; this is the guard

static void *refuse(size_t bytes) {
    (void)bytes;
    eir_die_user("--device cuda: this eir-dist was built without the CUDA backend");
}
// host_alloc is the first call a run makes of its device
const TrainDevice train_device_cuda = {.name = "cuda", .host_alloc = refuse};
#endif
