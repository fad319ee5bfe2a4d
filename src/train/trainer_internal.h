// trainer_internal.h: the Trainer struct shared by trainer.c (the loop), train_files.c (the run
// folder's logs, predictions and curves) and train_state.c (the resumable training state).
#pragma once
#include "dist/grad_reduce.h"
#include "train/optimizer.h"
#include "train/trainer.h"

typedef struct TrainerCuda TrainerCuda;  // trainer_cuda.c: the GPU side of a run

typedef struct {
    // per target: metrics of the latest validation
    CatMetrics *cat;      // [n_targets]
    double *con_loss, *con_r2, *con_pcc;
    double loss_average, perf_average;
} ValidResult;

struct Trainer {
    const ExperimentConfig *cfg;
    TrainOptions opt;
    DataSetup *setup;
    Comm *comm;
    uint64_t seed;
    bool root;
    char *run;  // output folder
    char *name; // its last path component: the checkpoint file prefix
    Dataset ds;
    Model model;
    int n_inputs, n_targets, local_rows, valid_chunk;
    float *adam_m, *adam_v;
    LRSchedule sched;
    TrainProgress prog;
    long iters_per_epoch, total_iters;
    ModelMeta meta;
    // batch buffers
    int32_t **tokens;     // [n_inputs][rows x L]
    float *targets;       // [rows x n_targets]
    int64_t *sample_idx;  // [rows]
    uint64_t *sample_ids; // [rows]
    int32_t **cls;        // [n_targets][rows]
    float **val;          // [n_targets][rows]
    TargetLabels *labels; // [n_targets]
    int32_t *mix_perm;
    // the loss reduction of a step: label counts and losses (2 x n_targets + 1), per-target losses
    double *loss_buf;
    float *loss_tl;
    // validation gather (root): logits and labels of the whole valid set, in valid order
    float **valid_logits;  // [n_targets][n_valid x K]
    float *valid_targets;  // [n_valid x n_targets]
    ValidResult vres;
    GradReducer reducer;
    double comm_wait_total;  // seconds waited for gradient all-reduces after backward
    double backward_total;   // seconds in backward (with the overlapped buckets)
    long comm_steps;
    double t_allreduce_alone;  // one blocking all-reduce of the whole buffer, timed at start
    TrainerCuda *cuda;  // NULL: the CPU trains
    int lock_fd;  // the run folder's lock (rank 0), held until trainer_free
};

// trainer_step.c: the pieces of a step that the CPU and GPU paths share
ForwardCtx trainer_step_ctx(Trainer *t, long step);
void trainer_label_counts(Trainer *t, int rows, double *buf);
double trainer_sum_losses(Trainer *t, double loss, const float *tl, double *buf, double *target_losses);
void trainer_prepare_grads(Trainer *t, float *grads, long step);
AdamWStep trainer_next_adamw_step(Trainer *t, long step);

// trainer_cuda.c (with the CUDA backend; elsewhere trainer_cuda_setup dies and nothing else is called)
// Sets the run up on this rank's GPU: device model, NCCL (several ranks), pinned batch buffers.
void trainer_cuda_setup(Trainer *t, const TrainOptions *opt);
// One iteration: forward, loss, backward, (when due) all-reduce + clipping + AdamW, the next
// batch's prefetch; returns the global loss as the CPU path does.
double trainer_cuda_step(Trainer *t, long step, double *target_losses);
void trainer_cuda_zero_grad(Trainer *t);
// Validation: eval forward of n rows of t->tokens, and target k's logits to host.
void trainer_cuda_forward_eval(Trainer *t, int n, const ForwardCtx *ctx);
void trainer_cuda_logits(Trainer *t, int k, float *out);
// Parameters (and, with moments, the AdamW state) to the host buffers that files are written
// from; and back after a resume.
void trainer_cuda_to_host(Trainer *t, bool moments);
void trainer_cuda_from_host(Trainer *t);
// Timing line of the gradient all-reduce (rank 0's log), or nothing.
void trainer_cuda_log_comm(Trainer *t);
// Releases the device, the pinned buffers and the NCCL communicator (collective: every rank calls
// it, before MPI ends) and sets t->cuda to NULL.
void trainer_cuda_free(Trainer *t);

// trainer_validate.c: the valid set's metrics (rank 0: t->vres) and EIR's handlers
void trainer_validate(Trainer *t);
// train_files.c
void run_folder_prepare(Trainer *t, bool resume);  // takes the run folder's lock into t->lock_fd
void run_files_append_train(Trainer *t);
void run_files_write_validation(Trainer *t, long iteration);
void run_files_rewrite_histories(Trainer *t);
void run_files_flush(Trainer *t);
void run_files_close(Trainer *t);
char *run_effective_config_json(const char *run);
// train_state.c
int train_state_save(Trainer *t, char *err, size_t errlen);
int train_state_load(Trainer *t, const char *path, char *err, size_t errlen);
char *train_state_path(const char *run);
