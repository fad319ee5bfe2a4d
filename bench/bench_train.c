// bench_train.c: training and inference throughput of the CPU model on the tutorial config
// (spec §3: L=1024, d=64, W=128, 8 heads, 4 layers, avg pool, position embed, fusion/head [2] x
// 256, 2 classes) at a given batch, as eir-dist runs them: a training step is forward (dropout,
// stochastic depth, mixup on) + loss + backward + gradient clipping + AdamW; inference is the
// eval-mode forward. Also measures this machine's sgemm peak at the same threads (OpenBLAS,
// 2048^3) and reports the achieved GFLOP/s of both against it. Prints one JSON line last.
//   eir-bench-train [--threads T] [--batch B] [--train-steps N] [--infer-steps N]
//                   [--device cpu|cuda] [--math fp32|tf32|bf16]
// --device cuda (CUDA backend): the same step on GPU 0 through model_cuda.h, reading the loss back
// every step as the trainer does (inference: forward + logits to host); reports TFLOP/s against
// the GPU's fp32 peak (and its dense tensor-core peak for the math mode where the GPU is known).
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "model/model.h"
#include "train/optimizer.h"
#ifdef EIR_HAVE_CUDA
#include "model/model_cuda.h"
#endif

void openblas_set_num_threads(int num_threads);

// Matrix-product and attention FLOPs of one forward pass of one sample (multiply-add = 2).
static double forward_flops(const ModelConfig *mc) {
    double f = 0;
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        double T = s->padded_length, d = s->d, F = s->ffn, W = s->win;
        double per_layer = 2 * T * d * 3 * d + 2 * T * d * d  // q, k, v, out
                         + 2 * 2 * T * W * d                 // QK^T and PV inside each window
                         + 2 * T * d * 2 * F + 2 * T * F * d;  // w1, w2, w3
        f += s->layers * per_layer;
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

static double sgemm_peak(int threads) {
    openblas_set_num_threads(threads);
    const int n = 2048;
    float *a = malloc_check(sizeof(float) * n * n), *b = malloc_check(sizeof(float) * n * n),
          *c = malloc_check(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_seconds() - t0;
        if (r > 0) best = fmax(best, 2.0 * n * n * (double)n / dt / 1e9);  // first call warms up
    }
    free(a), free(b), free(c);
    return best;
}

#ifdef EIR_HAVE_CUDA
// Dense tensor-core peaks (FLOP/s, FMA = 2) of the GPUs these benchmarks are run on, from the
// vendors' data sheets (SXM parts); 0 where unknown.
static double tensor_peak(const char *name, int math) {
    if (math == CUDA_MATH_FP32) return 0;
    double tf32 = strstr(name, "H200") || strstr(name, "H100") ? 494.7e12 : strstr(name, "A100") ? 156e12 : 0;
    return math == CUDA_MATH_TF32 ? tf32 : 2 * tf32;
}

static int bench_cuda(Model *m, const ModelConfig *mc, int B, int train_steps, int infer_steps, int math,
                      const int32_t *const *toks, const TargetLabels *tl, int32_t *perm) {
    if (cuda_device_count() == 0) eir_die_user("--device cuda: no CUDA device");
    ModelCuda g;
    model_cuda_init(&g, m, 0, B, (CudaMath)math);
    CudaDeviceInfo info;
    cuda_device_info(&info);
    // Steps 0 and 1 warm up (cuBLAS heuristics, caches). The clock runs from the end of the warm-up
    // to the end of the last step's AdamW: the loss read returns before backward and AdamW have
    // run (the host queues the next step behind them, as the trainer does), so per-step clocks
    // would leave them out.
    double t_train = 0, t0 = 0;
    for (int it = 0; it <= train_steps + 1; it++) {
        ForwardCtx ctx = {.train = true, .seed = 1, .step = (uint64_t)it + 1, .sample_base = (uint64_t)it * B,
                          .mixup = true, .mixup_lambda = 0.7f, .mixup_perm = perm};
        if (it == 2) {
            model_cuda_synchronize(&g);
            t0 = now_seconds();
        }
        model_cuda_zero_grad(&g);
        model_cuda_forward(&g, toks, B, &ctx);
        model_cuda_loss_queue(&g, tl, NULL);
        model_cuda_backward(&g);
        CudaAdamW a = {.lr = 1e-4, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-4, .step = it + 1, .grad_scale = 1.0f,
                       .clip = 1.0};
        model_cuda_adamw(&g, &a);
        model_cuda_loss_read(&g, NULL);
    }
    model_cuda_synchronize(&g);
    t_train = now_seconds() - t0;
    float *logits = malloc_check(sizeof(float) * (size_t)B * mc->targets[0].n_classes);
    double t_infer = 0;
    for (int it = 0; it <= infer_steps + 1; it++) {
        ForwardCtx ctx = {.train = false};
        double ti = now_seconds();
        model_cuda_forward(&g, toks, B, &ctx);
        model_cuda_download_logits(&g, 0, logits);  // waits for the forward
        if (it > 1) t_infer += now_seconds() - ti;
    }
    double fwd = forward_flops(mc);
    double train_sps = B * train_steps / t_train, infer_sps = B * infer_steps / t_infer;
    double train_tf = train_sps * 3 * fwd / 1e12, infer_tf = infer_sps * fwd / 1e12;
    double peak = info.fp32_flops / 1e12, tpeak = tensor_peak(info.name, math) / 1e12;
    const char *mname = math == CUDA_MATH_TF32 ? "tf32" : math == CUDA_MATH_BF16 ? "bf16" : "fp32";
    printf("eir-dist CUDA model, tutorial config, batch %d, %s matrix products, %s\n", B, mname, info.name);
    printf("  forward FLOPs per sample        %.3f GFLOP (training step = 3x)\n", fwd / 1e9);
    printf("  fp32 peak (CUDA cores)          %.1f TFLOP/s\n", peak);
    if (tpeak > 0) printf("  %s tensor-core peak (dense)    %.1f TFLOP/s\n", mname, tpeak);
    printf("  training                        %.1f samples/s  %.2f TFLOP/s (%.1f%% of the fp32 peak)\n", train_sps, train_tf,
           100 * train_tf / peak);
    printf("  inference                       %.1f samples/s  %.2f TFLOP/s (%.1f%% of the fp32 peak)\n", infer_sps, infer_tf,
           100 * infer_tf / peak);
    printf("{\"device\": \"%s\", \"math\": \"%s\", \"batch\": %d, \"train_samples_per_s\": %.3f, "
           "\"infer_samples_per_s\": %.3f, \"train_tflops\": %.3f, \"infer_tflops\": %.3f, \"fp32_peak_tflops\": %.1f, "
           "\"tensor_peak_tflops\": %.1f, \"forward_flops_per_sample\": %.0f}\n",
           info.name, mname, B, train_sps, infer_sps, train_tf, infer_tf, peak, tpeak, fwd);
    free(logits);
    model_cuda_free(&g);
    return 0;
}
#endif

int main(int argc, char **argv) {
    eir_set_progname("eir-bench-train");
    int threads = 2, B = 64, train_steps = 6, infer_steps = 6, math = 0;
    bool cuda = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--device")) {
            if (strcmp(argv[i + 1], "cpu") && strcmp(argv[i + 1], "cuda")) eir_die_user("--device: cpu or cuda");
            cuda = !strcmp(argv[i + 1], "cuda");
        } else if (!strcmp(argv[i], "--math")) {
            math = !strcmp(argv[i + 1], "tf32") ? 1 : !strcmp(argv[i + 1], "bf16") ? 2 : !strcmp(argv[i + 1], "fp32") ? 0 : -1;
            if (math < 0) eir_die_user("--math: fp32, tf32 or bf16");
        } else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--train-steps")) train_steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--infer-steps")) infer_steps = atoi(argv[i + 1]);
        else eir_die_user("unknown argument %s", argv[i]);
    }
    omp_set_num_threads(threads);

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
    char err[256];
    if (model_config_finish(&mc, err, sizeof err) != 0) eir_die("%s", err);

    Model m;
    model_build(&m, &mc);
    model_init_params(&m, 0);
    float *am = calloc_check(m.num_parameters, sizeof(float)), *av = calloc_check(m.num_parameters, sizeof(float));
    int32_t *tok = malloc_check(sizeof(int32_t) * (size_t)B * 1024), *lab = malloc_check(sizeof(int32_t) * B),
            *perm = malloc_check(sizeof(int32_t) * B);
    for (int i = 0; i < B * 1024; i++) tok[i] = (int32_t)((i * 2654435761u >> 7) % 256);
    for (int b = 0; b < B; b++) lab[b] = b % 2, perm[b] = (b + 7) % B;
    const int32_t *toks[1] = {tok};
    TargetLabels tl = {.cls = lab};
    if (cuda) {
#ifdef EIR_HAVE_CUDA
        int rc = bench_cuda(&m, &mc, B, train_steps, infer_steps, math, toks, &tl, perm);
        model_free(&m);
        free(am), free(av), free(tok), free(lab), free(perm);
        return rc;
#else
        eir_die_user("--device cuda: built without the CUDA backend");
#endif
    }
    double peak = sgemm_peak(threads);
    model_alloc_activations(&m, B);

    double t_train = 0;
    for (int it = 0; it <= train_steps; it++) {  // step 0 warms up
        ForwardCtx ctx = {.train = true, .seed = 1, .step = (uint64_t)it + 1, .sample_base = (uint64_t)it * B,
                          .mixup = true, .mixup_lambda = 0.7f, .mixup_perm = perm};
        double t0 = now_seconds();
        model_zero_grad(&m);
        model_forward(&m, toks, B, &ctx);
        model_loss(&m, &tl, NULL, NULL);
        model_backward(&m);
        double norm = sqrt(grad_sum_squares(m.grads_memory, m.num_parameters));
        double f = grad_clip_factor(norm, 1.0);
        if (f < 1) grad_scale(m.grads_memory, m.num_parameters, (float)f);
        AdamWStep st = {.lr = 1e-4, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-4, .step = it + 1};
        for (int i = 0; i < m.n_param_tensors; i++) {
            const ParamTensor *p = &m.params[i];
            adamw_update(m.params_memory + p->offset, m.grads_memory + p->offset, am + p->offset, av + p->offset,
                         p->numel, &st, p->decay ? 1e-4 : 0.0);
        }
        if (it > 0) t_train += now_seconds() - t0;
    }
    double t_infer = 0;
    for (int it = 0; it <= infer_steps; it++) {
        ForwardCtx ctx = {.train = false};
        double t0 = now_seconds();
        model_forward(&m, toks, B, &ctx);
        if (it > 0) t_infer += now_seconds() - t0;
    }
    double fwd = forward_flops(&mc);
    double train_sps = B * train_steps / t_train, infer_sps = B * infer_steps / t_infer;
    double train_gflops = train_sps * 3 * fwd / 1e9, infer_gflops = infer_sps * fwd / 1e9;
    printf("eir-dist CPU model, tutorial config, batch %d, %d thread(s)\n", B, threads);
    printf("  forward FLOPs per sample        %.3f GFLOP (training step = 3x)\n", fwd / 1e9);
    printf("  sgemm peak (OpenBLAS 2048^3)    %.1f GFLOP/s\n", peak);
    printf("  training                        %.1f samples/s  %.1f GFLOP/s (%.0f%% of sgemm peak)\n", train_sps,
           train_gflops, 100 * train_gflops / peak);
    printf("  inference                       %.1f samples/s  %.1f GFLOP/s (%.0f%% of sgemm peak)\n", infer_sps,
           infer_gflops, 100 * infer_gflops / peak);
    printf("{\"train_samples_per_s\": %.3f, \"infer_samples_per_s\": %.3f, \"threads\": %d, \"batch\": %d, "
           "\"sgemm_peak_gflops\": %.2f, \"train_gflops\": %.2f, \"infer_gflops\": %.2f, \"forward_flops_per_sample\": %.0f}\n",
           train_sps, infer_sps, threads, B, peak, train_gflops, infer_gflops, fwd);
    model_free(&m);
    free(am), free(av), free(tok), free(lab), free(perm);
    return 0;
}
