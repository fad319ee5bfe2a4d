// comm_mpi.c: the MPI back-end of comm.h. Every MPI call is checked; a failure names the call.
#include "dist/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MPI_CHECK(call) mpi_check((call), #call, __FILE__, __LINE__)

static void mpi_check(int rc, const char *call, const char *file, int line) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    eir_die("MPI call failed: %s: %s (%s:%d)", call, msg, file, line);
}

static Comm *g_comm = NULL;

const char *comm_backend_name(void) {
    // first line of the library's own description, e.g. "Open MPI v4.1.4, package: ..." -> up to ','
    static char name[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(name, &len) != MPI_SUCCESS) return "MPI";
    name[strcspn(name, ",\n")] = 0;
    return name;
}

static void abort_hook(int code) {
    // Only abort the job when there is more than one rank; a lone process just exits.
    if (g_comm && g_comm->size > 1) MPI_Abort(*(MPI_Comm *)g_comm->mpi_comm, code);
}

void comm_init(Comm *c, int *argc, char ***argv) {
    memset(c, 0, sizeof *c);
    int inited = 0;
    MPI_CHECK(MPI_Initialized(&inited));
    if (!inited) {
        int provided;
        // SERIALIZED: the gradient all-reduce runs on its own thread while backward computes
        MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided));
        c->initialized_mpi = 1;
    }
    int level = MPI_THREAD_SINGLE;
    MPI_CHECK(MPI_Query_thread(&level));
    c->thread_serialized = level >= MPI_THREAD_SERIALIZED;
    MPI_Comm *comm = malloc_check(sizeof(MPI_Comm));
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, comm));
    // errors come back as codes so MPI_CHECK can name the call
    MPI_CHECK(MPI_Comm_set_errhandler(*comm, MPI_ERRORS_RETURN));
    c->mpi_comm = comm;
    MPI_CHECK(MPI_Comm_rank(*comm, &c->rank));
    MPI_CHECK(MPI_Comm_size(*comm, &c->size));
    MPI_Comm local;
    MPI_CHECK(MPI_Comm_split_type(*comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local));
    MPI_CHECK(MPI_Comm_rank(local, &c->local_rank));
    MPI_CHECK(MPI_Comm_size(local, &c->local_size));
    MPI_CHECK(MPI_Comm_free(&local));
    g_comm = c;
    eir_set_exit_hook(abort_hook);
}

static void finalize_hook(int code) {
    (void)code;
    if (g_comm && g_comm->initialized_mpi) MPI_Finalize();
}

void comm_set_startup_mode(Comm *c, bool startup) {
    eir_set_quiet_errors(startup && c->rank != 0);
    eir_set_exit_hook(startup ? finalize_hook : abort_hook);
}

void comm_finalize(Comm *c) {
    if (!c->mpi_comm) return;
    MPI_Comm_free((MPI_Comm *)c->mpi_comm);
    free(c->mpi_comm);
    c->mpi_comm = NULL;
    g_comm = NULL;
    eir_set_exit_hook(NULL);
    if (c->initialized_mpi) MPI_Finalize();
}

void comm_abort(Comm *c, int code) {
    if (c->size > 1) MPI_Abort(*(MPI_Comm *)c->mpi_comm, code);
    exit(code);
}

#define COMM(c) (*(MPI_Comm *)(c)->mpi_comm)
// MPI counts are int: large buffers go in chunks
#define CHUNK ((size_t)1 << 30)

// In-place all-reduce of n elements of esize bytes, in chunks MPI's int counts can hold.
static void allreduce_chunked(Comm *c, void *buf, size_t n, size_t esize, MPI_Datatype type, MPI_Op op) {
    if (c->size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * esize, (int)k, type, op, COMM(c)));
    }
}

void comm_allreduce_sum_f32(Comm *c, float *buf, size_t n) { allreduce_chunked(c, buf, n, sizeof *buf, MPI_FLOAT, MPI_SUM); }
void comm_allreduce_sum_f64(Comm *c, double *buf, size_t n) {
    allreduce_chunked(c, buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM);
}
void comm_allreduce_max_i32(Comm *c, int32_t *buf, size_t n) {
    allreduce_chunked(c, buf, n, sizeof *buf, MPI_INT32_T, MPI_MAX);
}

void comm_bcast(Comm *c, void *buf, size_t bytes, int root) {
    if (c->size == 1) return;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t k = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_CHECK(MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, COMM(c)));
    }
}

void *comm_gatherv(Comm *c, const void *buf, size_t bytes, int root, size_t *total) {
    if (bytes > INT_MAX) eir_die("comm_gatherv: block of %zu bytes is too large", bytes);
    if (c->size == 1) {
        void *out = malloc_check(bytes);
        memcpy(out, buf, bytes);
        if (total) *total = bytes;
        return out;
    }
    int mine = (int)bytes;
    int *counts = NULL, *displs = NULL;
    char *out = NULL;
    if (c->rank == root) {
        counts = malloc_check(sizeof(int) * (size_t)c->size);
        displs = malloc_check(sizeof(int) * (size_t)c->size);
    }
    MPI_CHECK(MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, root, COMM(c)));
    if (c->rank == root) {
        size_t sum = 0;
        for (int r = 0; r < c->size; r++) {
            displs[r] = (int)sum;
            sum += (size_t)counts[r];
        }
        if (sum > INT_MAX) eir_die("comm_gatherv: %zu bytes in total is too large", sum);
        out = malloc_check(sum);
        if (total) *total = sum;
    }
    MPI_CHECK(MPI_Gatherv(buf, mine, MPI_BYTE, out, counts, displs, MPI_BYTE, root, COMM(c)));
    free(counts);
    free(displs);
    return out;
}

void comm_barrier(Comm *c) {
    if (c->size > 1) MPI_CHECK(MPI_Barrier(COMM(c)));
}
