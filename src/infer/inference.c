// inference.c: batched eval-mode prediction from raw bytes.
#include "infer/inference.h"
#include "infer/crops.h"
#include "infer/memory_check.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "data/batch.h"
#ifdef EIR_HAVE_CUDA
#include "model/model_cuda.h"
#endif

int predictor_open(Predictor *p, const char *model_path, int max_batch, char *err, size_t errlen) {
    return predictor_open_device(p, model_path, max_batch, -1, err, errlen);
}

int predictor_open_device(Predictor *p, const char *model_path, int max_batch, int cuda_device, char *err,
                          size_t errlen) {
    memset(p, 0, sizeof *p);
#ifdef EIR_HAVE_CUDA
    if (cuda_device >= 0 && cuda_device >= cuda_device_count()) {
        snprintf(err, errlen, "CUDA device %d is not available (this machine has %d)", cuda_device, cuda_device_count());
        return -1;
    }
#else
    if (cuda_device >= 0) {
        snprintf(err, errlen, "this build has no CUDA backend (CUDA toolkit + NCCL not found at build time)");
        return -1;
    }
#endif
    if (model_io_load(model_path, &p->model, &p->meta, err, errlen) != 0) return -1;
    p->max_batch = max_batch < 1 ? 1 : max_batch;
    MemoryNeed need = {.what = "prediction", .rows = cuda_device >= 0 ? 0 : p->max_batch, .rows_key = "the batch size",
                       .copies = 1, .param_copies = 1, .procs_per_node = 1};
    if (memory_check(&p->model.config, &need, err, errlen) != 0) {
        model_free(&p->model);
        model_meta_free(&p->meta);
        return -1;
    }
    p->path = strdup_check(model_path);
#ifdef EIR_HAVE_CUDA
    if (cuda_device >= 0) {
        ModelCuda *g = calloc_check(1, sizeof *g);
        model_cuda_init(g, &p->model, cuda_device, p->max_batch, CUDA_MATH_FP32);
        p->gpu = g;
        int T = p->model.config.n_targets;
        p->logits = calloc_check((size_t)T, sizeof(float *));
        for (int t = 0; t < T; t++)
            p->logits[t] = malloc_check((size_t)p->max_batch * p->model.config.targets[t].n_classes * sizeof(float));
    }
#endif
    if (!p->gpu) model_alloc_activations(&p->model, p->max_batch);
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
#ifdef EIR_HAVE_CUDA
    if (p->gpu) {
        model_cuda_free(p->gpu);
        free(p->gpu);
        for (int t = 0; t < p->model.config.n_targets; t++) free(p->logits[t]);
        free(p->logits);
    }
#endif
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
    ForwardCtx ctx = {.train = false, .inference_only = true};
#ifdef EIR_HAVE_CUDA
    if (p->gpu) {
        model_cuda_forward(p->gpu, (const int32_t *const *)p->tokens, n, &ctx);
        for (int t = 0; t < p->model.config.n_targets; t++) model_cuda_download_logits(p->gpu, t, p->logits[t]);
        return;
    }
#endif
    model_forward(&p->model, (const int32_t *const *)p->tokens, n, &ctx);
}

const float *predictor_logits(Predictor *p, int target) {
    return p->gpu ? p->logits[target] : model_logits(&p->model, target);
}

void predictor_outputs(Predictor *p, int target, int row, float *out) {
    const TargetInfo *ti = &p->meta.targets[target];
    int K = p->model.config.targets[target].n_classes;
    crops_row_outputs(predictor_logits(p, target) + (size_t)row * K, K, ti->continuous, ti->mean, ti->scale, out);
}

int predictor_input_index(const Predictor *p, const char *name) {
    for (int k = 0; k < p->model.config.n_inputs; k++)
        if (!strcmp(p->model.config.inputs[k].name, name)) return k;
    return -1;
}
