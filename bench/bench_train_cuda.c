// bench_train_cuda.c: eir-bench-train --device cuda: the training step and the inference forward
// of the tutorial model on GPU 0 through model_cuda.h, reading the loss back every step as the
// trainer does (inference: forward + logits to host); TFLOP/s against the GPU's fp32 peak and,
// for the tf32/bf16 modes, its dense tensor-core peak where the GPU is known.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "common/util.h"
#include "model/model_cuda.h"

// Dense tensor-core peaks (FLOP/s, FMA = 2) of the GPUs these benchmarks are run on, from the
// vendors' data sheets (SXM parts); 0 where unknown.
static double tensor_peak(const char *name, int math) {
    if (math == CUDA_MATH_FP32) return 0;
    double tf32 = strstr(name, "H200") || strstr(name, "H100") ? 494.7e12 : strstr(name, "A100") ? 156e12 : 0;
    return math == CUDA_MATH_TF32 ? tf32 : 2 * tf32;
}

int bench_cuda(Model *m, const ModelConfig *mc, int B, int train_steps, int infer_steps, int math,
               const BenchBatch *batch) {
    const int32_t *toks[1] = {batch->tokens};
    TargetLabels tl_ = {.cls = batch->labels}, *tl = &tl_;
    int32_t *perm = batch->perm;
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
    double fwd = bench_forward_flops(mc);
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
