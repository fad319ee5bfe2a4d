// grad_reduce.c: the MPI transport of grad_bucketer.h: buckets summed on a communication thread.
#include "dist/grad_reduce.h"

#include <string.h>

#include "common/util.h"

static void *comm_thread_main(void *arg) {
    GradReducer *r = arg;
    PTHREAD_CHECK(pthread_mutex_lock(&r->mu));
    for (;;) {
        while (r->q_head == r->q_tail && !r->quit) PTHREAD_CHECK(pthread_cond_wait(&r->cv_work, &r->mu));
        if (r->q_head == r->q_tail && r->quit) break;
        size_t lo = r->q_lo[r->q_head], hi = r->q_hi[r->q_head];
        r->busy = true;
        PTHREAD_CHECK(pthread_mutex_unlock(&r->mu));
        comm_allreduce_sum_f32(r->comm, r->grads + lo, hi - lo);
        PTHREAD_CHECK(pthread_mutex_lock(&r->mu));
        r->q_head++;
        r->busy = false;
        PTHREAD_CHECK(pthread_cond_broadcast(&r->cv_done));
    }
    PTHREAD_CHECK(pthread_mutex_unlock(&r->mu));
    return NULL;
}

// GradTransport.send: queue the bucket for the thread, or (no thread) sum it here and now
static void mpi_send(void *ctx, size_t lo, size_t hi, void *stream) {
    GradReducer *r = ctx;
    if (r->comm->size == 1) return;
    if (!r->thread_started) {
        comm_allreduce_sum_f32(r->comm, r->grads + lo, hi - lo);
        return;
    }
    PTHREAD_CHECK(pthread_mutex_lock(&r->mu));
    if (r->q_tail == GRAD_REDUCE_MAX_BUCKETS) eir_die("grad_reduce: bucket queue full");
    r->q_lo[r->q_tail] = lo;
    r->q_hi[r->q_tail] = hi;
    r->q_tail++;
    PTHREAD_CHECK(pthread_cond_signal(&r->cv_work));
    PTHREAD_CHECK(pthread_mutex_unlock(&r->mu));
}

// GradTransport.wait: until the thread has summed every queued bucket
static void mpi_wait(void *ctx, void *stream) {
    GradReducer *r = ctx;
    if (!r->thread_started) return;
    PTHREAD_CHECK(pthread_mutex_lock(&r->mu));
    while (r->q_head != r->q_tail || r->busy) PTHREAD_CHECK(pthread_cond_wait(&r->cv_done, &r->mu));
    PTHREAD_CHECK(pthread_mutex_unlock(&r->mu));
}

void grad_reduce_init(GradReducer *r, Comm *comm, float *grads, size_t n, size_t bucket_bytes) {
    memset(r, 0, sizeof *r);
    r->comm = comm;
    r->grads = grads;
    size_t bucket_floats = bucket_bytes / sizeof(float);
    size_t min_bucket = n / (GRAD_REDUCE_MAX_BUCKETS - 2) + 1;  // never more buckets than the queue holds
    if (bucket_floats && bucket_floats < min_bucket) bucket_floats = min_bucket;
    if (comm->size == 1 || !comm->thread_serialized) bucket_floats = 0;  // nothing to overlap, or MPI cannot
    // A buffer that fits in one bucket would be one call sent when backward ends anyway: made on
    // this thread, it skips the hand-off to the communication thread (measured 9-13% of a step
    // with 2 ranks per 2-core node, docs/scaling.md).
    if (bucket_floats >= n) bucket_floats = 0;
    grad_bucketer_init(&r->bucketer, (GradTransport){.send = mpi_send, .wait = mpi_wait, .ctx = r, .name = "MPI"},
                       n, bucket_floats);
    PTHREAD_CHECK(pthread_mutex_init(&r->mu, NULL));
    PTHREAD_CHECK(pthread_cond_init(&r->cv_work, NULL));
    PTHREAD_CHECK(pthread_cond_init(&r->cv_done, NULL));
    if (bucket_floats) {
        PTHREAD_CHECK(pthread_create(&r->thread, NULL, comm_thread_main, r));
        r->thread_started = true;
    }
}

void grad_reduce_begin(GradReducer *r) {
    grad_bucketer_begin(&r->bucketer);
    r->buckets_launched = 0;
    r->t_finish_wait = 0;
    PTHREAD_CHECK(pthread_mutex_lock(&r->mu));
    r->q_head = r->q_tail = 0;
    PTHREAD_CHECK(pthread_mutex_unlock(&r->mu));
}

void grad_reduce_on_ready(void *user, size_t offset, size_t count) {
    GradReducer *r = user;
    grad_bucketer_ready(&r->bucketer, offset, count, NULL);
}

void grad_reduce_finish(GradReducer *r) {
    double t0 = now_seconds();
    grad_bucketer_finish(&r->bucketer, NULL);
    r->buckets_launched = r->comm->size > 1 ? r->bucketer.buckets_sent : 0;
    r->t_finish_wait = now_seconds() - t0;
}

void grad_reduce_free(GradReducer *r) {
    if (r->thread_started) {
        PTHREAD_CHECK(pthread_mutex_lock(&r->mu));
        r->quit = true;
        PTHREAD_CHECK(pthread_cond_signal(&r->cv_work));
        PTHREAD_CHECK(pthread_mutex_unlock(&r->mu));
        PTHREAD_CHECK(pthread_join(r->thread, NULL));
    }
    PTHREAD_CHECK(pthread_mutex_destroy(&r->mu));
    PTHREAD_CHECK(pthread_cond_destroy(&r->cv_work));
    PTHREAD_CHECK(pthread_cond_destroy(&r->cv_done));
    memset(r, 0, sizeof *r);
}
