// grad_reduce_nccl.c: bucketed NCCL gradient all-reduce (grad_reduce_nccl.h).
#ifdef EIR_HAVE_CUDA
#include "dist/grad_reduce_nccl.h"

#include <string.h>

static void nccl_send(void *ctx, size_t lo, size_t hi, void *stream) {
    NcclGradReducer *r = ctx;
    nccl_allreduce_sum_f32(r->nc, r->grads + lo, hi - lo, stream);
}

static void nccl_wait(void *ctx, void *stream) { nccl_stream_wait(((NcclGradReducer *)ctx)->nc, stream); }

void grad_reduce_nccl_init(NcclGradReducer *r, NcclComm *nc, float *grads, size_t n, size_t bucket_bytes) {
    memset(r, 0, sizeof *r);
    r->nc = nc;
    r->grads = grads;
    grad_bucketer_init(&r->bucketer, (GradTransport){.send = nccl_send, .wait = nccl_wait, .ctx = r, .name = "NCCL"},
                       n, bucket_bytes / sizeof(float));
}

void grad_reduce_nccl_begin(NcclGradReducer *r) {
    grad_bucketer_begin(&r->bucketer);
    r->buckets_launched = 0;
}

void grad_reduce_nccl_on_ready(void *user, size_t offset, size_t count, void *stream) {
    NcclGradReducer *r = user;
    grad_bucketer_ready(&r->bucketer, offset, count, stream);
}

void grad_reduce_nccl_finish(NcclGradReducer *r, void *stream) {
    grad_bucketer_finish(&r->bucketer, stream);
    r->buckets_launched = r->bucketer.buckets_sent;
}
#else
typedef int grad_reduce_nccl_unused;  // no CUDA backend: nothing to build
#endif
