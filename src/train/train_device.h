// train_device.h: where a run's model computes, chosen once in trainer_init: the CPU
// (train_device_cpu.c: the host Model, MPI gradient all-reduce on a communication thread) or this
// rank's GPU (train_device_cuda.c: ModelCuda, NCCL). The trainer's iteration, validation, files
// and checkpoints are written once over this table; nothing else in src/train/ knows the device.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "train/optimizer.h"

typedef struct Trainer Trainer;

typedef struct TrainDevice {
    const char *name;
    // Sets the device up, after the host model and batch buffers exist (host_alloc made those).
    void (*init)(Trainer *t);
    // Host memory for batch tokens: pinned on a GPU, so that copies run while it computes.
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
    void (*zero_grad)(Trainer *t);
    // Queues the copy of rows rows of tokens to the device ahead of their forward (CPU: nothing).
    void (*stage)(Trainer *t, int32_t *const *tokens, int rows);
    // Forward of rows rows: the staged batch when staged, else t->tokens.
    void (*forward)(Trainer *t, int rows, const ForwardCtx *ctx, bool staged);
    // Host pointer to target k's logits of the last forward (rows x K floats).
    const float *(*logits)(Trainer *t, int k, int rows);
    // The loss of the last forward against t->labels (model_loss's rules); _read returns it once
    // known, which on a GPU lets the host go on while backward and the optimizer run.
    void (*loss_queue)(Trainer *t, const double *denominators);
    double (*loss_read)(Trainer *t, float *target_losses);
    // Backward; with reduce, the finished gradient buckets are summed over the ranks meanwhile.
    void (*backward)(Trainer *t, bool reduce);
    void (*reduce_finish)(Trainer *t);
    // The gradients on the host (downloaded on a GPU) and back, for the host-side noise streams.
    float *(*grads_to_host)(Trainer *t);
    void (*grads_from_host)(Trainer *t);
    // grads *= grad_scale (when != 1), global-norm clipping (clip > 0), then AdamW per tensor.
    void (*adamw)(Trainer *t, const AdamWStep *s, float grad_scale, double clip);
    // Parameters (and with moments the AdamW state) to the host buffers that files are written
    // from; and back to the device after a resume.
    void (*to_host)(Trainer *t, bool moments);
    void (*from_host)(Trainer *t);
    void (*log_comm)(Trainer *t);  // rank 0's summary of the gradient all-reduce
    void (*free)(Trainer *t);      // collective (NCCL): every rank calls it, before MPI ends
} TrainDevice;

// A device names its functions <prefix>_<field> (static, in its own file) and writes
// `const TrainDevice train_device_x = TRAIN_DEVICE_TABLE(prefix, "x");`, leaving none out.
#define TRAIN_DEVICE_TABLE(p, device_name) \
    { \
        .name = device_name, \
        .init = p##_init, \
        .host_alloc = p##_host_alloc, \
        .host_free = p##_host_free, \
        .zero_grad = p##_zero_grad, \
        .stage = p##_stage, \
        .forward = p##_forward, \
        .logits = p##_logits, \
        .loss_queue = p##_loss_queue, \
        .loss_read = p##_loss_read, \
        .backward = p##_backward, \
        .reduce_finish = p##_reduce_finish, \
        .grads_to_host = p##_grads_to_host, \
        .grads_from_host = p##_grads_from_host, \
        .adamw = p##_adamw, \
        .to_host = p##_to_host, \
        .from_host = p##_from_host, \
        .log_comm = p##_log_comm, \
        .free = p##_free, \
    }

extern const TrainDevice train_device_cpu;
extern const TrainDevice train_device_cuda;  // without the CUDA backend: init refuses to run
