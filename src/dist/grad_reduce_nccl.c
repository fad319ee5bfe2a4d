// grad_reduce_nccl.c: bucketed NCCL gradient all-reduce (grad_reduce_nccl.h).
#ifdef EIR_HAVE_CUDA
#include "dist/grad_reduce_nccl.h"

#include <string.h>

#include "common/util.h"

void grad_reduce_nccl_init(NcclGradReducer *r, NcclComm *nc, float *grads, size_t n, size_t bucket_bytes) {
    memset(r, 0, sizeof *r);
    r->nc = nc;
    r->grads = grads;
    r->n = n;
    r->bucket_floats = bucket_bytes / sizeof(float);
}

void grad_reduce_nccl_begin(NcclGradReducer *r) {
    r->unsent_hi = r->n;
    r->buckets_launched = 0;
}

void grad_reduce_nccl_on_ready(void *user, size_t offset, size_t count, void *stream) {
    NcclGradReducer *r = user;
    if (offset + count > r->unsent_hi) eir_die("grad_reduce_nccl: range [%zu, +%zu) reported twice", offset, count);
    if (r->bucket_floats == 0 || r->unsent_hi - offset < r->bucket_floats) return;
    nccl_allreduce_sum_f32(r->nc, r->grads + offset, r->unsent_hi - offset, stream);
    r->unsent_hi = offset;
    r->buckets_launched++;
}

void grad_reduce_nccl_finish(NcclGradReducer *r, void *stream) {
    if (r->unsent_hi > 0) {
        nccl_allreduce_sum_f32(r->nc, r->grads, r->unsent_hi, stream);
        r->unsent_hi = 0;
        r->buckets_launched++;
    }
    nccl_stream_wait(r->nc, stream);
}
#else
typedef int grad_reduce_nccl_unused;  // no CUDA backend: nothing to build
#endif
