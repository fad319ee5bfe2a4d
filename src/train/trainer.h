// trainer.h: one training run (spec §4, §5): the data-parallel step loop, validation, early
// stopping, LR schedule, best-n model files, resumable training state and the run folder.
// Every rank runs the same loop on its slice of each global batch; rank 0 alone writes files.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "data/dataset.h"
#include "dist/comm.h"
#include "model/model.h"
#include "train/lr_schedule.h"
#include "infer/metrics.h"
#include "infer/model_io.h"

#define TRAINER_MAX_SAVED 64

typedef struct {
    long iteration;
    double score;
    char *path;
} SavedModel;

// Everything that changes during a run and must survive a resume, bit for bit.
typedef struct {
    long iteration;       // completed iterations (global batches)
    long epoch;           // current epoch (0-based)
    long iter_in_epoch;   // next iteration inside the epoch
    long optimizer_steps; // AdamW steps taken (bias correction)
    RunningAverage loss_avg;
    RunningAverage *target_loss_avg;  // [n_targets]
    double es_best;       // early stopping: best perf-average
    int es_counter;
    bool stopped_early;
    int n_saved;
    SavedModel saved[TRAINER_MAX_SAVED];
    // histories (for the log files and curves): train rows every iteration, valid rows per validation
    long n_train_hist, cap_train_hist;
    double *train_hist;   // [n x (2 + n_targets)]: iteration, loss-average, per-target loss
    long n_valid_hist, cap_valid_hist;
    double *valid_hist;   // [n x (3 + 5 * n_targets)]: iteration, loss-average, perf-average, per target acc, ap, loss, mcc, roc
    long n_crops_hist, cap_crops_hist;
    double *crops_hist;   // the same rows for validation by crops (evaluation_crops != 1; else empty)
} TrainProgress;

typedef struct {
    const char *resume_folder;  // NULL for a fresh run
    int interrupt_exit_code;    // exit code after a signal-triggered state save (75)
    bool cuda;                  // train on this rank's GPU (CUDA backend) instead of the CPU
    int cuda_math;              // CudaMath of the matrix products: 0 fp32, 1 tf32, 2 bf16
    // environment knobs, read once at start-up (train_options_read_env)
    double bucket_mb;           // EIR_DIST_BUCKET_MB: gradient bucket size (0 = one blocking all-reduce;
                                // unset, -1: train_bucket_bytes picks the device's default)
    long interrupt_at;          // EIR_DIST_INTERRUPT_AT: act as if SIGUSR1 came in this iteration (0: never)
    bool gpu_comm_mpi;          // EIR_DIST_GPU_COMM=mpi: GPU gradients over MPI on host copies, not NCCL
    uint64_t seed;              // EIR_SEED: the train/valid split and every random stream (0 when unset, as EIR)
} TrainOptions;

// The defaults above, then the EIR_DIST_* environment variables; -1 with a message naming the
// variable when one is malformed.
int train_options_read_env(TrainOptions *opt, char *err, size_t errlen);

// One run's lifecycle. Every rank calls each function (they contain collectives).
typedef struct Trainer Trainer;
// Model, data shards, optimizer state, buffers, the run folder (rank 0), the device; loads the
// training state when opt->resume_folder is set. Dies with a message on any error.
Trainer *trainer_init(const ExperimentConfig *cfg, DataSetup *setup, Comm *comm, uint64_t seed, const TrainOptions *opt);
// Iteration trainer_iteration(t) + 1: forward, backward, the gradient all-reduce and AdamW when
// an optimizer step is due; appends the train history row. Returns the global loss and fills
// target_losses[n_targets]. Allocates nothing.
double trainer_step(Trainer *t, double *target_losses);
// Validation of the current parameters and EIR's handlers (early stopping, LR plateau, best-n
// model files, history files); final_extra: the extra validation after the last iteration.
// Returns true when early stopping ends the run.
bool trainer_evaluate(Trainer *t, bool final_extra);
// The resumable training state (rank 0 writes it, atomically).
void trainer_save_state(Trainer *t);
// Rewrites the history files and curves (rank 0).
void trainer_flush_files(Trainer *t);
// Releases everything trainer_init took: device, communicators, threads, files, memory.
void trainer_free(Trainer *t);
long trainer_iteration(const Trainer *t);

// Runs training to the end (or early stop, or a signal). Returns the process exit code.
int train_run(const ExperimentConfig *cfg, DataSetup *setup, Comm *comm, uint64_t seed, const TrainOptions *opt);

// Names and files of the run folder (spec §5).
char *run_checkpoint_name(const char *output_folder, long iteration, double score);

// Gradient bucket size in bytes for a device: EIR_DIST_BUCKET_MB when set, else 0 (one blocking
// all-reduce after backward) for CPU ranks, whose communication thread would take backward's
// cycles on nodes where every core computes, and 4 MiB for GPU ranks (NCCL on its own stream).
size_t train_bucket_bytes(const TrainOptions *opt, bool gpu);
