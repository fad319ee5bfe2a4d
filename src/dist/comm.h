// comm.h: the collectives training needs, behind one small interface (spec §10). Back-ends: MPI
// on host buffers (comm_mpi.c), or none (comm_single.c, CMake -DEIR_MPI=OFF: one process); NCCL
// on device buffers is comm_nccl.h. eir-dist without mpirun is one rank (MPI singleton), and
// every call then returns at once (gatherv copies). Counts are size_t: buffers beyond MPI's int
// counts go in chunks. All calls are blocking; gradient all-reduces overlap backward by running
// on grad_reduce.c's own thread, which is why MPI is initialised THREAD_SERIALIZED.
#pragma once
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int rank, size;
    int local_rank, local_size;  // within this node (shared-memory communicator)
    void *mpi_comm;              // MPI_Comm* of the training job
    int initialized_mpi;         // we called MPI_Init (so we call MPI_Finalize)
    bool thread_serialized;      // MPI allows calls from another thread (one at a time)
} Comm;

// Initialises MPI (threads: serialized) and fills rank/size; sets the error hooks so that a fatal
// error on any rank aborts the whole job (MPI_Abort) instead of leaving the others hanging.
void comm_init(Comm *c, int *argc, char ***argv);
// What carries the collectives, for --version and the log: the MPI library's name, or none.
const char *comm_backend_name(void);
void comm_finalize(Comm *c);
// Start-up mode (configs, data set-up): errors hit every rank alike, so a fatal error makes each
// rank finalize MPI and exit with the same code, rank 0 alone printing. Training mode (after
// start-up): a fatal error on any rank aborts the whole job at once (MPI_Abort), naming the rank.
void comm_set_startup_mode(Comm *c, bool startup);
// Ends every rank of the job with `code` (used by fatal errors).
void comm_abort(Comm *c, int code);

void comm_allreduce_sum_f32(Comm *c, float *buf, size_t n);
void comm_allreduce_sum_f64(Comm *c, double *buf, size_t n);
void comm_allreduce_max_i32(Comm *c, int32_t *buf, size_t n);
void comm_bcast(Comm *c, void *buf, size_t bytes, int root);
// Gathers variable-sized byte blocks to root (in rank order). Returns a malloc'd buffer on root
// (NULL elsewhere); *total receives the byte count on root.
void *comm_gatherv(Comm *c, const void *buf, size_t bytes, int root, size_t *total);
void comm_barrier(Comm *c);
