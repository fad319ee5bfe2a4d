// train_options.c: the environment knobs of a run (EIR_SEED and the EIR_DIST_* ones), read once at
// start-up into TrainOptions (nothing deeper in the trainer reads the environment). The process
// knobs that eir-serve and eir-predict share are read once by their own set-up: OMP_NUM_THREADS
// (common/threads.c) and EIR_CUDA_DEVICE (the device choice, model/cuda_common.cu).
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "data/split.h"
#include "train/trainer.h"

size_t train_bucket_bytes(const TrainOptions *opt, bool gpu) {
    double mb = opt->bucket_mb >= 0 ? opt->bucket_mb : gpu ? 4.0 : 0.0;
    return (size_t)(mb * 1024 * 1024);
}

int train_options_read_env(TrainOptions *opt, char *err, size_t errlen) {
    // -1: the device's default (train_bucket_bytes): measured in docs/scaling.md, "A slower network"
    opt->bucket_mb = -1.0;
    opt->interrupt_at = 0;
    opt->gpu_comm_mpi = false;
    if (split_seed_from_env(&opt->seed, err, errlen) != 0) return -1;
    const char *v = getenv("EIR_DIST_BUCKET_MB");
    if (v) {
        char *end;
        errno = 0;
        double mb = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(mb) || mb < 0 || mb > 65536)
            return err_fail(err, errlen, "EIR_DIST_BUCKET_MB='%s': expected a size in MiB between 0 and 65536 "
                            "(0: one blocking all-reduce after backward)", v);
        opt->bucket_mb = mb;
    }
    v = getenv("EIR_DIST_INTERRUPT_AT");
    if (v) {
        char *end;
        errno = 0;
        long it = strtol(v, &end, 10);
        if (end == v || *end || errno || it < 0)
            return err_fail(err, errlen, "EIR_DIST_INTERRUPT_AT='%s': expected an iteration number (0: never)", v);
        opt->interrupt_at = it;
    }
    v = getenv("EIR_DIST_GPU_COMM");
    if (v) {
        if (strcmp(v, "nccl") && strcmp(v, "mpi"))
            return err_fail(err, errlen, "EIR_DIST_GPU_COMM='%s': expected nccl or mpi", v);
        opt->gpu_comm_mpi = !strcmp(v, "mpi");
    }
    return 0;
}
