// inference.c: batched eval-mode prediction from raw bytes.
#include "train/inference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "data/batch.h"

int predictor_open(Predictor *p, const char *model_path, int max_batch, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    if (model_io_load(model_path, &p->model, &p->meta, err, errlen) != 0) return -1;
    p->path = strdup_check(model_path);
    p->max_batch = max_batch < 1 ? 1 : max_batch;
    model_alloc_activations(&p->model, p->max_batch);
    int ni = p->model.config.n_inputs;
    p->tokens = calloc_check((size_t)ni, sizeof(int32_t *));
    for (int k = 0; k < ni; k++)
        p->tokens[k] = malloc_check((size_t)p->max_batch * p->model.config.inputs[k].max_length * sizeof(int32_t));
    return 0;
}

void predictor_close(Predictor *p) {
    if (!p->path) return;
    for (int k = 0; k < p->model.config.n_inputs; k++) free(p->tokens[k]);
    free(p->tokens);
    model_free(&p->model);
    model_meta_free(&p->meta);
    free(p->path);
    memset(p, 0, sizeof *p);
}

void predictor_run(Predictor *p, const uint8_t *const *bytes, const size_t *lens, int n) {
    if (n < 1 || n > p->max_batch) eir_die("predictor_run: batch of %d rows (max %d)", n, p->max_batch);
    int ni = p->model.config.n_inputs;
    for (int k = 0; k < ni; k++) {
        int L = p->model.config.inputs[k].max_length;
        for (int i = 0; i < n; i++) {
            const uint8_t *b = bytes[(size_t)i * ni + k];
            int32_t *row = p->tokens[k] + (size_t)i * L;
            if (b) bytes_tokenize(b, lens[(size_t)i * ni + k], L, row);
            else memset(row, 0, (size_t)L * sizeof(int32_t));
        }
    }
    ForwardCtx ctx = {.train = false};
    model_forward(&p->model, (const int32_t *const *)p->tokens, n, &ctx);
}

const float *predictor_logits(Predictor *p, int target) { return model_logits(&p->model, target); }

void predictor_outputs(Predictor *p, int target, int row, float *out) {
    const TargetInfo *ti = &p->meta.targets[target];
    int K = p->model.config.targets[target].n_classes;
    const float *lg = model_logits(&p->model, target) + (size_t)row * K;
    if (ti->continuous) {
        out[0] = (float)(lg[0] * ti->scale + ti->mean);
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

int predictor_input_index(const Predictor *p, const char *name) {
    for (int k = 0; k < p->model.config.n_inputs; k++)
        if (!strcmp(p->model.config.inputs[k].name, name)) return k;
    return -1;
}
