// comm_single.c: comm.h for a build without MPI (CMake -DEIR_MPI=OFF): one process, rank 0 of 1,
// every collective a no-op or a copy, exactly what comm_mpi.c does for a one-rank job. For
// machines with no MPI library (a workstation, a GPU image; see bench/gpu-bundle.sh). Started by a
// launcher as one of several ranks, it refuses rather than train N unrelated copies of the model.
#include "dist/comm.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

const char *comm_backend_name(void) { return "none (built without MPI: one process)"; }

// The job size a launcher announces: Open MPI's mpirun, MPICH/Hydra and Slurm's srun (per step;
// SLURM_NTASKS alone is the allocation, where a batch script is still one process).
static int launcher_size(const char **var) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) {
            *var = vars[i];
            return atoi(v);
        }
    }
    return 1;
}

void comm_init(Comm *c, int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    memset(c, 0, sizeof *c);
    c->size = c->local_size = 1;
    c->thread_serialized = true;  // nothing to serialize: no collective ever leaves the process
    const char *var = NULL;
    int n = launcher_size(&var);
    if (n > 1)
        eir_die_user("this build has no MPI (EIR_MPI=OFF) and runs as one process, but the launcher started "
                     "%d (%s=%d): run it without mpirun/srun, or rebuild with MPI (cmake -DEIR_MPI=ON)",
                     n, var, n);
}

void comm_finalize(Comm *c) { (void)c; }
void comm_set_startup_mode(Comm *c, bool startup) { (void)c, (void)startup; }
void comm_abort(Comm *c, int code) {
    (void)c;
    exit(code);
}

void comm_allreduce_sum_f32(Comm *c, float *buf, size_t n) { (void)c, (void)buf, (void)n; }
void comm_allreduce_sum_f64(Comm *c, double *buf, size_t n) { (void)c, (void)buf, (void)n; }
void comm_allreduce_max_i32(Comm *c, int32_t *buf, size_t n) { (void)c, (void)buf, (void)n; }
void comm_bcast(Comm *c, void *buf, size_t bytes, int root) { (void)c, (void)buf, (void)bytes, (void)root; }

void *comm_gatherv(Comm *c, const void *buf, size_t bytes, int root, size_t *total) {
    (void)c, (void)root;
    void *out = malloc_check(bytes ? bytes : 1);
    if (bytes) memcpy(out, buf, bytes);
    if (total) *total = bytes;
    return out;
}

void comm_barrier(Comm *c) { (void)c; }
