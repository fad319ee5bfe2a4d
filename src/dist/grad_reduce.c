// grad_reduce.c: bucketed, backward-overlapped gradient all-reduce.
#include "dist/grad_reduce.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void grad_reduce_init(GradReducer *r, Comm *comm, float *grads, size_t n, size_t bucket_bytes) {
    memset(r, 0, sizeof *r);
    r->comm = comm;
    r->grads = grads;
    r->n = n;
    r->bucket_floats = bucket_bytes / sizeof(float);
    // never more buckets than the request table holds
    size_t min_bucket = n / (GRAD_REDUCE_MAX_BUCKETS - 1) + 1;
    if (r->bucket_floats && r->bucket_floats < min_bucket) r->bucket_floats = min_bucket;
}

void grad_reduce_begin(GradReducer *r) {
    r->unsent_hi = r->n;
    r->lo = r->n;
    r->n_reqs = 0;
    r->buckets_launched = 0;
    r->t_finish_wait = 0;
}

static void launch(GradReducer *r, size_t lo, size_t hi) {
    if (hi <= lo) return;
    if (r->n_reqs == GRAD_REDUCE_MAX_BUCKETS) eir_die("grad_reduce: too many buckets in flight");
    comm_iallreduce_sum_f32(r->comm, r->grads + lo, hi - lo, &r->reqs[r->n_reqs++]);
    r->buckets_launched++;
}

void grad_reduce_on_ready(void *user, size_t offset, size_t count) {
    GradReducer *r = user;
    if (offset + count != r->lo) eir_die("grad_reduce: gradient ranges out of order (%zu+%zu, expected end %zu)", offset, count, r->lo);
    r->lo = offset;
    if (r->bucket_floats && r->unsent_hi - r->lo >= r->bucket_floats) {
        launch(r, r->lo, r->unsent_hi);
        r->unsent_hi = r->lo;
    }
    // Open MPI progresses non-blocking collectives only inside MPI calls: poke them here
    for (int i = 0; i < r->n_reqs; i++) comm_test(r->comm, &r->reqs[i]);
}

void grad_reduce_finish(GradReducer *r) {
    double t0 = now_seconds();
    if (r->comm->size > 1) {
        if (r->bucket_floats == 0) {
            comm_allreduce_sum_f32(r->comm, r->grads, r->n);
        } else {
            launch(r, 0, r->unsent_hi);
            r->unsent_hi = 0;
            for (int i = 0; i < r->n_reqs; i++) comm_wait(r->comm, &r->reqs[i]);
        }
    }
    r->n_reqs = 0;
    r->t_finish_wait = now_seconds() - t0;
}

void grad_reduce_free(GradReducer *r) {
    for (int i = 0; i < GRAD_REDUCE_MAX_BUCKETS; i++) free(r->reqs[i].req);
    memset(r, 0, sizeof *r);
}
