// tests/gpu/emu/nccl.h: NCCL for the CPU emulation (cuda_runtime.h beside it), over MPI: the
// communicator is a duplicate of MPI_COMM_WORLD, and the collectives are the blocking MPI ones on
// host memory (device memory is host memory here). A collective first runs what its stream has
// queued (the emulation's streams are lazy: cuda_runtime.h), then runs at once, so the ranks'
// MPI calls come in the host's order and a collective that has returned has "run on its stream". What src/dist/comm_nccl.cu calls, and the usual rest:
// unique id, init / finalize / destroy / abort, count and rank, group start / end (no-ops: every
// call completes on its own, so grouped point-to-point calls are not emulated), all-reduce,
// broadcast, reduce, all-gather, reduce-scatter. The enum values are the real nccl.h's.
// Needs the MPI job the ranks run in (MPI_Init done, as comm_init does) and the ranks of the NCCL
// communicator = the ranks of MPI_COMM_WORLD, in the same order.
#pragma once
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1  // the C API only: Open MPI's mpi.h would pull in its C++ bindings
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_runtime.h"

#define NCCL_MAJOR 2
#define NCCL_MINOR 0
#define NCCL_PATCH 0
#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
    char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

typedef enum {
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,
    ncclInternalError = 3,
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6,
    ncclInProgress = 7,
} ncclResult_t;
typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;
typedef enum {
    ncclInt8 = 0,
    ncclChar = 0,
    ncclUint8 = 1,
    ncclInt32 = 2,
    ncclInt = 2,
    ncclUint32 = 3,
    ncclInt64 = 4,
    ncclUint64 = 5,
    ncclFloat16 = 6,
    ncclHalf = 6,
    ncclFloat32 = 7,
    ncclFloat = 7,
    ncclFloat64 = 8,
    ncclDouble = 8,
    ncclBfloat16 = 9,
} ncclDataType_t;

struct emu_nccl {
    MPI_Comm comm;
    int rank, size;
    char last_error[256];
};
typedef struct emu_nccl *ncclComm_t;

namespace emu {
inline char *nccl_last_error() {
    static thread_local char msg[256];
    return msg;
}
inline ncclResult_t nccl_fail(ncclComm_t comm, ncclResult_t r, const char *what) {
    snprintf(nccl_last_error(), 256, "emulated NCCL: %s", what);
    if (comm) snprintf(comm->last_error, sizeof comm->last_error, "emulated NCCL: %s", what);
    return r;
}
// MPI type and op of an NCCL one; false where MPI has none (half, bfloat16, average).
inline bool nccl_mpi_type(ncclDataType_t t, MPI_Datatype *m, size_t *bytes) {
    switch (t) {
    case ncclInt8: *m = MPI_INT8_T, *bytes = 1; return true;
    case ncclUint8: *m = MPI_UINT8_T, *bytes = 1; return true;
    case ncclInt32: *m = MPI_INT32_T, *bytes = 4; return true;
    case ncclUint32: *m = MPI_UINT32_T, *bytes = 4; return true;
    case ncclInt64: *m = MPI_INT64_T, *bytes = 8; return true;
    case ncclUint64: *m = MPI_UINT64_T, *bytes = 8; return true;
    case ncclFloat32: *m = MPI_FLOAT, *bytes = 4; return true;
    case ncclFloat64: *m = MPI_DOUBLE, *bytes = 8; return true;
    default: return false;
    }
}
inline bool nccl_mpi_op(ncclRedOp_t op, MPI_Op *m) {
    switch (op) {
    case ncclSum: *m = MPI_SUM; return true;
    case ncclProd: *m = MPI_PROD; return true;
    case ncclMax: *m = MPI_MAX; return true;
    case ncclMin: *m = MPI_MIN; return true;
    default: return false;
    }
}
// The start of every collective: runs what its stream has queued before it (the emulation's
// streams are lazy), then the common checks; fills the MPI type and the element size.
inline ncclResult_t nccl_start(ncclComm_t comm, ncclDataType_t t, cudaStream_t stream, MPI_Datatype *m, size_t *bytes) {
    drain(queue_of(stream));
    if (!comm) return nccl_fail(comm, ncclInvalidArgument, "null communicator");
    if (!nccl_mpi_type(t, m, bytes)) return nccl_fail(comm, ncclInvalidArgument, "data type not emulated");
    return ncclSuccess;
}
const size_t NCCL_CHUNK = (size_t)1 << 30;  // elements per MPI call: MPI counts are ints
}  // namespace emu

inline const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (emulated NCCL)";
    case ncclSystemError: return "unhandled system error (emulated NCCL: an MPI call failed)";
    case ncclInternalError: return "internal error (emulated NCCL)";
    case ncclInvalidArgument: return "invalid argument (emulated NCCL)";
    case ncclInvalidUsage: return "invalid usage (emulated NCCL)";
    case ncclRemoteError: return "remote process exited or there was a network error (emulated NCCL)";
    case ncclInProgress: return "NCCL operation in progress (emulated NCCL)";
    default: return "unknown result code (emulated NCCL)";
    }
}
inline const char *ncclGetLastError(ncclComm_t comm) { return comm ? comm->last_error : emu::nccl_last_error(); }
inline ncclResult_t ncclGetVersion(int *v) {
    *v = NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH;
    return ncclSuccess;
}
// The id carries nothing the emulation needs (the MPI job is the transport); a fixed tag shows
// that it came from here.
inline ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return emu::nccl_fail(nullptr, ncclInvalidArgument, "null unique id");
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "eir-dist emulated NCCL over MPI_COMM_WORLD");
    return ncclSuccess;
}
// Collective over MPI_COMM_WORLD: nranks must be its size and rank the caller's rank in it.
inline ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    (void)id;
    int inited = 0, wsize = 0, wrank = 0;
    if (!comm) return emu::nccl_fail(nullptr, ncclInvalidArgument, "null communicator pointer");
    *comm = nullptr;
    if (MPI_Initialized(&inited) != MPI_SUCCESS || !inited)
        return emu::nccl_fail(nullptr, ncclInvalidUsage, "MPI is not initialised (NCCL is emulated over MPI)");
    MPI_Comm_size(MPI_COMM_WORLD, &wsize);
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    if (nranks != wsize || rank != wrank) {
        char msg[200];
        snprintf(msg, sizeof msg, "ncclCommInitRank(nranks %d, rank %d) but MPI_COMM_WORLD has %d ranks, this one %d",
                 nranks, rank, wsize, wrank);
        return emu::nccl_fail(nullptr, ncclInvalidArgument, msg);
    }
    ncclComm_t c = (ncclComm_t)calloc(1, sizeof(struct emu_nccl));
    if (!c) return emu::nccl_fail(nullptr, ncclSystemError, "out of memory");
    if (MPI_Comm_dup(MPI_COMM_WORLD, &c->comm) != MPI_SUCCESS) {
        free(c);
        return emu::nccl_fail(nullptr, ncclSystemError, "MPI_Comm_dup failed");
    }
    c->rank = rank;
    c->size = nranks;
    *comm = c;
    return ncclSuccess;
}
inline ncclResult_t ncclCommFinalize(ncclComm_t comm) {
    return comm ? ncclSuccess : emu::nccl_fail(nullptr, ncclInvalidArgument, "null communicator");
}
inline ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    if (!comm) return ncclSuccess;  // as the real one
    MPI_Comm_free(&comm->comm);
    free(comm);
    return ncclSuccess;
}
inline ncclResult_t ncclCommAbort(ncclComm_t comm) { return ncclCommDestroy(comm); }
inline ncclResult_t ncclCommCount(const ncclComm_t comm, int *count) {
    if (!comm || !count) return emu::nccl_fail(comm, ncclInvalidArgument, "null argument");
    *count = comm->size;
    return ncclSuccess;
}
inline ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank) {
    if (!comm || !rank) return emu::nccl_fail(comm, ncclInvalidArgument, "null argument");
    *rank = comm->rank;
    return ncclSuccess;
}
inline ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device) {
    if (!comm || !device) return emu::nccl_fail(comm, ncclInvalidArgument, "null argument");
    return cudaGetDevice(device) == cudaSuccess ? ncclSuccess : ncclUnhandledCudaError;
}
inline ncclResult_t ncclGroupStart() { return ncclSuccess; }
inline ncclResult_t ncclGroupEnd() { return ncclSuccess; }

inline ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                                  ncclComm_t comm, cudaStream_t stream = nullptr) {
    MPI_Datatype mt;
    MPI_Op mo;
    size_t bytes;
    ncclResult_t r = emu::nccl_start(comm, type, stream, &mt, &bytes);
    if (r != ncclSuccess) return r;
    if (!emu::nccl_mpi_op(op, &mo)) return emu::nccl_fail(comm, ncclInvalidArgument, "reduction not emulated");
    for (size_t off = 0; off < count; off += emu::NCCL_CHUNK) {
        int n = (int)(count - off < emu::NCCL_CHUNK ? count - off : emu::NCCL_CHUNK);
        char *rp = (char *)recv + off * bytes;
        const void *sp = send == recv ? MPI_IN_PLACE : (const void *)((const char *)send + off * bytes);
        if (MPI_Allreduce(sp, rp, n, mt, mo, comm->comm) != MPI_SUCCESS)
            return emu::nccl_fail(comm, ncclSystemError, "MPI_Allreduce failed");
    }
    return ncclSuccess;
}
inline ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t type, int root,
                                  ncclComm_t comm, cudaStream_t stream = nullptr) {
    MPI_Datatype mt;
    size_t bytes;
    ncclResult_t r = emu::nccl_start(comm, type, stream, &mt, &bytes);
    if (r != ncclSuccess) return r;
    if (root < 0 || root >= comm->size) return emu::nccl_fail(comm, ncclInvalidArgument, "root out of range");
    if (comm->rank == root && send != recv) memmove(recv, send, count * bytes);
    for (size_t off = 0; off < count; off += emu::NCCL_CHUNK) {
        int n = (int)(count - off < emu::NCCL_CHUNK ? count - off : emu::NCCL_CHUNK);
        if (MPI_Bcast((char *)recv + off * bytes, n, mt, root, comm->comm) != MPI_SUCCESS)
            return emu::nccl_fail(comm, ncclSystemError, "MPI_Bcast failed");
    }
    return ncclSuccess;
}
inline ncclResult_t ncclBcast(void *buf, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                              cudaStream_t stream = nullptr) {
    return ncclBroadcast(buf, buf, count, type, root, comm, stream);
}
inline ncclResult_t ncclReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                               int root, ncclComm_t comm, cudaStream_t stream = nullptr) {
    MPI_Datatype mt;
    MPI_Op mo;
    size_t bytes;
    ncclResult_t r = emu::nccl_start(comm, type, stream, &mt, &bytes);
    if (r != ncclSuccess) return r;
    if (!emu::nccl_mpi_op(op, &mo)) return emu::nccl_fail(comm, ncclInvalidArgument, "reduction not emulated");
    if (root < 0 || root >= comm->size) return emu::nccl_fail(comm, ncclInvalidArgument, "root out of range");
    if (count > (size_t)INT_MAX) return emu::nccl_fail(comm, ncclInvalidArgument, "count > INT_MAX not emulated");
    const void *sp = send == recv && comm->rank == root ? MPI_IN_PLACE : send;
    if (MPI_Reduce(sp, recv, (int)count, mt, mo, root, comm->comm) != MPI_SUCCESS)
        return emu::nccl_fail(comm, ncclSystemError, "MPI_Reduce failed");
    return ncclSuccess;
}
// recv (size * count) = every rank's send (count) in rank order; in place when send is this
// rank's slot of recv.
inline ncclResult_t ncclAllGather(const void *send, void *recv, size_t count, ncclDataType_t type, ncclComm_t comm,
                                  cudaStream_t stream = nullptr) {
    MPI_Datatype mt;
    size_t bytes;
    ncclResult_t r = emu::nccl_start(comm, type, stream, &mt, &bytes);
    if (r != ncclSuccess) return r;
    if (count > (size_t)INT_MAX) return emu::nccl_fail(comm, ncclInvalidArgument, "count > INT_MAX not emulated");
    const void *sp = send == (const char *)recv + (size_t)comm->rank * count * bytes ? MPI_IN_PLACE : send;
    if (MPI_Allgather(sp, (int)count, mt, recv, (int)count, mt, comm->comm) != MPI_SUCCESS)
        return emu::nccl_fail(comm, ncclSystemError, "MPI_Allgather failed");
    return ncclSuccess;
}
// recv (count) = this rank's block of the reduction of every rank's send (size * count); in place
// when recv is this rank's block of send.
inline ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t count, ncclDataType_t type,
                                      ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream = nullptr) {
    MPI_Datatype mt;
    MPI_Op mo;
    size_t bytes;
    ncclResult_t r = emu::nccl_start(comm, type, stream, &mt, &bytes);
    if (r != ncclSuccess) return r;
    if (!emu::nccl_mpi_op(op, &mo)) return emu::nccl_fail(comm, ncclInvalidArgument, "reduction not emulated");
    if (count > (size_t)INT_MAX) return emu::nccl_fail(comm, ncclInvalidArgument, "count > INT_MAX not emulated");
    int rc;
    if (recv == (const char *)send + (size_t)comm->rank * count * bytes) {
        // MPI's in-place form takes the whole buffer and leaves the block at its start: go through a copy
        void *tmp = malloc(count * bytes > 0 ? count * bytes : 1);
        if (!tmp) return emu::nccl_fail(comm, ncclSystemError, "out of memory");
        rc = MPI_Reduce_scatter_block(send, tmp, (int)count, mt, mo, comm->comm);
        memcpy(recv, tmp, count * bytes);
        free(tmp);
    } else {
        rc = MPI_Reduce_scatter_block(send, recv, (int)count, mt, mo, comm->comm);
    }
    return rc == MPI_SUCCESS ? ncclSuccess : emu::nccl_fail(comm, ncclSystemError, "MPI_Reduce_scatter_block failed");
}
