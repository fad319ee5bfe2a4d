// threads.c: per-rank thread counts for OpenMP and OpenBLAS.
#define _GNU_SOURCE
#include "common/threads.h"

#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);  // cblas.h of some builds lacks it

int threads_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int threads_configure(int local_ranks) {
    int n;
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && atoi(env) > 0) {
        n = atoi(env);
    } else {
        // the affinity mask may already be per rank (mpirun --bind-to, srun): then it is our share
        int cpus = threads_available_cpus();
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = (cpus < online) ? cpus : cpus / (local_ranks > 0 ? local_ranks : 1);
        if (n < 1) n = 1;
    }
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}
