// grad_bucketer.h: the one gradient bucketing rule, shared by the MPI and NCCL reducers.
// Backward reports finished ranges of the flat gradient buffer from its end to its start; the
// ranges tile the buffer once, in decreasing order (model.h). Whenever the finished-but-unsent
// tail [lo, unsent_hi) reaches the bucket size it is handed to the transport's `send`, which
// starts summing it over ranks without waiting; finish hands over the rest and calls `wait`.
// A range that does not end where the previous one began is a bug in the model's hook calls
// and stops the run (a gap or an overlap would sum part of the buffer twice or never).
#pragma once
#include <stddef.h>

typedef struct {
    // starts summing grads[lo, hi) over ranks; `stream` is the device stream that computed it
    // (NULL on the CPU)
    void (*send)(void *ctx, size_t lo, size_t hi, void *stream);
    // returns once every sent range is summed (CPU), or makes `stream` wait for them (GPU)
    void (*wait)(void *ctx, void *stream);
    void *ctx;
    const char *name;  // in error messages: "MPI", "NCCL"
} GradTransport;

typedef struct {
    GradTransport tr;
    size_t n;              // floats in the buffer
    size_t bucket_floats;  // 0: one send of the whole buffer in finish
    size_t unsent_hi, lo;  // [lo, unsent_hi) is finished but not yet sent
    int buckets_sent;      // in the last step
} GradBucketer;

void grad_bucketer_init(GradBucketer *b, GradTransport tr, size_t n, size_t bucket_floats);
// Call before the backward pass whose gradients are to be reduced.
void grad_bucketer_begin(GradBucketer *b);
// backward finished grads[offset, offset + count)
void grad_bucketer_ready(GradBucketer *b, size_t offset, size_t count, void *stream);
// Sends what is left and waits (see GradTransport.wait). Every float must have been reported.
void grad_bucketer_finish(GradBucketer *b, void *stream);
