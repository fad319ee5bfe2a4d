// grad_reduce.h: sums the flat gradient buffer across ranks in contiguous buckets, each started
// (non-blocking) as soon as backward has finished it, so communication overlaps the rest of
// backward (issue 4). Backward reports finished ranges from the end of the buffer to its start
// (model.h: the ranges tile the buffer once, in decreasing order); a bucket is launched whenever
// the finished-but-unsent tail reaches bucket_bytes. grad_reduce_finish() sends the rest and waits.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "dist/comm.h"

#define GRAD_REDUCE_MAX_BUCKETS 4096

typedef struct {
    Comm *comm;
    float *grads;
    size_t n;              // floats in the buffer
    size_t bucket_floats;  // launch threshold (0 = one blocking all-reduce after backward)
    size_t unsent_hi;      // [lo, unsent_hi) is finished but not yet launched
    size_t lo;
    CommRequest reqs[GRAD_REDUCE_MAX_BUCKETS];
    int n_reqs;
    // statistics of the last step (seconds)
    double t_finish_wait;  // time spent waiting in grad_reduce_finish (communication not hidden)
    int buckets_launched;
} GradReducer;

// bucket_bytes 0 disables overlap (one blocking all-reduce in grad_reduce_finish).
void grad_reduce_init(GradReducer *r, Comm *comm, float *grads, size_t n, size_t bucket_bytes);
// Call before the backward pass whose gradients are to be reduced.
void grad_reduce_begin(GradReducer *r);
// The model's grad hook (GradReadyFn): user = the GradReducer.
void grad_reduce_on_ready(void *user, size_t offset, size_t count);
// Launches what is left and waits until the whole buffer holds the sum over ranks.
void grad_reduce_finish(GradReducer *r);
void grad_reduce_free(GradReducer *r);
