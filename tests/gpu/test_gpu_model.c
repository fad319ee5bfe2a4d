// test_gpu_model.c: the whole model on the GPU (model_cuda.h) against the CPU model (model.h),
// on the tiny configurations of test_model_gradcheck.c (front padding, two inputs, every pooling,
// both positions, causal masks, heads with and without downsample, categorical with smoothing and
// missing labels, continuous targets, mixup, dropout, stochastic depth, eval mode):
//  1. one forward + loss + backward: logits, loss and every parameter gradient;
//  2. 30 training steps (new batch, dropout masks and stochastic-depth coins every step, mixup,
//     gradient clipping, AdamW with weight decay) on both paths from the same start: the loss of
//     every step and the parameters after the last;
//  3. the gradient-range hook reports the host model's ranges, last to first, tiling the buffer;
//  4. the TF32 and bf16 matrix-product modes against the fp32 CPU path, within their bounds;
//  5. staged (asynchronous) batches give the same step as a direct upload.
// Exits 77 (skipped) without the CUDA backend or a GPU.
//
// Bounds (error = max|gpu - cpu| / max|cpu| over a tensor, or relative L2 where said):
// - fp32: logits and loss 1e-5, gradients 1e-4 per tensor. The GPU sums in other orders
//   (cuBLAS blocking, warp trees, chunked column sums) and contracts to fma; through 2 layers and
//   2-3 MLP blocks these fp32 rounding differences stay ~1e-6 (test_golden.c's budget vs PyTorch
//   is the same 1e-5 / 1e-4).
// - 30 steps, fp32: per-step loss 1e-5 relative, final parameters 1e-5 relative L2 over the whole
//   buffer (the bound cli_dist_invariance uses for different MPI summation orders).
// - TF32 (10-bit mantissa operands, unit roundoff u = 2^-11 = 4.9e-4) and bf16 (7-bit, u = 2^-8 =
//   3.9e-3): each of the ~10 matrix products on a path to the logits rounds its operands once
//   (relative error <= 2u per product, fp32 accumulation adds nothing comparable), and the errors
//   add up through the layers: logits within ~20u, i.e. 1e-2 (TF32) and 6e-2 (bf16), normwise.
//   Over 30 AdamW steps the loss curve stays within 1e-2 / 5e-2 relative of the fp32 CPU's and the
//   parameters within 5e-3 / 3e-2 relative L2 (AdamW normalises the updates, so operand rounding
//   moves each step by at most a fraction of lr). Measured in the emulation (which rounds the
//   operands exactly as the tensor cores' input conversion does): logits 1.0e-3 / 1.9e-2, 30 steps
//   5.5e-4 / 1.5e-3 loss and 1.3e-4 / 1.7e-3 parameters, so the bounds leave ~3-20x for the
//   hardware's accumulation order.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_model_util.h"
#include "test_util.h"

#ifdef EIR_HAVE_CUDA
#include "model/model.h"
#include "model/model_cuda.h"
#include "train/optimizer.h"

#define B_ROWS 4

typedef struct {
    int32_t *tokens[MODEL_MAX_INPUTS];
    int32_t *cls[MODEL_MAX_TARGETS];
    float *val[MODEL_MAX_TARGETS];
    TargetLabels labels[MODEL_MAX_TARGETS];
    int32_t perm[B_ROWS];
    uint64_t ids[B_ROWS];
} Batch;

static void batch_alloc(Batch *b, const Model *m) {
    memset(b, 0, sizeof *b);
    for (int i = 0; i < m->config.n_inputs; i++) b->tokens[i] = cuda_host_alloc(sizeof(int32_t) * B_ROWS * m->config.inputs[i].max_length);
    for (int t = 0; t < m->config.n_targets; t++) {
        b->cls[t] = calloc(B_ROWS, sizeof(int32_t));
        b->val[t] = calloc(B_ROWS, sizeof(float));
        if (m->config.targets[t].continuous) b->labels[t].value = b->val[t];
        else b->labels[t].cls = b->cls[t];
    }
}
static void batch_fill(Batch *b, const Model *m, int step) {
    for (int i = 0; i < m->config.n_inputs; i++)
        for (int j = 0; j < B_ROWS * m->config.inputs[i].max_length; j++) b->tokens[i][j] = (int32_t)(gc_next() % 261);
    for (int t = 0; t < m->config.n_targets; t++)
        for (int r = 0; r < B_ROWS; r++) {
            b->val[t][r] = (t + r + step) % 4 == 3 ? NAN : gc_uniform(-1, 1);
            b->cls[t][r] = (t + r + step) % 4 == 3 ? -1 : (int32_t)((r + t + step) % (m->config.targets[t].n_classes));
        }
    int32_t perms[3][B_ROWS] = {{2, 0, 3, 1}, {1, 3, 0, 2}, {3, 2, 1, 0}};
    memcpy(b->perm, perms[step % 3], sizeof b->perm);
    for (int r = 0; r < B_ROWS; r++) b->ids[r] = (uint64_t)(step * B_ROWS + r) * 7 + 3;
}
static void batch_free(Batch *b, const Model *m) {
    for (int i = 0; i < m->config.n_inputs; i++) cuda_host_free(b->tokens[i]);
    for (int t = 0; t < m->config.n_targets; t++) free(b->cls[t]), free(b->val[t]);
}

static double normwise(const float *got, const float *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        if (!(e <= num)) num = e;  // NaN-sticky
        den = fmax(den, fabs((double)ref[i]));
    }
    return num / (den > 0 ? den : 1.0);
}
static double rel_l2(const float *got, const float *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)got[i] - (double)ref[i];
        num += e * e;
        den += (double)ref[i] * ref[i];
    }
    return isnan(num) ? INFINITY : sqrt(num / (den > 0 ? den : 1.0));
}

static void build(Model *m, const ModelConfig *cfg) {
    model_build(m, cfg);
    model_init_params(m, 77);
    tm_spread_params(m);
    model_alloc_activations(m, B_ROWS);
}

static ForwardCtx ctx_for(const Batch *b, bool train, bool mixup, int step) {
    return (ForwardCtx){.train = train, .seed = 99, .step = (uint64_t)step, .sample_ids = b->ids, .mixup = mixup,
                        .mixup_lambda = 0.35f + 0.01f * (float)(step % 5), .mixup_perm = b->perm};
}

// ---- 3. the range hook ---------------------------------------------------------------------------
typedef struct {
    const Model *m;
    size_t expect_end;
    int calls, bad;
} HookLog;
static void hook(void *user, size_t off, size_t count, void *stream) {
    HookLog *h = user;
    (void)stream;
    if (off + count != h->expect_end) h->bad++;
    h->expect_end = off;
    h->calls++;
}

// The CPU model, its GPU twin from the same parameters, and the batch of step 1.
typedef struct {
    Model m;
    Batch b;
    ModelCuda g;
} Pair;
static void pair_open(Pair *p, const ModelConfig *mc, CudaMath math) {
    build(&p->m, mc);
    batch_alloc(&p->b, &p->m);
    batch_fill(&p->b, &p->m, 1);
    model_cuda_init(&p->g, &p->m, 0, B_ROWS, math);
}
static void pair_close(Pair *p) {
    model_cuda_free(&p->g);
    batch_free(&p->b, &p->m);
    model_free(&p->m);
}
// Normwise difference of the GPU's logits from the CPU's after a forward on both, worst target.
static double worst_logits(Pair *p) {
    double worst = 0.0;
    for (int t = 0; t < p->m.config.n_targets; t++) {
        size_t n = (size_t)B_ROWS * p->m.config.targets[t].n_classes;
        float *lg = malloc(n * sizeof(float));
        model_cuda_download_logits(&p->g, t, lg);
        worst = fmax(worst, normwise(lg, model_logits(&p->m, t), n));
        free(lg);
    }
    return worst;
}

// ---- 1 + 3: one pass ------------------------------------------------------------------------------
static void check_one_pass(const char *label, const ModelConfig *mc, bool train, bool mixup) {
    Pair p;
    pair_open(&p, mc, CUDA_MATH_FP32);
    Model *m = &p.m;
    ModelCuda *g = &p.g;
    ForwardCtx ctx = ctx_for(&p.b, train, mixup, 1);

    model_forward(m, (const int32_t *const *)p.b.tokens, B_ROWS, &ctx);
    float tl_cpu[MODEL_MAX_TARGETS], tl_gpu[MODEL_MAX_TARGETS];
    double loss_cpu = model_loss(m, p.b.labels, NULL, tl_cpu);
    model_zero_grad(m);
    model_backward(m);

    model_cuda_forward(g, (const int32_t *const *)p.b.tokens, B_ROWS, &ctx);
    model_cuda_loss_queue(g, p.b.labels, NULL);
    HookLog hl = {.m = m, .expect_end = m->num_parameters};
    model_cuda_set_grad_hook(g, hook, &hl);
    model_cuda_zero_grad(g);
    model_cuda_backward(g);
    double loss_gpu = model_cuda_loss_read(g, tl_gpu);

    double worst = worst_logits(&p);
    for (int t = 0; t < mc->n_targets; t++)
        CHECK_MSG(fabs(tl_gpu[t] - tl_cpu[t]) <= 1e-5 * fmax(1.0, fabs(tl_cpu[t])), "%s: target %d loss %.9g vs %.9g",
                  label, t, tl_gpu[t], tl_cpu[t]);
    printf("%s logits: %.2e (bound 1e-5); loss %.9g vs %.9g\n", label, worst, loss_gpu, loss_cpu);
    CHECK_MSG(worst <= 1e-5, "%s: logits differ by %.3g", label, worst);
    CHECK_MSG(fabs(loss_gpu - loss_cpu) <= 1e-5 * fmax(1.0, fabs(loss_cpu)), "%s: loss %.9g vs %.9g", label, loss_gpu,
              loss_cpu);
    float *grads = malloc(m->num_parameters * sizeof(float));
    model_cuda_download_grads(g, grads);
    double gw = 0.0;
    const char *gw_name = "";
    for (int k = 0; k < m->n_param_tensors; k++) {
        const ParamTensor *pt = &m->params[k];
        double e = normwise(grads + pt->offset, m->grads_memory + pt->offset, pt->numel);
        if (!(e <= gw)) gw = e, gw_name = pt->name;
    }
    printf("%s gradients: worst tensor %.2e (%s; bound 1e-4)\n", label, gw, gw_name);
    CHECK_MSG(gw <= 1e-4, "%s: gradient of %s differs by %.3g", label, gw_name, gw);
    CHECK_MSG(hl.bad == 0 && hl.expect_end == 0 && hl.calls == m->n_ranges,
              "%s: grad hook: %d calls (%d ranges), %d out of order, ended at %zu", label, hl.calls, m->n_ranges, hl.bad,
              hl.expect_end);
    free(grads);
    pair_close(&p);
}

// ---- 4a: eval logits in a reduced-precision mode against the fp32 CPU -----------------------------
static void check_math_logits(const char *label, const ModelConfig *mc, CudaMath math, double bound) {
    Pair p;
    pair_open(&p, mc, math);
    ForwardCtx ctx = ctx_for(&p.b, false, false, 1);
    model_forward(&p.m, (const int32_t *const *)p.b.tokens, B_ROWS, &ctx);
    model_cuda_forward(&p.g, (const int32_t *const *)p.b.tokens, B_ROWS, &ctx);
    double worst = worst_logits(&p);
    const char *mode = math == CUDA_MATH_TF32 ? "tf32" : "bf16";
    printf("%s %s logits: %.2e (bound %.0e)\n", label, mode, worst, bound);
    CHECK_MSG(worst <= bound, "%s %s: logits differ by %.3g", label, mode, worst);
    // and not bit-identical to fp32: the mode really changes the products
    CHECK_MSG(worst > 0.0, "%s %s: logits identical to fp32 (mode not applied?)", label, mode);
    pair_close(&p);
}

// ---- 2, 4, 5: training steps ------------------------------------------------------------------------
typedef struct {
    double loss_rel, param_l2;
} StepsResult;

static StepsResult train_steps(const char *label, const ModelConfig *mc, CudaMath math, int steps, bool staged) {
    Model m;
    gc_rng_state = 0x1234567ull;
    build(&m, mc);
    float *adam_m = calloc(m.num_parameters, sizeof(float)), *adam_v = calloc(m.num_parameters, sizeof(float));
    ModelCuda g;
    model_cuda_init(&g, &m, 0, B_ROWS, math);
    // two batches in pinned memory, as the trainer's: staged, the next one is filled and staged
    // while the current step is still queued (its backward may not have run yet)
    Batch bufs[2];
    batch_alloc(&bufs[0], &m);
    batch_alloc(&bufs[1], &m);
    StepsResult r = {0, 0};
    const double clip = 0.5;
    if (staged) {
        batch_fill(&bufs[1], &m, 1);
        model_cuda_stage(&g, (const int32_t *const *)bufs[1].tokens, B_ROWS);
    }
    for (int step = 1; step <= steps; step++) {
        Batch *bp = &bufs[step % 2];
        if (!staged) batch_fill(bp, &m, step);
        Batch b = *bp;
        ForwardCtx ctx = ctx_for(&b, true, step % 2 == 0, step);
        double lr = 3e-3 * (step < 5 ? step / 5.0 : 1.0);
        // CPU
        model_zero_grad(&m);
        model_forward(&m, (const int32_t *const *)b.tokens, B_ROWS, &ctx);
        double loss_cpu = model_loss(&m, b.labels, NULL, NULL);
        model_backward(&m);
        double norm = sqrt(grad_sum_squares(m.grads_memory, m.num_parameters));
        double f = grad_clip_factor(norm, clip);
        if (f < 1.0) grad_scale(m.grads_memory, m.num_parameters, (float)f);
        AdamWStep s = {.lr = lr, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-2, .step = step};
        for (int k = 0; k < m.n_param_tensors; k++) {
            const ParamTensor *p = &m.params[k];
            adamw_update(m.params_memory + p->offset, m.grads_memory + p->offset, adam_m + p->offset, adam_v + p->offset,
                         p->numel, &s, p->decay ? s.wd : 0.0);
        }
        // GPU
        model_cuda_zero_grad(&g);
        model_cuda_forward(&g, staged ? NULL : (const int32_t *const *)b.tokens, B_ROWS, &ctx);
        model_cuda_loss_queue(&g, bp->labels, NULL);
        model_cuda_backward(&g);
        CudaAdamW a = {.lr = lr, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-2, .step = step, .grad_scale = 1.0f,
                       .clip = clip};
        model_cuda_adamw(&g, &a);
        if (staged && step < steps) {  // the trainer's prefetch: the next batch, before the loss is read
            batch_fill(&bufs[(step + 1) % 2], &m, step + 1);
            model_cuda_stage(&g, (const int32_t *const *)bufs[(step + 1) % 2].tokens, B_ROWS);
        }
        double loss_gpu = model_cuda_loss_read(&g, NULL);
        r.loss_rel = fmax(r.loss_rel, fabs(loss_gpu - loss_cpu) / fmax(1.0, fabs(loss_cpu)));
        if (isnan(loss_gpu)) r.loss_rel = INFINITY;
    }
    float *params = malloc(m.num_parameters * sizeof(float));
    model_cuda_download_params(&g, params);
    r.param_l2 = rel_l2(params, m.params_memory, m.num_parameters);
    // the moments too: a checkpoint carries them
    float *gm = malloc(m.num_parameters * sizeof(float)), *gv = malloc(m.num_parameters * sizeof(float));
    model_cuda_download_moments(&g, gm, gv);
    double mom = fmax(rel_l2(gm, adam_m, m.num_parameters), rel_l2(gv, adam_v, m.num_parameters));
    const char *mode = math == CUDA_MATH_FP32 ? "fp32" : math == CUDA_MATH_TF32 ? "tf32" : "bf16";
    printf("%s %s, %d steps%s: worst step loss %.2e, parameters %.2e rel L2, moments %.2e\n", label, mode, steps,
           staged ? " (staged batches)" : "", r.loss_rel, r.param_l2, mom);
    if (math == CUDA_MATH_FP32) CHECK_MSG(mom <= 1e-4, "%s: AdamW moments differ by %.3g", label, mom);
    free(params), free(gm), free(gv);
    free(adam_m), free(adam_v);
    batch_free(&bufs[0], &m);
    batch_free(&bufs[1], &m);
    model_cuda_free(&g);
    model_free(&m);
    return r;
}

static int run_all(void) {
    ModelConfig mc;
    // the gradcheck configurations
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 2;
    tm_base_input(&mc.inputs[0], "bytes_a", 10, 4, POS_EMBED, POOL_AVG);
    tm_base_input(&mc.inputs[1], "bytes_b", 8, 8, POS_ENCODE, POOL_MAX);
    tm_two_targets(&mc);
    check_one_pass("[two inputs, mixup, train]", &mc, true, true);
    ModelConfig two = mc;

    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_ENCODE, POOL_MAX);
    mc.inputs[0].masked = true;
    tm_two_targets(&mc);
    check_one_pass("[max, encode, causal]", &mc, true, false);

    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_NONE);
    tm_two_targets(&mc);
    check_one_pass("[pool none, mixup]", &mc, true, true);

    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 12, 0, POS_EMBED, POOL_AVG);
    mc.inputs[0].heads = 4;
    tm_two_targets(&mc);
    mc.targets[0].layers = 1;
    mc.fusion_layers = 3;
    check_one_pass("[no window, eval]", &mc, false, false);

    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 16, 8, POS_EMBED, POOL_AVG);
    mc.inputs[0].d = 16, mc.inputs[0].ffn = 24, mc.inputs[0].masked = true;
    tm_two_targets(&mc);
    check_one_pass("[head dim 8, causal, mixup]", &mc, true, true);
    ModelConfig hd8 = mc;

    // the global stage over windows (beyond EIR): 2 global layers of width 6 in 2 heads
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_AVG);
    mc.inputs[0].global_layers = 2, mc.inputs[0].global_heads = 2, mc.inputs[0].global_d = 6;
    tm_two_targets(&mc);
    check_one_pass("[global stage, mixup]", &mc, true, true);
    ModelConfig glob = mc;

    // 30 steps, fp32, direct and staged uploads
    StepsResult r = train_steps("[two inputs]", &two, CUDA_MATH_FP32, 30, false);
    CHECK_MSG(r.loss_rel <= 1e-5 && r.param_l2 <= 1e-5, "fp32 30 steps: loss %.3g, params %.3g", r.loss_rel, r.param_l2);
    r = train_steps("[global stage]", &glob, CUDA_MATH_FP32, 30, false);
    CHECK_MSG(r.loss_rel <= 1e-5 && r.param_l2 <= 1e-5, "fp32 30 steps, global stage: loss %.3g, params %.3g", r.loss_rel,
              r.param_l2);
    r = train_steps("[head dim 8]", &hd8, CUDA_MATH_FP32, 30, true);
    CHECK_MSG(r.loss_rel <= 1e-5 && r.param_l2 <= 1e-5, "fp32 30 staged steps: loss %.3g, params %.3g", r.loss_rel,
              r.param_l2);
    // reduced-precision matrix products
    check_math_logits("[head dim 8]", &hd8, CUDA_MATH_TF32, 1e-2);
    check_math_logits("[head dim 8]", &hd8, CUDA_MATH_BF16, 6e-2);
    r = train_steps("[head dim 8]", &hd8, CUDA_MATH_TF32, 30, false);
    CHECK_MSG(r.loss_rel <= 1e-2 && r.param_l2 <= 5e-3, "tf32 30 steps: loss %.3g, params %.3g", r.loss_rel, r.param_l2);
    r = train_steps("[head dim 8]", &hd8, CUDA_MATH_BF16, 30, false);
    CHECK_MSG(r.loss_rel <= 5e-2 && r.param_l2 <= 3e-2, "bf16 30 steps: loss %.3g, params %.3g", r.loss_rel, r.param_l2);
    TEST_MAIN_END();
}
#endif

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
#ifndef EIR_HAVE_CUDA
    printf("SKIP: built without the CUDA backend (EIR_HAVE_CUDA)\n");
    return 77;
#else
    if (cuda_device_count() == 0) {
        printf("SKIP: no CUDA device: the GPU model tests need a GPU (or the emulated build, EIR_CUDA=EMU)\n");
        return 77;
    }
    return run_all();
#endif
}
