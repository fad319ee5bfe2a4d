// comm_nccl.h: NCCL all-reduce of DEVICE buffers for the CUDA backend (issue 7), beside the MPI
// collectives of comm.h, which still carry everything on the host (start-up, losses, counts,
// broadcasts). One GPU per local rank; the NCCL unique id is made by rank 0 and broadcast over the
// job's MPI communicator (comm_bcast). The all-reduces run on the communicator's own stream,
// ordered after the compute stream's work with CUDA events, so that gradient buckets can be
// summed while backward goes on:
//
//   backward of the last units on `compute`  ->  nccl_allreduce_sum_f32(nc, bucket, n, compute)
//   (backward continues on `compute` while the bucket is summed on nc's stream)
//   nccl_stream_wait(nc, compute)  ->  clipping / AdamW on `compute` see the summed gradients
//
// Plain C; streams are cudaStream_t passed as void*. Available only with EIR_HAVE_CUDA.
#pragma once
#include <stddef.h>

#include "dist/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct NcclComm NcclComm;

// Collective over every rank of c (each must call it). Selects the rank's GPU (cuda_pick_device,
// model_cuda.h: dies naming the rank when no GPU fits), creates the NCCL communicator and its
// stream. Dies with the NCCL/CUDA error on failure.
NcclComm *nccl_comm_create(Comm *c);
void nccl_comm_destroy(NcclComm *nc);
// The CUDA device this rank uses.
int nccl_comm_device(const NcclComm *nc);
// Sums buf (device, n floats) over all ranks in place. Runs on nc's stream after everything queued
// so far on `after` (a cudaStream_t; NULL = the legacy default stream); returns at once. Every
// rank must issue the same sequence of calls with the same sizes.
void nccl_allreduce_sum_f32(NcclComm *nc, float *buf, size_t n, void *after);
// Makes `stream` wait, on the device, for every all-reduce queued so far (the host goes on).
void nccl_stream_wait(NcclComm *nc, void *stream);
// Blocks the host until every all-reduce queued so far has finished.
void nccl_synchronize(NcclComm *nc);

#ifdef __cplusplus
}
#endif
