// comm_nccl.cu: the NCCL communicator of comm_nccl.h: bootstrap over MPI, one GPU per local rank,
// in-place sum all-reduces on a dedicated stream ordered by CUDA events.
#include <stdlib.h>

#include "model/cuda_common.h"

extern "C" int cuda_pick_device(int rank, int local_rank, int local_size);  // model_cuda.h

extern "C" {
#include "dist/comm_nccl.h"
}

struct NcclComm {
    ncclComm_t comm;
    cudaStream_t stream;   // all-reduces run here
    cudaEvent_t ready;     // recorded on the caller's stream: the bucket is final
    cudaEvent_t done;      // recorded on `stream` after the last all-reduce queued
    int device, rank, size;
};

extern "C" NcclComm *nccl_comm_create(Comm *c) {
    NcclComm *nc = (NcclComm *)calloc(1, sizeof(NcclComm));
    if (!nc) eir_die("out of memory (NCCL communicator)");
    nc->device = cuda_pick_device(c->rank, c->local_rank, c->local_size);
    nc->rank = c->rank;
    nc->size = c->size;
    CUDA_CHECK(cudaSetDevice(nc->device));
    ncclUniqueId id;
    if (c->rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    comm_bcast(c, &id, sizeof id, 0);  // MPI carries the id; NCCL then sets up its own transport
    NCCL_CHECK(ncclCommInitRank(&nc->comm, c->size, id, c->rank));
    CUDA_CHECK(cudaStreamCreateWithFlags(&nc->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&nc->ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&nc->done, cudaEventDisableTiming));
    return nc;
}

extern "C" void nccl_comm_destroy(NcclComm *nc) {
    if (!nc) return;
    CUDA_CHECK(cudaStreamSynchronize(nc->stream));
    NCCL_CHECK(ncclCommFinalize(nc->comm));
    NCCL_CHECK(ncclCommDestroy(nc->comm));
    CUDA_CHECK(cudaEventDestroy(nc->ready));
    CUDA_CHECK(cudaEventDestroy(nc->done));
    CUDA_CHECK(cudaStreamDestroy(nc->stream));
    free(nc);
}

extern "C" int nccl_comm_device(const NcclComm *nc) { return nc->device; }

extern "C" void nccl_allreduce_sum_f32(NcclComm *nc, float *buf, size_t n, void *after) {
    if (n == 0) return;
    // cudaStreamWaitEvent waits for the event's most recent record at the time of the call, so
    // one `ready` event serves every bucket in turn.
    CUDA_CHECK(cudaEventRecord(nc->ready, STREAM(after)));
    CUDA_CHECK(cudaStreamWaitEvent(nc->stream, nc->ready, 0));
    NCCL_CHECK(ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, nc->comm, nc->stream));
    CUDA_CHECK(cudaEventRecord(nc->done, nc->stream));
}

extern "C" void nccl_stream_wait(NcclComm *nc, void *stream) {
    // `done` was last recorded after the last all-reduce; unrecorded, the wait is a no-op
    CUDA_CHECK(cudaStreamWaitEvent(STREAM(stream), nc->done, 0));
}

extern "C" void nccl_synchronize(NcclComm *nc) { CUDA_CHECK(cudaStreamSynchronize(nc->stream)); }
