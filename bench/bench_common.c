// bench_common.c: the tutorial config, FLOP count, synthetic batch and process facts of eir-bench-train.
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

char *openblas_get_corename(void);  // OpenBLAS extension

void bench_tutorial_config(ModelConfig *mc) {
    memset(mc, 0, sizeof *mc);
    mc->n_inputs = 1;
    ModelInputSpec *s = &mc->inputs[0];
    strcpy(s->name, "bytes");
    s->vocab = 261, s->max_length = 1024, s->d = 64, s->heads = 8, s->layers = 4, s->ffn = 256, s->window = 128;
    s->position = POS_EMBED, s->pool = POOL_AVG, s->position_dropout = 0.1f, s->dropout = 0.1f;
    mc->fusion_layers = 2, mc->fusion_dim = 256, mc->fusion_rb_do = 0.1f, mc->fusion_sd_p = 0.1f;
    mc->n_targets = 1;
    ModelTargetSpec *t = &mc->targets[0];
    strcpy(t->output_name, "out");
    strcpy(t->column, "y");
    t->n_classes = 2, t->layers = 2, t->dim = 256, t->rb_do = 0.1f, t->fc_do = 0.1f, t->sd_p = 0.1f;
    char err[256];
    if (model_config_finish(mc, err, sizeof err) != 0) eir_die("%s", err);
}

double bench_forward_flops(const ModelConfig *mc) {
    double f = 0;
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        double T = s->padded_length, d = s->d, F = s->ffn, W = s->win;
        double per_layer = 2 * T * d * 3 * d + 2 * T * d * d    // q, k, v, out
                           + 2 * 2 * T * W * d                  // QK^T and PV inside each window
                           + 2 * T * d * 2 * F + 2 * T * F * d;  // w1, w2, w3
        f += s->layers * per_layer;
        if (s->global_layers > 0) {  // beyond EIR: projections in and out, layers over C windows
            double C = s->n_windows, Dg = s->global_d, Fg = s->global_ffn;
            f += 2 * 2 * C * d * Dg;
            f += s->global_layers * (2 * C * Dg * 4 * Dg + 2 * 2 * C * C * Dg + 2 * C * Dg * 3 * Fg);
        }
    }
    int in = mc->fusion_in;
    for (int b = 0; b < mc->fusion_layers; b++) {
        int out = mc->fusion_dim;
        f += 2.0 * in * out + 2.0 * out * out + (in != out ? 2.0 * in * out : 0);
        in = out;
    }
    for (int t = 0; t < mc->n_targets; t++) {
        int hin = mc->fusion_dim;
        for (int b = 0; b < mc->targets[t].layers; b++) {
            int out = mc->targets[t].dim;
            f += 2.0 * hin * out + 2.0 * out * out + (hin != out ? 2.0 * hin * out : 0);
            hin = out;
        }
        f += 2.0 * hin * mc->targets[t].n_classes;
    }
    return f;
}

void bench_batch_init(BenchBatch *b, int B, int L) {
    b->B = B;
    b->tokens = malloc_check(sizeof(int32_t) * (size_t)B * L);
    b->labels = malloc_check(sizeof(int32_t) * (size_t)B);
    b->perm = malloc_check(sizeof(int32_t) * (size_t)B);
    for (size_t i = 0; i < (size_t)B * L; i++) b->tokens[i] = (int32_t)((i * 2654435761u >> 7) % 256);
    for (int r = 0; r < B; r++) b->labels[r] = r % 2, b->perm[r] = (r + 7) % B;
}

void bench_batch_free(BenchBatch *b) {
    free(b->tokens), free(b->labels), free(b->perm);
    memset(b, 0, sizeof *b);
}

double bench_peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

const char *bench_blas_core(void) { return openblas_get_corename(); }

double bench_run_phase(BenchStepFn fn, void *ctx, int warmup, int min_steps, double min_seconds, long *steps_out) {
    long step = 0;
    for (int w = 0; w < warmup; w++) fn(ctx, step++);
    double t0 = now_seconds(), dt = 0;
    long n = 0;
    while (n < min_steps || dt < min_seconds) {
        fn(ctx, step++);
        n++;
        dt = now_seconds() - t0;
    }
    *steps_out = n;  // 0 with min_steps = min_seconds = 0: a warm-up only
    return dt;
}
