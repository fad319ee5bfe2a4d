// crops.h: whole-file prediction by averaging over crops (opt-in: `--crops all|N` of eir-predict
// and eir-serve, `evaluation_checkpoint.evaluation_crops` of eir-dist). EIR predicts on one crop,
// the first max_length bytes (spec §2.2); mode 1 is exactly that and stays the default.
//
// A file of len > L bytes (L = its input's max_length) has n = ceil(len / L) crops in mode "all",
// min(N, ceil(len / L)) in mode N, their starts spread evenly over [0, len - L]:
// start_k = round(k (len - L) / (n - 1)), halves rounded up (n = 1: start 0). A file of len <= L,
// or an absent input, has one crop. With several inputs, a sample runs max_k n_k rows; input k
// uses its crop min(j, n_k - 1) in row j.
//
// A sample's outputs are the mean over its crops of what one crop gives (predictor_outputs):
// softmax probabilities (K = 1: sigmoid) for categorical targets, values for continuous ones.
// Its "scores" are logits that give those outputs back: for one crop the raw logits (so mode 1
// is bit for bit today's answer), for several crops log(mean probability) (K = 1: logit of the
// mean; floored at the smallest float so a loss stays finite) and the mean value of continuous
// targets. Metrics (MCC, ROC-AUC, AP, cross-entropy) are computed on scores, so for several crops
// they score the averaged probabilities, and the cross-entropy is -log of the mean probability.
//
// CropRunner is the one implementation of planning + batching + averaging, over callbacks, so
// eir-predict and eir-serve (CropPredictor, over a Predictor) and validation in eir-dist (over
// the trainer's device) share it. Crops of several samples are packed into passes of up to
// max_rows rows; a sample's crops may span passes. The sum over a sample's crops is taken in
// crop order whatever the packing, and the forward pass is batch-invariant, so an answer does
// not depend on how samples were batched. Nothing is allocated after init.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "infer/inference.h"
#include "infer/model_io.h"
#include "model/model.h"

#define CROPS_ALL 0  // crop mode: every crop; a mode N >= 1 takes at most N (1: EIR's from_start)

// "all" or an integer in [1, INT_MAX] -> *mode. 0, or -1 (*mode unchanged).
int crops_parse(const char *s, int *mode);
// "all" or the number, for messages and logs.
const char *crops_mode_name(int mode, char *buf, size_t n);
// Crops of a file of len bytes (len < 0: an absent input, one crop of zero tokens).
int64_t crops_count(int64_t len, int L, int mode);
// Start of crop k of n of a file of len bytes (0 when len <= L or n == 1).
int64_t crops_start(int64_t len, int L, int64_t n, int64_t k);
// One row's outputs from its K logits, as predictor_outputs gives them: float32 softmax
// (scipy's), sigmoid for K = 1, or value * scale + mean for a continuous target.
void crops_row_outputs(const float *logits, int K, bool continuous, double mean, double scale, float *out);

typedef struct {
    // Bytes of the sample's input, or -1 when the sample has none (zero tokens, one crop).
    int64_t (*length)(void *ctx, int64_t sample, int input);
    // Puts n bytes of the input from start (n <= L; n == -1: absent) into row `row` of the next
    // forward pass. 0, or -1 with the message kept by ctx (the run stops).
    int (*fill)(void *ctx, int row, int64_t sample, int input, int64_t start, int64_t n);
    void (*forward)(void *ctx, int rows);
    // [rows x K] logits of target t from the last forward pass.
    const float *(*logits)(void *ctx, int target, int rows);
    // The sample's averaged outputs and scores ([target][K]; valid during the call).
    void (*done)(void *ctx, int64_t sample, int64_t n_crops, float *const *outputs, float *const *scores);
} CropOps;

typedef struct {
    int mode, max_rows, n_inputs, n_targets;
    int *L, *K;              // per input max_length, per target n_classes
    bool *continuous;
    double *mean, *scale;    // per target: outputs = logits * scale + mean for continuous targets
    int64_t *len, *n_crops;  // [n_inputs]: the current sample's
    int64_t *row_sample;     // [max_rows]: sample of each row of the pass being filled
    bool *row_last;          // [max_rows]: the row is its sample's last crop
    const float **lg;        // [n_targets]: the last pass's logits
    double **sum;            // [n_targets][K]: sum of outputs over the current sample's crops so far
    float **first;           // [n_targets][K]: its first crop's logits
    float **out, **score;    // [n_targets][K]: what done() receives
    float *row_out;          // [max K]
    int64_t acc_n;           // crops summed for the current sample
    int64_t samples, crops;  // totals over every run: files done and crops they had
} CropRunner;

// standardised: continuous outputs stay in the model's standardised units (validation, whose
// labels are standardised) instead of the inverse-transformed values meta holds scale/mean for.
void crop_runner_init(CropRunner *r, int mode, int max_rows, const ModelConfig *mc, const ModelMeta *meta,
                      bool standardised);
void crop_runner_free(CropRunner *r);
// Samples [0, n_samples), in order; done() is called once per sample, in order. 0, or -1 when a
// fill failed.
int crop_runner_run(CropRunner *r, const CropOps *ops, void *ctx, int64_t n_samples);

// ---- over a Predictor (eir-predict, eir-serve) --------------------------------------------------

typedef struct {
    int64_t (*length)(void *ctx, int64_t sample, int input);  // as CropOps.length
    // n bytes of the input from start: a pointer into the source's own memory, or read into buf
    // (room for n) and return buf; NULL on failure, with the message kept by ctx.
    const uint8_t *(*window)(void *ctx, int64_t sample, int input, int64_t start, int64_t n, uint8_t *buf);
    void (*done)(void *ctx, int64_t sample, int64_t n_crops, float *const *outputs, float *const *scores);
    void (*pass)(void *ctx, int rows, double seconds);  // optional: after each forward pass
} CropSource;

typedef struct {
    Predictor *p;            // borrowed
    CropRunner r;
    const uint8_t **bytes;   // [max_batch x n_inputs]: predictor_run's rows
    size_t *lens;
    uint8_t **buf;           // [n_inputs][max_batch x L]: windows read by the source
    const CropSource *src;   // during a run
    void *src_ctx;
} CropPredictor;

// Passes of up to p->max_batch rows.
void crop_predictor_init(CropPredictor *cp, Predictor *p, int mode);
void crop_predictor_free(CropPredictor *cp);
int crop_predictor_run(CropPredictor *cp, const CropSource *src, void *ctx, int64_t n_samples);
