// grad_reduce.h: sums the flat gradient buffer across ranks with MPI, in the buckets of
// grad_bucketer.h, each reduced as soon as backward has finished it, so communication overlaps
// the rest of backward. The buckets go to a communication thread, which runs the all-reduces
// while the compute threads go on (MPI only progresses inside MPI calls, so a thread that sits
// in them is what makes the overlap real). grad_reduce_finish() sends the rest and waits for the
// thread. Only that thread calls MPI between begin and finish (MPI_THREAD_SERIALIZED suffices).
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "dist/comm.h"
#include "dist/grad_bucketer.h"

#define GRAD_REDUCE_MAX_BUCKETS 4096

typedef struct {
    Comm *comm;
    float *grads;
    GradBucketer bucketer;
    // queue of buckets for the communication thread
    size_t q_lo[GRAD_REDUCE_MAX_BUCKETS], q_hi[GRAD_REDUCE_MAX_BUCKETS];
    int q_head, q_tail;    // [head, tail) pending
    bool busy, quit, thread_started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    // statistics of the last step
    double t_finish_wait;  // seconds waited in grad_reduce_finish: communication not hidden by backward
    int buckets_launched;
} GradReducer;

// bucket_bytes 0 disables overlap (one blocking all-reduce in grad_reduce_finish); so does an MPI
// without MPI_THREAD_SERIALIZED.
void grad_reduce_init(GradReducer *r, Comm *comm, float *grads, size_t n, size_t bucket_bytes);
// Call before the backward pass whose gradients are to be reduced.
void grad_reduce_begin(GradReducer *r);
// The model's grad hook (GradReadyFn): user = the GradReducer.
void grad_reduce_on_ready(void *user, size_t offset, size_t count);
// Sends what is left and waits until the whole buffer holds the sum over ranks.
void grad_reduce_finish(GradReducer *r);
void grad_reduce_free(GradReducer *r);
