// grad_reduce_nccl.h: the GPU twin of grad_reduce.h: sums the device gradient buffer over ranks
// with NCCL in contiguous buckets, each queued as soon as backward has finished it (the model
// reports finished ranges last to first, with the stream that computes them). A bucket's
// all-reduce waits for that stream through an event and runs on NCCL's own stream, so backward
// goes on while it is summed; nothing waits on the host. grad_reduce_nccl_finish queues the rest
// and makes the compute stream wait for every all-reduce (clipping and AdamW come after).
// Available only with the CUDA backend (EIR_HAVE_CUDA).
#pragma once
#include <stddef.h>

#include "dist/comm_nccl.h"

typedef struct {
    NcclComm *nc;
    float *grads;          // device
    size_t n;              // floats in the buffer
    size_t bucket_floats;  // 0 = one all-reduce of the whole buffer in finish
    size_t unsent_hi;      // [lowest finished offset, unsent_hi) is finished but not yet queued
    int buckets_launched;  // in the last step
} NcclGradReducer;

void grad_reduce_nccl_init(NcclGradReducer *r, NcclComm *nc, float *grads, size_t n, size_t bucket_bytes);
void grad_reduce_nccl_begin(NcclGradReducer *r);
// The ModelCuda grad hook (CudaGradReadyFn): user = the NcclGradReducer.
void grad_reduce_nccl_on_ready(void *user, size_t offset, size_t count, void *stream);
// Queues what is left; `stream` then waits (on the device) for the whole sum.
void grad_reduce_nccl_finish(NcclGradReducer *r, void *stream);
