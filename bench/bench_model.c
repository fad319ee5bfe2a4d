// bench_model.c: training throughput of the CPU model on the tutorial configuration (spec §3:
// L=1024, d=64, W=128, 8 heads, 4 layers, avg pooling, position embed, fusion/head [2] x 256),
// forward + loss + backward with dropout, stochastic depth and mixup on, as a training step does.
//
// Not part of the CMake build (experiments live outside the main path). Build and run:
//   cmake --build build -j2   # for libeircore.a
//   gcc -std=c11 -O3 -fopenmp -Isrc bench/bench_model.c build/libeircore.a
//       $(pkg-config --libs openblas jansson yaml-0.1) -lm -o build/bench_model
//   OMP_NUM_THREADS=2 build/bench_model [batch] [steps]
#define _POSIX_C_SOURCE 200809L  // clock_gettime
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "model/model.h"

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 64;
    int steps = argc > 2 ? atoi(argv[2]) : 5;
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    ModelInputSpec *s = &mc.inputs[0];
    strcpy(s->name, "bytes");
    s->vocab = 261, s->max_length = 1024, s->d = 64, s->heads = 8, s->layers = 4, s->ffn = 256, s->window = 128;
    s->position = POS_EMBED, s->pool = POOL_AVG, s->position_dropout = 0.1f, s->dropout = 0.1f;
    mc.fusion_layers = 2, mc.fusion_dim = 256, mc.fusion_rb_do = 0.1f, mc.fusion_sd_p = 0.1f;
    mc.n_targets = 1;
    ModelTargetSpec *t = &mc.targets[0];
    strcpy(t->output_name, "out");
    strcpy(t->column, "y");
    t->n_classes = 2, t->layers = 2, t->dim = 256, t->rb_do = 0.1f, t->fc_do = 0.1f, t->sd_p = 0.1f;

    Model m;
    model_build(&m, &mc);
    model_init_params(&m, 0);
    model_alloc_activations(&m, B);
    printf("parameters %zu, activations %.0f MiB for batch %d\n", m.num_parameters, m.acts_floats * 4.0 / (1 << 20), B);
    int32_t *tok = malloc(sizeof(int32_t) * B * 1024), *lab = malloc(sizeof(int32_t) * B), *perm = malloc(sizeof(int32_t) * B);
    for (int i = 0; i < B * 1024; i++) tok[i] = (i * 2654435761u >> 7) % 261;
    for (int b = 0; b < B; b++) lab[b] = b % 2, perm[b] = (b + 7) % B;
    const int32_t *toks[1] = {tok};
    TargetLabels tl = {.cls = lab};
    double tf = 0, tb = 0, tcpu = 0;
    for (int it = 0; it <= steps; it++) {
        ForwardCtx ctx = {.train = true, .seed = 1, .step = (uint64_t)it, .sample_base = (uint64_t)it * B, .mixup = true,
                          .mixup_lambda = 0.7f, .mixup_perm = perm};
        double c0 = cpu_seconds(), t0 = now_seconds();
        model_forward(&m, toks, B, &ctx);
        double loss = model_loss(&m, &tl, NULL, NULL);
        double t1 = now_seconds();
        model_zero_grad(&m);
        model_backward(&m);
        double t2 = now_seconds(), c2 = cpu_seconds();
        if (it > 0) tf += t1 - t0, tb += t2 - t1, tcpu += c2 - c0;  // step 0 warms up
        printf("step %d: loss %.4f forward %.3f s backward %.3f s (cpu %.3f s)\n", it, loss, t1 - t0, t2 - t1, c2 - c0);
    }
    printf("mean forward %.3f s, backward %.3f s -> %.1f samples/s (forward+backward); %.3f cpu-s per step\n",
           tf / steps, tb / steps, B * steps / (tf + tb), tcpu / steps);
    model_free(&m);
    free(tok), free(lab), free(perm);
    return 0;
}
