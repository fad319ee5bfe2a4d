// trainer_crops.c: validation by crops (evaluation_checkpoint.evaluation_crops != 1; infer/crops.h).
// Every rank runs the crops of its valid samples through the shared CropRunner on the run's
// device, in passes of valid_chunk rows, and sends each sample's averaged scores with its labels
// to rank 0 in the rows single-crop validation gathers; rank 0 computes the same metrics from
// them (t->vres_crops). A sample's mean does not depend on which rank or pass ran its crops, so
// the metrics are the same for any rank count. Nothing here feeds early stopping, the LR
// plateau or model selection: those keep EIR's single-crop metrics.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "train/trainer_internal.h"

typedef struct {
    Trainer *t;
    ForwardCtx fctx;
    float *local;       // [n_local x row_floats]: scores then labels, as trainer_validate gathers
    size_t row_floats;
    double crops;       // this rank's crops
} CropValid;

static int64_t cv_length(void *ctx, int64_t s, int k) { return dataset_valid_length(&((CropValid *)ctx)->t->ds, s, k); }

static int cv_fill(void *ctx, int row, int64_t s, int k, int64_t start, int64_t n) {
    Trainer *t = ((CropValid *)ctx)->t;
    return dataset_valid_crop(&t->ds, s, k, start, n, t->tokens[k] + (size_t)row * (size_t)t->ds.max_length[k]);
}

static void cv_forward(void *ctx, int rows) {
    CropValid *c = ctx;
    c->t->dev->forward(c->t, rows, &c->fctx, false);
    c->t->pf_on_device = false;  // a GPU's forward of t->tokens went through the staging slot
}

static const float *cv_logits(void *ctx, int k, int rows) {
    Trainer *t = ((CropValid *)ctx)->t;
    return t->dev->logits(t, k, rows);
}

static void cv_done(void *ctx, int64_t s, int64_t n_crops, float *const *outputs, float *const *scores) {
    (void)outputs;
    CropValid *c = ctx;
    Trainer *t = c->t;
    int T = t->n_targets;
    float *row = c->local + (size_t)s * c->row_floats;
    for (int k = 0; k < T; k++) {
        int K = t->meta.targets[k].n_classes;
        memcpy(row, scores[k], (size_t)K * sizeof(float));
        row += K;
    }
    const LabelSet *ls = &t->setup->labels;
    memcpy(row, ls->values + t->setup->valid.label_row[t->ds.valid_lo + s] * T, (size_t)T * sizeof(float));
    c->crops += (double)n_crops;
}

static const CropOps CROP_VALID_OPS = {cv_length, cv_fill, cv_forward, cv_logits, cv_done};

void trainer_validate_crops(Trainer *t) {
    int64_t n_local = dataset_valid_count(&t->ds);
    CropValid c = {.t = t, .fctx = {.train = false, .inference_only = true, .seed = t->seed}, .row_floats = trainer_valid_row_floats(t)};
    c.local = malloc_check((size_t)(n_local ? n_local : 1) * c.row_floats * sizeof(float));
    if (crop_runner_run(&t->crops, &CROP_VALID_OPS, &c, n_local) != 0)
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    comm_allreduce_sum_f64(t->comm, &c.crops, 1);
    size_t total = 0;
    float *all = comm_gatherv(t->comm, c.local, (size_t)n_local * c.row_floats * sizeof(float), 0, &total);
    free(c.local);
    if (!t->root) return;
    int64_t n = (int64_t)(total / (c.row_floats * sizeof(float)));
    t->crops_per_file = n ? c.crops / (double)n : NAN;
    trainer_valid_metrics(t, all, n, t->valid_logits_crops, &t->vres_crops);
    free(all);
}
