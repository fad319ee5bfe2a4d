// crops.c: crop planning and per-file averaging (crops.h), and its use over a Predictor.
#include "infer/crops.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int crops_parse(const char *s, int *mode) {
    if (!s) return -1;
    if (!strcmp(s, "all")) {
        *mode = CROPS_ALL;
        return 0;
    }
    if (*s < '0' || *s > '9') return -1;  // strtol would take spaces and signs
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > INT_MAX) return -1;
    *mode = (int)v;
    return 0;
}

const char *crops_mode_name(int mode, char *buf, size_t n) {
    if (mode == CROPS_ALL) snprintf(buf, n, "all");
    else snprintf(buf, n, "%d", mode);
    return buf;
}

int64_t crops_count(int64_t len, int L, int mode) {
    if (len <= L) return 1;  // also an absent input (len < 0)
    int64_t all = len / L + (len % L != 0);
    return mode == CROPS_ALL || all < mode ? all : mode;
}

int64_t crops_start(int64_t len, int L, int64_t n, int64_t k) {
    if (len <= L || n <= 1) return 0;
    // round(k D / (n - 1)) with D = len - L, halves up, in 128 bits: k D overflows 64 bits only
    // for absurd files, but then silently
    unsigned __int128 d = (unsigned __int128)(uint64_t)(len - L), den = (unsigned __int128)(uint64_t)(n - 1);
    unsigned __int128 num = 2 * (unsigned __int128)(uint64_t)k * d + den;
    return (int64_t)(num / (2 * den));
}

void crops_row_outputs(const float *lg, int K, bool continuous, double mean, double scale, float *out) {
    if (continuous) {
        out[0] = (float)(lg[0] * scale + mean);
        return;
    }
    if (K == 1) {
        out[0] = 1.0f / (1.0f + expf(-lg[0]));
        return;
    }
    // scipy.special.softmax in float32: exp(x - max) / sum
    float mx = lg[0];
    for (int k = 1; k < K; k++) mx = lg[k] > mx ? lg[k] : mx;
    float sum = 0.0f;
    for (int k = 0; k < K; k++) {
        out[k] = expf(lg[k] - mx);
        sum += out[k];
    }
    for (int k = 0; k < K; k++) out[k] /= sum;
}

// ---- the runner -------------------------------------------------------------------------------

void crop_runner_init(CropRunner *r, int mode, int max_rows, const ModelConfig *mc, const ModelMeta *meta,
                      bool standardised) {
    memset(r, 0, sizeof *r);
    int ni = mc->n_inputs, T = mc->n_targets, maxK = 1;
    r->mode = mode;
    r->max_rows = max_rows < 1 ? 1 : max_rows;
    r->n_inputs = ni;
    r->n_targets = T;
    r->L = malloc_check(sizeof(int) * (size_t)(ni ? ni : 1));
    r->len = malloc_check(sizeof(int64_t) * (size_t)(ni ? ni : 1));
    r->n_crops = malloc_check(sizeof(int64_t) * (size_t)(ni ? ni : 1));
    for (int k = 0; k < ni; k++) r->L[k] = mc->inputs[k].max_length;
    r->K = malloc_check(sizeof(int) * (size_t)(T ? T : 1));
    r->continuous = malloc_check(sizeof(bool) * (size_t)(T ? T : 1));
    r->mean = malloc_check(sizeof(double) * (size_t)(T ? T : 1));
    r->scale = malloc_check(sizeof(double) * (size_t)(T ? T : 1));
    r->lg = calloc_check((size_t)(T ? T : 1), sizeof(float *));
    r->sum = calloc_check((size_t)(T ? T : 1), sizeof(double *));
    r->first = calloc_check((size_t)(T ? T : 1), sizeof(float *));
    r->out = calloc_check((size_t)(T ? T : 1), sizeof(float *));
    r->score = calloc_check((size_t)(T ? T : 1), sizeof(float *));
    for (int t = 0; t < T; t++) {
        const TargetInfo *ti = &meta->targets[t];
        int K = mc->targets[t].n_classes;
        r->K[t] = K;
        r->continuous[t] = ti->continuous;
        r->mean[t] = standardised ? 0.0 : ti->mean;
        r->scale[t] = standardised ? 1.0 : ti->scale;
        r->sum[t] = calloc_check((size_t)K, sizeof(double));
        r->first[t] = malloc_check(sizeof(float) * (size_t)K);
        r->out[t] = malloc_check(sizeof(float) * (size_t)K);
        r->score[t] = malloc_check(sizeof(float) * (size_t)K);
        if (K > maxK) maxK = K;
    }
    r->row_out = malloc_check(sizeof(float) * (size_t)maxK);
    r->row_sample = malloc_check(sizeof(int64_t) * (size_t)r->max_rows);
    r->row_last = malloc_check(sizeof(bool) * (size_t)r->max_rows);
}

void crop_runner_free(CropRunner *r) {
    for (int t = 0; r->sum && t < r->n_targets; t++) {
        free(r->sum[t]);
        free(r->first[t]);
        free(r->out[t]);
        free(r->score[t]);
    }
    free(r->sum);
    free(r->first);
    free(r->out);
    free(r->score);
    free(r->lg);
    free(r->L);
    free(r->len);
    free(r->n_crops);
    free(r->K);
    free(r->continuous);
    free(r->mean);
    free(r->scale);
    free(r->row_out);
    free(r->row_sample);
    free(r->row_last);
    memset(r, 0, sizeof *r);
}

static float log_floored(double p) { return p > FLT_TRUE_MIN ? (float)log(p) : logf(FLT_TRUE_MIN); }

// The current sample is complete: its outputs and scores to done(), accumulators cleared.
static void finish_sample(CropRunner *r, const CropOps *ops, void *ctx, int64_t sample) {
    int64_t n = r->acc_n;
    for (int t = 0; t < r->n_targets; t++) {
        int K = r->K[t];
        for (int c = 0; c < K; c++) r->out[t][c] = (float)(r->sum[t][c] / (double)n);
        if (n == 1) {
            memcpy(r->score[t], r->first[t], sizeof(float) * (size_t)K);
        } else if (r->continuous[t]) {
            // logits that give the mean value back (in the model's standardised units)
            r->score[t][0] = (float)((r->sum[t][0] / (double)n - r->mean[t]) / r->scale[t]);
        } else if (K == 1) {
            double p = r->sum[t][0] / (double)n;
            r->score[t][0] = log_floored(p) - log_floored(1.0 - p);
        } else {
            for (int c = 0; c < K; c++) r->score[t][c] = log_floored(r->sum[t][c] / (double)n);
        }
        memset(r->sum[t], 0, sizeof(double) * (size_t)K);
    }
    ops->done(ctx, sample, n, r->out, r->score);
    r->samples++;
    r->crops += n;
    r->acc_n = 0;
}

// Runs the filled rows and adds each to its sample's sums; finished samples go to done().
static void run_pass(CropRunner *r, const CropOps *ops, void *ctx, int rows) {
    ops->forward(ctx, rows);
    for (int t = 0; t < r->n_targets; t++) r->lg[t] = ops->logits(ctx, t, rows);
    for (int i = 0; i < rows; i++) {
        for (int t = 0; t < r->n_targets; t++) {
            int K = r->K[t];
            const float *lg = r->lg[t] + (size_t)i * K;
            if (r->acc_n == 0) memcpy(r->first[t], lg, sizeof(float) * (size_t)K);
            crops_row_outputs(lg, K, r->continuous[t], r->mean[t], r->scale[t], r->row_out);
            for (int c = 0; c < K; c++) r->sum[t][c] += (double)r->row_out[c];
        }
        r->acc_n++;
        if (r->row_last[i]) finish_sample(r, ops, ctx, r->row_sample[i]);
    }
}

int crop_runner_run(CropRunner *r, const CropOps *ops, void *ctx, int64_t n_samples) {
    int rows = 0;
    r->acc_n = 0;
    for (int64_t s = 0; s < n_samples; s++) {
        int64_t nc = 1;
        for (int k = 0; k < r->n_inputs; k++) {
            r->len[k] = ops->length(ctx, s, k);
            r->n_crops[k] = crops_count(r->len[k], r->L[k], r->mode);
            if (r->n_crops[k] > nc) nc = r->n_crops[k];
        }
        for (int64_t j = 0; j < nc; j++) {
            for (int k = 0; k < r->n_inputs; k++) {
                int64_t len = r->len[k], c = j < r->n_crops[k] ? j : r->n_crops[k] - 1;
                int64_t start = len < 0 ? 0 : crops_start(len, r->L[k], r->n_crops[k], c);
                int64_t n = len < 0 ? -1 : (len - start < r->L[k] ? len - start : r->L[k]);
                if (ops->fill(ctx, rows, s, k, start, n) != 0) {
                    r->acc_n = 0;
                    for (int t = 0; t < r->n_targets; t++) memset(r->sum[t], 0, sizeof(double) * (size_t)r->K[t]);
                    return -1;
                }
            }
            r->row_sample[rows] = s;
            r->row_last[rows] = j == nc - 1;
            if (++rows == r->max_rows) {
                run_pass(r, ops, ctx, rows);
                rows = 0;
            }
        }
    }
    if (rows > 0) run_pass(r, ops, ctx, rows);
    return 0;
}

// ---- over a Predictor -------------------------------------------------------------------------

static int64_t cp_length(void *ctx, int64_t sample, int input) {
    CropPredictor *cp = ctx;
    return cp->src->length(cp->src_ctx, sample, input);
}

static int cp_fill(void *ctx, int row, int64_t sample, int input, int64_t start, int64_t n) {
    CropPredictor *cp = ctx;
    size_t slot = (size_t)row * (size_t)cp->r.n_inputs + (size_t)input;
    uint8_t *buf = cp->buf[input] + (size_t)row * (size_t)cp->r.L[input];
    if (n < 0) {  // absent: predictor_run's NULL (zero tokens)
        cp->bytes[slot] = NULL;
        cp->lens[slot] = 0;
        return 0;
    }
    // an empty file is present but has nothing to read (non-NULL, length 0: all padding)
    const uint8_t *b = n == 0 ? buf : cp->src->window(cp->src_ctx, sample, input, start, n, buf);
    if (!b) return -1;
    cp->bytes[slot] = b;
    cp->lens[slot] = (size_t)n;
    return 0;
}

static void cp_forward(void *ctx, int rows) {
    CropPredictor *cp = ctx;
    double t0 = now_seconds();
    predictor_run(cp->p, cp->bytes, cp->lens, rows);
    if (cp->src->pass) cp->src->pass(cp->src_ctx, rows, now_seconds() - t0);
}

static const float *cp_logits(void *ctx, int target, int rows) {
    (void)rows;
    return predictor_logits(((CropPredictor *)ctx)->p, target);
}

static void cp_done(void *ctx, int64_t sample, int64_t n_crops, float *const *outputs, float *const *scores) {
    CropPredictor *cp = ctx;
    cp->src->done(cp->src_ctx, sample, n_crops, outputs, scores);
}

static const CropOps CROP_PREDICTOR_OPS = {cp_length, cp_fill, cp_forward, cp_logits, cp_done};

void crop_predictor_init(CropPredictor *cp, Predictor *p, int mode) {
    memset(cp, 0, sizeof *cp);
    cp->p = p;
    crop_runner_init(&cp->r, mode, p->max_batch, &p->model.config, &p->meta, false);
    int ni = p->model.config.n_inputs;
    cp->bytes = calloc_check((size_t)p->max_batch * (size_t)(ni ? ni : 1), sizeof(uint8_t *));
    cp->lens = calloc_check((size_t)p->max_batch * (size_t)(ni ? ni : 1), sizeof(size_t));
    cp->buf = calloc_check((size_t)(ni ? ni : 1), sizeof(uint8_t *));
    for (int k = 0; k < ni; k++) cp->buf[k] = malloc_check((size_t)p->max_batch * (size_t)cp->r.L[k]);
}

void crop_predictor_free(CropPredictor *cp) {
    for (int k = 0; cp->buf && k < cp->r.n_inputs; k++) free(cp->buf[k]);
    free(cp->buf);
    free(cp->bytes);
    free(cp->lens);
    crop_runner_free(&cp->r);
    memset(cp, 0, sizeof *cp);
}

int crop_predictor_run(CropPredictor *cp, const CropSource *src, void *ctx, int64_t n_samples) {
    cp->src = src;
    cp->src_ctx = ctx;
    int rc = crop_runner_run(&cp->r, &CROP_PREDICTOR_OPS, cp, n_samples);
    cp->src = NULL;
    cp->src_ctx = NULL;
    return rc;
}
