// bench_train.c: eir-bench-train, the throughput of eir-dist's model on the EIR tutorial config
// (bench_common.h) as eir-dist runs it. A training step is what the trainer does per batch:
// zero gradients, forward in train mode (dropout, stochastic depth, mixup), loss, backward,
// global-norm clipping, AdamW over every tensor. Inference is the eval-mode forward that
// eir-predict and eir-serve run. One process measures inference at each --infer-batches size,
// then training at --batch, each for at least --min-steps steps and --min-time seconds after
// --warmup unmeasured ones, and the peak resident memory (VmHWM) after each phase. Prints one
// JSON line last. bench/train_bench.sh runs it interleaved with PyTorch and the sgemm ceiling.
//
//   eir-bench-train [--threads T] [--batch B] [--infer-batches 1,8,64] [--min-steps N]
//                   [--min-time S] [--warmup N] [--mode both|train|infer] [--profile]
//                   [--max-length L] [--global-layers G --global-heads H --global-dim D]
//   eir-bench-train --sgemm [--threads T] [--batch B]
//   eir-bench-train --device cuda [--math fp32|tf32|bf16] [--batch B] [--train-steps N] [--infer-steps N]
//
// --max-length / --global-*: the tutorial's local stage over L bytes, with a global stage of G
//   layers across its windows (beyond EIR, issue 17); the defaults are the tutorial model.
// --sgemm: only this machine's sgemm ceiling at T threads (bench_sgemm.c), as JSON.
// --profile: after the measured phases, time per op (op_profile.h) of the training step at
//   --batch and of the inference forward at each --infer-batches size: forward and backward
//   apart, with GFLOP/s and share of the step, as Markdown tables (docs/performance.md).
// --train-steps / --infer-steps N: exactly N measured steps (no time minimum).
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "common/util.h"
#include "model/simd.h"
#include "train/optimizer.h"

#define MAX_INFER_BATCHES 8

typedef struct {
    Model *m;
    float *adam_m, *adam_v;
    const BenchBatch *batch;
    int B;
} StepCtx;

static void train_step(void *p, long step) {
    StepCtx *c = p;
    Model *m = c->m;
    const int32_t *toks[1] = {c->batch->tokens};
    TargetLabels tl = {.cls = c->batch->labels};
    ForwardCtx ctx = {.train = true, .seed = 1, .step = (uint64_t)step + 1, .sample_base = (uint64_t)step * c->B,
                      .mixup = true, .mixup_lambda = 0.7f, .mixup_perm = c->batch->perm};
    OP_TIMED(m->prof, OP_ZERO_GRAD, OP_BWD, 0, model_zero_grad(m));
    model_forward(m, toks, c->B, &ctx);
    model_loss(m, &tl, NULL, NULL);
    model_backward(m);
    double t0 = op_begin(m->prof);
    double norm = sqrt(grad_sum_squares(m->grads_memory, m->num_parameters));
    double f = grad_clip_factor(norm, 1.0);
    if (f < 1) grad_scale(m->grads_memory, m->num_parameters, (float)f);
    op_end(m->prof, OP_GRAD_CLIP, OP_BWD, t0, 0);
    t0 = op_begin(m->prof);
    AdamWStep st = {.lr = 1e-4, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-4, .step = step + 1};
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *pt = &m->params[i];
        adamw_update(m->params_memory + pt->offset, m->grads_memory + pt->offset, c->adam_m + pt->offset,
                     c->adam_v + pt->offset, pt->numel, &st, pt->decay ? 1e-4 : 0.0);
    }
    op_end(m->prof, OP_ADAMW, OP_BWD, t0, 0);
}

static void infer_step(void *p, long step) {
    StepCtx *c = p;
    const int32_t *toks[1] = {c->batch->tokens};
    ForwardCtx ctx = {.train = false, .inference_only = true};
    model_forward(c->m, toks, c->B, &ctx);
}

// One Markdown table: time per op kind and pass, per step, against the step's wall time.
static void print_profile(const char *title, const OpProfile *p, long steps, double step_seconds) {
    printf("\n#### %s\n\n", title);
    printf("| op | pass | ms/step | share | GFLOP/s |\n|---|---|---:|---:|---:|\n");
    double timed = 0;
    for (int pass = 0; pass < OP_PASSES; pass++)
        for (int k = 0; k < OP_KINDS; k++) {
            if (!p->calls[pass][k]) continue;
            double s = p->seconds[pass][k] / steps;
            timed += s;
            char gf[32] = "";
            if (p->flops[pass][k] > 0) snprintf(gf, sizeof gf, "%.1f", p->flops[pass][k] / p->seconds[pass][k] / 1e9);
            printf("| %s | %s | %.2f | %.1f%% | %s |\n", op_kind_name((OpKind)k), pass == OP_FWD ? "forward" : "backward",
                   1e3 * s, 100 * s / step_seconds, gf);
        }
    double other = step_seconds - timed;
    printf("| other (token copy, loop overhead, clock reads) | | %.2f | %.1f%% | |\n", 1e3 * other,
           100 * other / step_seconds);
    printf("| **step** | | **%.2f** | 100%% | |\n", 1e3 * step_seconds);
}

static int parse_batches(const char *s, int *out) {
    int n = 0;
    char *copy = strdup_check(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < 1 || v > 65536 || n == MAX_INFER_BATCHES)
            eir_die_user("--infer-batches %s: expected up to %d comma-separated sizes in 1..65536", s, MAX_INFER_BATCHES);
        out[n++] = (int)v;
    }
    free(copy);
    if (!n) eir_die_user("--infer-batches: no sizes");
    return n;
}

static int int_arg(const char *name, const char *v, int lo, int hi) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) eir_die_user("%s %s: expected an integer in %d..%d", name, v, lo, hi);
    return (int)x;
}

int main(int argc, char **argv) {
    eir_set_progname("eir-bench-train");
    int threads = omp_get_num_procs(), B = 64, warmup = 1, min_steps = 3, math = 0, train_exact = 0, infer_exact = 0;
    double min_time = 2.0;
    int infer_b[MAX_INFER_BATCHES] = {1, 8, 64}, n_infer = 3;
    bool cuda = false, profile = false, sgemm_only = false, do_train = true, do_infer = true;
    int max_length = 1024, global_layers = 0, global_heads = 4, global_dim = 64;  // model shape (issue 17)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--profile")) { profile = true; continue; }
        if (!strcmp(a, "--sgemm")) { sgemm_only = true; continue; }
        if (i + 1 >= argc) eir_die_user("%s: missing value (see the header of bench/bench_train.c)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--device")) {
            if (strcmp(v, "cpu") && strcmp(v, "cuda")) eir_die_user("--device %s: cpu or cuda", v);
            cuda = !strcmp(v, "cuda");
        } else if (!strcmp(a, "--math")) {
            math = !strcmp(v, "tf32") ? 1 : !strcmp(v, "bf16") ? 2 : !strcmp(v, "fp32") ? 0 : -1;
            if (math < 0) eir_die_user("--math %s: fp32, tf32 or bf16", v);
        } else if (!strcmp(a, "--mode")) {
            if (strcmp(v, "both") && strcmp(v, "train") && strcmp(v, "infer")) eir_die_user("--mode %s: both, train or infer", v);
            do_train = strcmp(v, "infer") != 0, do_infer = strcmp(v, "train") != 0;
        } else if (!strcmp(a, "--threads")) threads = int_arg(a, v, 1, 1024);
        else if (!strcmp(a, "--batch")) B = int_arg(a, v, 1, 65536);
        else if (!strcmp(a, "--infer-batches")) n_infer = parse_batches(v, infer_b);
        else if (!strcmp(a, "--max-length")) max_length = int_arg(a, v, 1, 1 << 24);
        else if (!strcmp(a, "--global-layers")) global_layers = int_arg(a, v, 0, 64);
        else if (!strcmp(a, "--global-heads")) global_heads = int_arg(a, v, 1, 64);
        else if (!strcmp(a, "--global-dim")) global_dim = int_arg(a, v, 1, 4096);
        else if (!strcmp(a, "--min-steps")) min_steps = int_arg(a, v, 1, 1 << 30);
        else if (!strcmp(a, "--warmup")) warmup = int_arg(a, v, 0, 1 << 30);
        else if (!strcmp(a, "--train-steps")) train_exact = int_arg(a, v, 1, 1 << 30);
        else if (!strcmp(a, "--infer-steps")) infer_exact = int_arg(a, v, 1, 1 << 30);
        else if (!strcmp(a, "--min-time")) {
            char *end;
            min_time = strtod(v, &end);
            if (*end || !(min_time >= 0 && min_time <= 3600)) eir_die_user("--min-time %s: seconds in 0..3600", v);
        } else eir_die_user("unknown argument %s (see the header of bench/bench_train.c)", a);
    }
    omp_set_num_threads(threads);
    ModelConfig mc;
    bench_tutorial_config(&mc);
    if (max_length != 1024 || global_layers > 0) {  // the tutorial's local stage, longer and/or with a global stage
        ModelInputSpec *s0 = &mc.inputs[0];
        s0->max_length = max_length;
        s0->global_layers = global_layers, s0->global_heads = global_heads, s0->global_d = global_dim;
        char err[256];
        if (model_config_finish(&mc, err, sizeof err) != 0) eir_die_user("%s", err);
    }
    double fwd = bench_forward_flops(&mc);
    int L = mc.inputs[0].max_length;

    if (sgemm_only) {
        SgemmCeiling c;
        bench_sgemm_ceiling(&c, threads, B, &mc);
        printf("sgemm ceiling, %d thread(s), OpenBLAS %s kernels: 2048^3 %.1f GFLOP/s, the model's layer GEMMs "
               "(batch %d) %.1f GFLOP/s\n", threads, bench_blas_core(), c.big_gflops, B, c.model_gflops);
        printf("{\"side\": \"sgemm\", \"threads\": %d, \"blas_core\": \"%s\", \"batch\": %d, \"sgemm_2048_gflops\": %.2f, "
               "\"sgemm_model_gflops\": %.2f, \"check_rel_err\": %.3g}\n",
               threads, bench_blas_core(), B, c.big_gflops, c.model_gflops, c.check_rel_err);
        return 0;
    }

    int maxB = do_train ? B : 1;
    if (do_infer)
        for (int k = 0; k < n_infer; k++) maxB = infer_b[k] > maxB ? infer_b[k] : maxB;
    BenchBatch batch;
    bench_batch_init(&batch, maxB, L);
    Model m;
    model_build(&m, &mc);
    model_init_params(&m, 0);
    if (cuda) {
#ifdef EIR_HAVE_CUDA
        int rc = bench_cuda(&m, &mc, B, train_exact ? train_exact : 20, infer_exact ? infer_exact : 20, math, &batch);
        model_free(&m);
        bench_batch_free(&batch);
        return rc;
#else
        eir_die_user("--device cuda: built without the CUDA backend");
#endif
    }
    model_alloc_activations(&m, maxB);
    StepCtx ctx = {.m = &m, .batch = &batch};
    printf("eir-dist CPU model, tutorial config (max_length %d, global layers %d), %d thread(s), kernels %s, OpenBLAS %s\n",
           L, mc.inputs[0].global_layers, threads, simd_kernel_level(), bench_blas_core());
    printf("  forward FLOPs per sample        %.4f GFLOP (training step = 3x)\n", fwd / 1e9);

    StrBuf js = {0};
    sb_printf(&js, "{\"side\": \"eir-dist\", \"threads\": %d, \"kernels\": \"%s\", \"blas_core\": \"%s\", "
                   "\"forward_flops_per_sample\": %.0f, \"max_length\": %d, \"global_layers\": %d",
              threads, simd_kernel_level(), bench_blas_core(), fwd, L, mc.inputs[0].global_layers);
    int isteps = infer_exact ? infer_exact : min_steps;
    double itime = infer_exact ? 0 : min_time;
    if (do_infer) {
        sb_puts(&js, ", \"infer\": {");
        for (int k = 0; k < n_infer; k++) {
            ctx.B = infer_b[k];
            long n;
            double s = bench_run_phase(infer_step, &ctx, warmup, isteps, itime, &n);
            double sps = infer_b[k] * n / s;
            printf("  inference, batch %-5d          %.1f samples/s  %.1f GFLOP/s  (%ld batches in %.2f s)\n", infer_b[k],
                   sps, sps * fwd / 1e9, n, s);
            sb_printf(&js, "%s\"%d\": {\"samples_per_s\": %.3f, \"gflops\": %.3f, \"steps\": %ld, \"seconds\": %.4f}",
                      k ? ", " : "", infer_b[k], sps, sps * fwd / 1e9, n, s);
        }
        double rss = bench_peak_rss_mib();
        printf("  peak resident memory            %.1f MiB after inference\n", rss);
        sb_printf(&js, "}, \"infer_peak_rss_mib\": %.1f", rss);
    }
    float *adam_m = calloc_check(m.num_parameters, sizeof(float)), *adam_v = calloc_check(m.num_parameters, sizeof(float));
    ctx.adam_m = adam_m, ctx.adam_v = adam_v;
    if (do_train) {
        ctx.B = B;
        long n;
        double s = bench_run_phase(train_step, &ctx, warmup, train_exact ? train_exact : min_steps,
                                   train_exact ? 0 : min_time, &n);
        double sps = B * n / s, rss = bench_peak_rss_mib();
        printf("  training, batch %-5d           %.1f samples/s  %.1f GFLOP/s  (%ld steps in %.2f s)\n", B, sps,
               sps * 3 * fwd / 1e9, n, s);
        printf("  peak resident memory            %.1f MiB after training\n", rss);
        sb_printf(&js, ", \"train\": {\"batch\": %d, \"samples_per_s\": %.3f, \"gflops\": %.3f, \"steps\": %ld, "
                       "\"seconds\": %.4f}, \"train_peak_rss_mib\": %.1f",
                  B, sps, sps * 3 * fwd / 1e9, n, s, rss);
    }
    if (profile) {
        printf("\n### Time per op, %d thread(s), kernels %s, OpenBLAS %s\n", threads, simd_kernel_level(), bench_blas_core());
        OpProfile prof;
        if (do_train) {
            ctx.B = B;
            long n;
            bench_run_phase(train_step, &ctx, warmup, 0, 0, &n);  // warm-up, not profiled
            memset(&prof, 0, sizeof prof);
            m.prof = &prof;
            double s = bench_run_phase(train_step, &ctx, 0, min_steps, min_time, &n);
            m.prof = NULL;
            char title[96];
            snprintf(title, sizeof title, "Training step, batch %d (%.1f samples/s while profiled)", B, B * n / s);
            print_profile(title, &prof, n, s / n);
        }
        for (int k = 0; do_infer && k < n_infer; k++) {
            ctx.B = infer_b[k];
            long n;
            bench_run_phase(infer_step, &ctx, warmup, 0, 0, &n);
            memset(&prof, 0, sizeof prof);
            m.prof = &prof;
            double s = bench_run_phase(infer_step, &ctx, 0, isteps, itime, &n);
            m.prof = NULL;
            char title[96];
            snprintf(title, sizeof title, "Inference, batch %d (%.1f samples/s while profiled)", infer_b[k],
                     infer_b[k] * n / s);
            print_profile(title, &prof, n, s / n);
        }
        printf("\n");
    }
    sb_puts(&js, "}");
    printf("%s\n", js.data);
    sb_free(&js);
    model_free(&m);
    bench_batch_free(&batch);
    free(adam_m), free(adam_v);
    return 0;
}
