// threads.h: how many compute threads a process uses. Ranks x threads must not oversubscribe the
// cores: by default each of the `local_ranks` processes on a node gets cores/local_ranks threads
// (cores = the CPUs this process may run on). OMP_NUM_THREADS, when set, wins.
#pragma once

// Sets OpenMP's and OpenBLAS's thread counts; returns the count chosen.
int threads_configure(int local_ranks);
// CPUs in this process's affinity mask.
int threads_available_cpus(void);
