// model_cuda.h: the model of model.h on one GPU (issue 7). The host Model keeps what it always
// had (configuration, parameter table, host buffers that checkpoints read and write); ModelCuda
// adds the device side: parameters, gradients and AdamW moments in ONE device allocation with
// the host's flat layout (so offsets, ranges and state-dict keys are the same), device views of
// the activations with the host's layout, and runs the same passes as the CPU (model_pass.h)
// over the CUDA ops of model_ops_cuda.c.
//
// Streams: everything of a step is queued on `stream` and the host waits only in
// model_cuda_loss_read (for the loss sums alone: backward and the optimizer queued behind them
// keep running while the host prepares the next step), in the downloads, and before rewriting a
// pinned staging buffer (for the copy out of it, done early in the previous step).
// Batches: model_cuda_stage queues the host -> device copy of a batch's tokens on a second
// stream (from pinned memory: cuda_host_alloc), so the next batch is copied while the current
// step runs; model_cuda_forward(…, NULL tokens) then uses the staged batch.
// Gradient ranges: as model_backward, backward tells a hook each finished range of the gradient
// buffer, last to first, here together with the stream that will have it final; a distributed
// trainer queues the NCCL all-reduce of a bucket there (dist/grad_reduce_nccl.h).
// Available only when the build has the CUDA backend (EIR_HAVE_CUDA).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/layers_cuda.h"
#include "model/model.h"
#include "model/model_pass.h"

typedef void (*CudaGradReadyFn)(void *user, size_t offset, size_t count, void *stream);

typedef struct {
    double lr, b1, b2, eps, wd;  // wd applies to the tensors whose ParamTensor.decay is set
    long step;                   // 1-based optimizer step (bias corrections)
    float grad_scale;            // gradients *= grad_scale first (1/accumulation steps; 1 = none)
    double clip;                 // global-norm clipping (<= 0: off)
} CudaAdamW;

typedef struct {
    const Model *host;
    int device;
    CudaMath math;
    void *stream, *copy_stream, *blas;
    void *staged_event;  // recorded on copy_stream after the staged tokens' copy
    void *slot_free[2];  // recorded on stream after the last pass that reads a token slot
    // recorded on stream after the copies out of h_ids / h_perm (forward) and h_cls / h_val
    // (loss_queue), which the host waits for before rewriting them; and after the loss sums'
    // copy into h_loss, which model_cuda_loss_read waits for: the one wait of a training step
    void *fwd_copied, *labels_copied, *loss_ready;
    float *memory;       // params | grads | adam_m | adam_v, num_parameters floats each
    float *params, *grads, *adam_m, *adam_v;
    ModelWeights w, g;   // device views, host layout
    float *acts_memory;
    ModelActs acts;      // device views, host layout (the view structs themselves are host memory)
    int max_batch, batch;
    float *rope_cos[MODEL_MAX_INPUTS], *rope_sin[MODEL_MAX_INPUTS], *pos_table[MODEL_MAX_INPUTS];
    int32_t *tokens[2][MODEL_MAX_INPUTS];  // two device slots: one in use, one being staged
    int slot, staged_slot, staged_rows;    // staged_slot -1: nothing staged
    float *layer_scratch;
    double *loss_rows, *loss_result;       // per-row scratch; 4 doubles per target {s1, n1, s2, n2}
    double *norm_scratch, *sumsq;
    int32_t *labels_cls;  // [n_targets][max_batch] device copies of the labels
    float *labels_val;
    double *h_loss;       // pinned: the loss sums read back
    int32_t *h_perm;      // pinned staging: the last forward's mixup permutation (host copy)
    uint64_t *h_ids;      // pinned staging: sample ids
    int32_t *h_cls;       // pinned staging: labels, [n_targets][max_batch]
    float *h_val;
    ForwardCtx ctx;       // of the last forward (sample_ids / mixup_perm: device copies)
    ModelPass pass;       // the passes of model_pass.h over the CUDA ops and the device views
    bool have_forward, loss_pending;
    CudaGradReadyFn grad_hook;
    void *grad_hook_user;
} ModelCuda;

// Device selection for a rank: EIR_CUDA_DEVICE if set; else the local rank when the node shows at
// least as many GPUs as local ranks; else GPU 0 when each rank sees exactly one GPU (a launcher
// such as Slurm's --gpus-per-task bound them). Dies, naming the rank, when no GPU fits.
int cuda_pick_device(int rank, int local_rank, int local_size);
// The same rule without dying: -1 and the reason in why.
int cuda_rank_device(int rank, int local_rank, int local_size, char *why, size_t whylen);
// PCI bus id of a device ("0000:3b:00.0"), to tell whether two ranks were given the same GPU;
// 0, or -1 on failure.
int cuda_device_bus_id(int device, char *buf, int len);

// Allocates everything on `device` for batches of up to max_batch rows and uploads host's
// parameters (host must be built; its activations are not needed). AdamW moments start at zero.
void model_cuda_init(ModelCuda *g, const Model *host, int device, int max_batch, CudaMath math);
void model_cuda_free(ModelCuda *g);
// Parameter and optimizer-state transfers (synchronous): for checkpoints, resume and broadcasts.
void model_cuda_upload_params(ModelCuda *g, const float *params);
void model_cuda_download_params(ModelCuda *g, float *params);
void model_cuda_upload_moments(ModelCuda *g, const float *m, const float *v);
void model_cuda_download_moments(ModelCuda *g, float *m, float *v);
void model_cuda_download_grads(ModelCuda *g, float *grads);
void model_cuda_upload_grads(ModelCuda *g, const float *grads);

// Queues the copy of B rows of tokens (tokens[i] = (B, L_i), pinned host memory for a truly
// asynchronous copy) into the device slot the current step does not use; it runs while the
// current step does. The host buffers must stay unchanged until the next model_cuda_forward has
// been queued and a synchronising call (model_cuda_loss_read, a download) has returned.
void model_cuda_stage(ModelCuda *g, const int32_t *const *tokens, int B);
// Forward pass, as model_forward (tokens NULL: the staged batch, which must have B rows).
void model_cuda_forward(ModelCuda *g, const int32_t *const *tokens, int B, const ForwardCtx *ctx);
// Logits of target t of the last forward, copied to host (B x K floats); synchronous.
void model_cuda_download_logits(ModelCuda *g, int t, float *out);
// As model_loss, in two halves so the host can do other work while the GPU runs: _queue uploads
// the labels and queues the loss and dlogits kernels and the copy of the sums to the host; _read
// waits for that copy alone and returns the loss (and target_losses when not NULL).
void model_cuda_loss_queue(ModelCuda *g, const TargetLabels *labels, const double *denominators);
double model_cuda_loss_read(ModelCuda *g, float *target_losses);
// Backward, as model_backward (gradients ADDED); reports the gradient ranges to the hook.
void model_cuda_backward(ModelCuda *g);
void model_cuda_set_grad_hook(ModelCuda *g, CudaGradReadyFn fn, void *user);
void model_cuda_zero_grad(ModelCuda *g);
// Optional gradient scale, clipping (norm on the device, no host round trip) and one AdamW step
// over every parameter tensor; queued on the stream.
void model_cuda_adamw(ModelCuda *g, const CudaAdamW *a);
// Waits until everything queued on the model's streams is done.
void model_cuda_synchronize(ModelCuda *g);
