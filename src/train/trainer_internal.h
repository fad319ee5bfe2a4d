// trainer_internal.h: the Trainer struct shared by trainer.c (the loop), train_files.c (the run
// folder's logs, predictions and curves) and train_state.c (the resumable training state).
#pragma once
#include "dist/grad_reduce.h"
#include "infer/crops.h"
#include "train/optimizer.h"
#include "train/train_device.h"
#include "train/trainer.h"

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
    // the next iteration's batch, loaded while the device runs the current one (step + 1)
    int32_t **pf_tokens;
    float *pf_targets;
    int64_t *pf_sample_idx;
    long pf_step;       // iteration the prefetched batch belongs to (0: none)
    bool pf_on_device;  // it was staged and nothing has used the staging since
    // the loss reduction of a step: label counts and losses (2 x n_targets + 1), per-target losses
    double *loss_buf;
    float *loss_tl;
    // validation gather (root): logits and labels of the whole valid set, in valid order
    float **valid_logits;  // [n_targets][n_valid x K]
    float *valid_targets;  // [n_valid x n_targets]
    ValidResult vres;
    // validation by crops (evaluation_crops != 1; trainer_crops.c): the runner (every rank), and
    // on rank 0 the latest metrics, the scores they came from and the mean crops per file
    bool eval_crops;
    CropRunner crops;
    ValidResult vres_crops;
    float **valid_logits_crops;  // [n_targets][n_valid x K]
    double crops_per_file;
    GradReducer reducer;
    double comm_wait_total;  // seconds waited for gradient all-reduces after backward
    double backward_total;   // seconds in backward (with the overlapped buckets)
    long comm_steps;
    double t_allreduce_alone;  // one blocking all-reduce of the whole buffer, timed at start
    const TrainDevice *dev;  // the CPU or this rank's GPU, chosen once in trainer_init
    void *dev_state;         // the device's own (train_device_cuda.c)
    int lock_fd;  // the run folder's lock (rank 0), held until trainer_free
};

// trainer_validate.c: the valid set's metrics (rank 0: t->vres) and EIR's handlers
void trainer_validate(Trainer *t);
// Floats per gathered valid row: each target's K scores, then the n_targets labels.
size_t trainer_valid_row_floats(const Trainer *t);
// Rank 0: the metrics of n gathered rows into v; logits[k] receives target k's scores [n x K].
void trainer_valid_metrics(Trainer *t, const float *all, int64_t n, float **logits, ValidResult *v);
// trainer_crops.c: the same metrics of the mean over each valid file's crops (rank 0: t->vres_crops)
void trainer_validate_crops(Trainer *t);
// train_files.c
void run_folder_prepare(Trainer *t, bool resume);  // takes the run folder's lock into t->lock_fd
void run_files_append_train(Trainer *t);
void run_files_write_validation(Trainer *t, long iteration);  // (and the crops row with eval_crops)
void run_files_rewrite_histories(Trainer *t);
void run_files_flush(Trainer *t);
void run_files_close(Trainer *t);
char *run_effective_config_json(const char *run);
// train_state.c
int train_state_save(Trainer *t, char *err, size_t errlen);
int train_state_load(Trainer *t, const char *path, char *err, size_t errlen);
char *train_state_path(const char *run);
