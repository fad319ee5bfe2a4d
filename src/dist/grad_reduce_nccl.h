// grad_reduce_nccl.h: the NCCL transport of grad_bucketer.h: sums the device gradient buffer over
// ranks in the bucketer's contiguous buckets. The model reports finished ranges with the stream
// that computes them; a bucket's all-reduce waits for that stream through an event and runs on
// NCCL's own stream, so backward goes on while it is summed and nothing waits on the host.
// grad_reduce_nccl_finish sends the rest and makes the compute stream wait for every all-reduce
// (clipping and AdamW come after). Available only with the CUDA backend (EIR_HAVE_CUDA).
#pragma once
#include <stddef.h>

#include "dist/comm_nccl.h"
#include "dist/grad_bucketer.h"

typedef struct {
    NcclComm *nc;
    float *grads;  // device
    GradBucketer bucketer;
    int buckets_launched;  // in the last step
} NcclGradReducer;

// bucket_bytes 0: one all-reduce of the whole buffer in finish
void grad_reduce_nccl_init(NcclGradReducer *r, NcclComm *nc, float *grads, size_t n, size_t bucket_bytes);
void grad_reduce_nccl_begin(NcclGradReducer *r);
// The ModelCuda grad hook (CudaGradReadyFn): user = the NcclGradReducer.
void grad_reduce_nccl_on_ready(void *user, size_t offset, size_t count, void *stream);
// Sends what is left; `stream` then waits (on the device) for the whole sum.
void grad_reduce_nccl_finish(NcclGradReducer *r, void *stream);
