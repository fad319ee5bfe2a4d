// bench_common.h: what the parts of eir-bench-train share: the tutorial model's config, its
// FLOP count, the synthetic batch, the process's peak memory and the BLAS kernel in use.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

// The EIR tutorial's model (spec §3: L=1024, d=64, W=128, 8 heads, 4 layers, avg pool, position
// embed, fusion/head 2 x 256, 2 classes) with its dropout, stochastic-depth and mixup settings.
void bench_tutorial_config(ModelConfig *mc);
// Matrix-product and attention FLOPs of one forward pass of one sample (multiply-add = 2).
double bench_forward_flops(const ModelConfig *mc);

// A batch of B rows for the tutorial model: byte tokens, labels, a mixup permutation.
typedef struct {
    int B;
    int32_t *tokens, *labels, *perm;
} BenchBatch;
void bench_batch_init(BenchBatch *b, int B, int L);
void bench_batch_free(BenchBatch *b);

// Peak resident set of this process so far (VmHWM), in MiB; -1 where /proc is not readable.
double bench_peak_rss_mib(void);
// The OpenBLAS kernel set chosen at load time ("Cooperlake", "Haswell", ...).
const char *bench_blas_core(void);

// Runs one step of a phase: warmup unmeasured ones, then measured ones until at least min_steps
// steps AND min_seconds seconds have gone by; returns the measured seconds and step count.
typedef void (*BenchStepFn)(void *ctx, long step);
double bench_run_phase(BenchStepFn fn, void *ctx, int warmup, int min_steps, double min_seconds, long *steps_out);

// The ceilings of this machine's sgemm at T threads (bench_sgemm.c).
typedef struct {
    double big_gflops;    // OpenBLAS sgemm 2048^3 on T threads (its own thread pool)
    double model_gflops;  // the forward GEMMs of one transformer layer of the model, one 1024-row
                          // sample block per call, blocks split over T OpenMP threads (as layers_linear.c)
    double check_rel_err; // worst relative error of sampled entries against a double-precision product
} SgemmCeiling;
void bench_sgemm_ceiling(SgemmCeiling *c, int threads, int batch, const ModelConfig *mc);

#ifdef EIR_HAVE_CUDA
// The training step and inference forward on GPU 0 (bench_train_cuda.c).
int bench_cuda(Model *m, const ModelConfig *mc, int B, int train_steps, int infer_steps, int math,
               const BenchBatch *batch);
#endif
