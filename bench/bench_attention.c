// bench_attention.c: eir-bench-attention, the windowed attention kernel alone (layers_attention.c)
// at the EIR tutorial's shapes, for A/B work on it: median time of forward (eval, and train
// with probability dropout) and backward over --reps calls, and checksums of the outputs so two
// builds can be compared for changed numerics (--dump FILE writes out, lse and dqkv raw).
//
//   eir-bench-attention [--batch 64] [--T 1024] [--W 128] [--d 64] [--heads 8] [--reps 7] [--dump F]
//                       [--only 0|1|2]   (one phase alone, for perf: 0 eval forward, 1 train forward, 2 backward)
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "model/layers.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double checksum(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)x[i]) * (double)(1 + i % 7);
    return s;
}

int main(int argc, char **argv) {
    int B = 64, T = 1024, W = 128, d = 64, heads = 8, reps = 7, only = -1;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) eir_die("eir-bench-attention: %s: missing value", argv[i]);
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--batch")) B = atoi(v);
        else if (!strcmp(k, "--T")) T = atoi(v);
        else if (!strcmp(k, "--W")) W = atoi(v);
        else if (!strcmp(k, "--d")) d = atoi(v);
        else if (!strcmp(k, "--heads")) heads = atoi(v);
        else if (!strcmp(k, "--reps")) reps = atoi(v);
        else if (!strcmp(k, "--dump")) dump = v;
        else if (!strcmp(k, "--only")) only = atoi(v);
        else eir_die("eir-bench-attention: unknown option %s", k);
    }
    if (B <= 0 || T <= 0 || W <= 0 || T % W || d <= 0 || heads <= 0 || d % heads || reps <= 0 || reps > 101)
        eir_die("eir-bench-attention: bad sizes");
    size_t N = (size_t)B * T;
    int nt = omp_get_max_threads();
    float *qkv = malloc_check(N * 3 * d * sizeof(float)), *out = malloc_check(N * d * sizeof(float));
    float *lse = malloc_check(N * heads * sizeof(float)), *dout = malloc_check(N * d * sizeof(float));
    float *dqkv = malloc_check(N * 3 * d * sizeof(float));
    size_t per = window_attention_scratch_floats(W, d / heads);
    float *scr = malloc_check(per * nt * sizeof(float));
    uint32_t *mask = malloc_check(window_attention_mask_words(B, T, W, heads) * sizeof(uint32_t));
    uint64_t *ids = malloc_check((size_t)B * sizeof(uint64_t));
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < N * 3 * d; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        qkv[i] = ((float)(s >> 40) / (float)(1u << 24) - 0.5f) * 4.0f;
    }
    for (size_t i = 0; i < N * d; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        dout[i] = (float)(s >> 40) / (float)(1u << 24) - 0.5f;
    }
    for (int b = 0; b < B; b++) ids[b] = (uint64_t)b;
    DropoutKey key = {.seed = 7, .purpose = 3, .step = 1, .sample_ids = ids};
    const char *names[3] = {"forward (eval)", "forward (train, p=0.1)", "backward (p=0.1)"};
    double t[3][101];
    double flops = (double)B * (T / W) * heads * (double)W * W * (d / heads) * 2.0;  // one W x W x dh product
    for (int r = 0; r < reps + 1; r++) {  // first round: warm-up
        for (int ph = 0; ph < 3; ph++) {
            if (only >= 0 && ph != only) {
                t[ph][r ? r - 1 : 0] = 0;
                continue;
            }
            double t0 = omp_get_wtime();
            if (ph == 0) window_attention_forward(out, lse, NULL, qkv, B, T, W, d, heads, false, 0.0f, NULL, scr, nt);
            else if (ph == 1) window_attention_forward(out, lse, mask, qkv, B, T, W, d, heads, false, 0.1f, &key, scr, nt);
            else window_attention_backward(dqkv, dout, qkv, lse, mask, B, T, W, d, heads, false, 0.1f, scr, nt);
            if (r) t[ph][r - 1] = omp_get_wtime() - t0;
        }
    }
    printf("eir-bench-attention: B=%d T=%d W=%d d=%d heads=%d threads=%d reps=%d\n", B, T, W, d, heads, nt, reps);
    for (int ph = 0; ph < 3; ph++) {
        qsort(t[ph], reps, sizeof(double), cmp_double);
        double mult = ph == 2 ? 5.0 : 2.0;
        printf("  %-24s median %8.3f ms  (min %8.3f, max %8.3f)  %6.1f GFLOP/s\n", names[ph], 1e3 * t[ph][reps / 2],
               1e3 * t[ph][0], 1e3 * t[ph][reps - 1], mult * flops / t[ph][reps / 2] / 1e9);
    }
    printf("  checksums: out %.6e  lse %.6e  dqkv %.6e\n", checksum(out, N * d), checksum(lse, N * heads),
           checksum(dqkv, N * 3 * d));
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f) eir_die("eir-bench-attention: cannot write %s", dump);
        fwrite(out, sizeof(float), N * d, f);
        fwrite(lse, sizeof(float), N * heads, f);
        fwrite(dqkv, sizeof(float), N * 3 * d, f);
        if (fclose(f)) eir_die("eir-bench-attention: error writing %s", dump);
    }
    free(qkv), free(out), free(lse), free(dout), free(dqkv), free(scr), free(mask), free(ids);
    return 0;
}
