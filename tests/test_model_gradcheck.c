// test_model_gradcheck.c: the whole model's backward pass against finite differences of its loss,
// on tiny configurations covering front padding (L=10, W=4), both position kinds, every pooling
// mode, causal masks, two inputs, heads with and without a downsample, categorical (2 and 3
// classes, label smoothing, missing labels) and continuous targets, mixup, dropout everywhere,
// stochastic depth with dropped and kept blocks, and eval mode.
//
// For every parameter tensor: up to 12 single elements (eps = 1e-2) and one random direction over
// the whole tensor (step 1e-2 in norm), each passing |num - ana| <= 1e-3 * max|ana| + 2e-2 *
// max(|num|, |ana|). LayerScale gammas are set to O(1) so that no branch is invisible.
// Also: batch-split invariance of the forward pass, gradient accumulation, and the checker
// catching a deliberately broken gradient.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/model.h"
#include "test_model_util.h"
#include "test_util.h"

#define B_ROWS 4

typedef struct {
    Model m;
    int B;
    ForwardCtx ctx;
    int32_t *tokens[MODEL_MAX_INPUTS];
    int32_t *cls[MODEL_MAX_TARGETS];
    float *val[MODEL_MAX_TARGETS];
    TargetLabels labels[MODEL_MAX_TARGETS];
    int32_t perm[B_ROWS];
    int32_t *argmax_ref[MODEL_MAX_INPUTS];  // max-pool argmax of the unperturbed pass
} Fixture;

static double loss_obj(void *p) {
    Fixture *f = p;
    model_forward(&f->m, (const int32_t *const *)f->tokens, f->B, &f->ctx);
    return model_loss(&f->m, f->labels, NULL, NULL);
}

static size_t argmax_len(const Fixture *f, int i) {
    const ModelInputSpec *s = &f->m.config.inputs[i];
    return (size_t)f->B * s->n_windows * s->d;
}

static int argmax_unchanged(void *p) {
    Fixture *f = p;
    for (int i = 0; i < f->m.config.n_inputs; i++)
        if (f->argmax_ref[i] &&
            memcmp(f->argmax_ref[i], f->m.acts.inputs[i].argmax, argmax_len(f, i) * sizeof(int32_t)) != 0)
            return 0;
    return 1;
}

static void setup(Fixture *f, const ModelConfig *mc, bool train, bool mixup, uint64_t step) {
    memset(f, 0, sizeof *f);
    f->B = B_ROWS;
    model_build(&f->m, mc);
    model_init_params(&f->m, 77);
    tm_spread_params(&f->m);
    model_alloc_activations(&f->m, B_ROWS);
    for (int i = 0; i < mc->n_inputs; i++) {
        int L = f->m.config.inputs[i].max_length;
        f->tokens[i] = malloc(sizeof(int32_t) * B_ROWS * L);
        for (int j = 0; j < B_ROWS * L; j++) f->tokens[i][j] = (int32_t)(gc_next() % 261);
        if (f->m.config.inputs[i].pool == POOL_MAX) f->argmax_ref[i] = malloc(argmax_len(f, i) * sizeof(int32_t));
    }
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &f->m.config.targets[t];
        if (s->continuous) {
            f->val[t] = malloc(sizeof(float) * B_ROWS);
            for (int b = 0; b < B_ROWS; b++) f->val[t][b] = b == 2 ? NAN : gc_uniform(-1, 1);
            f->labels[t].value = f->val[t];
        } else {
            f->cls[t] = malloc(sizeof(int32_t) * B_ROWS);
            for (int b = 0; b < B_ROWS; b++) f->cls[t][b] = (t + b) % 4 == 3 ? -1 : (int32_t)((b + t) % s->n_classes);
            f->labels[t].cls = f->cls[t];
        }
    }
    int32_t perm[B_ROWS] = {2, 0, 3, 1};
    memcpy(f->perm, perm, sizeof perm);
    f->ctx = (ForwardCtx){.train = train, .seed = 99, .step = step, .sample_base = 1000, .mixup = mixup,
                          .mixup_lambda = 0.35f, .mixup_perm = f->perm};
}

static void teardown(Fixture *f) {
    for (int i = 0; i < f->m.config.n_inputs; i++) free(f->tokens[i]), free(f->argmax_ref[i]);
    for (int t = 0; t < f->m.config.n_targets; t++) free(f->cls[t]), free(f->val[t]);
    model_free(&f->m);
}

static int count_sd(const Fixture *f, int *dropped, int *kept) {
    const ModelConfig *mc = &f->m.config;
    *dropped = *kept = 0;
    for (int k = 0; k < mc->fusion_layers; k++) f->m.acts.fusion[k].sd_scale == 0.0f ? (*dropped)++ : (*kept)++;
    for (int t = 0; t < mc->n_targets; t++)
        for (int k = 0; k < mc->targets[t].layers; k++)
            f->m.acts.heads[t].blocks[k].sd_scale == 0.0f ? (*dropped)++ : (*kept)++;
    return *dropped;
}

// One element: central difference with eps = 1e-2 (skipped if a max-pool argmax moved).
static int check_element(Fixture *f, const char *label, const ParamTensor *p, size_t i, float ana, double amax) {
    float *x = f->m.params_memory + p->offset;
    const float eps = 1e-2f;
    float x0 = x[i];
    x[i] = x0 + eps;
    double fp = loss_obj(f);
    int ok = argmax_unchanged(f);
    x[i] = x0 - eps;
    double fm = loss_obj(f);
    ok = ok && argmax_unchanged(f);
    x[i] = x0;
    if (!ok) {
        gc_skipped++;
        return 0;
    }
    double num = (fp - fm) / ((double)(x0 + eps) - (double)(x0 - eps));
    double tol = 1e-3 * amax + 2e-2 * fmax(fabs(num), fabs(ana)) + 1e-7;
    if (fabs(num - ana) <= tol) return 0;
    fprintf(stderr, "  element %s %s[%zu]: num %.6g ana %.6g (tol %.3g)\n", label, p->name, i, num, ana, tol);
    return 1;
}

// Whole tensor along a random +-1 direction v, step h = 1e-2/sqrt(n) (|h v| = 1e-2): compares
// (f(x + h v) - f(x - h v)) / 2h with g . v.
static int check_direction(Fixture *f, const char *label, const ParamTensor *p, const float *ga) {
    float *x = f->m.params_memory + p->offset;
    size_t n = p->numel;
    float *v = malloc(n * sizeof(float)), *x0 = malloc(n * sizeof(float));
    memcpy(x0, x, n * sizeof(float));
    double h = 1e-2 / sqrt((double)n), ana = 0, gnorm = 0;
    for (size_t j = 0; j < n; j++) {
        v[j] = (gc_next() & 1) ? 1.0f : -1.0f;
        ana += (double)ga[j] * v[j];
        gnorm += (double)ga[j] * ga[j];
    }
    double hp = 0, hm = 0;  // the steps actually taken (x0 +- h v rounds in float)
    for (size_t j = 0; j < n; j++) x[j] = x0[j] + (float)(h * v[j]), hp += ((double)x[j] - x0[j]) * v[j];
    double fp = loss_obj(f);
    int ok = argmax_unchanged(f);
    for (size_t j = 0; j < n; j++) x[j] = x0[j] - (float)(h * v[j]), hm += ((double)x0[j] - x[j]) * v[j];
    double fm = loss_obj(f);
    ok = ok && argmax_unchanged(f);
    memcpy(x, x0, n * sizeof(float));
    free(v), free(x0);
    if (!ok) {
        gc_skipped++;
        return 0;
    }
    double num = (fp - fm) / ((hp + hm) / (double)n);  // |v|^2 = n
    double tol = 1e-3 * sqrt(gnorm * (double)n) + 2e-2 * fmax(fabs(num), fabs(ana)) + 1e-7;
    if (fabs(num - ana) <= tol) return 0;
    fprintf(stderr, "  direction %s %s: num %.6g ana %.6g (tol %.3g)\n", label, p->name, num, ana, tol);
    return 1;
}

// Analytic gradient at the current parameters, then the checks. Returns the failures.
static int check_model(Fixture *f, const char *label, bool corrupt) {
    Model *m = &f->m;
    loss_obj(f);
    for (int i = 0; i < m->config.n_inputs; i++)
        if (f->argmax_ref[i]) memcpy(f->argmax_ref[i], m->acts.inputs[i].argmax, argmax_len(f, i) * sizeof(int32_t));
    model_zero_grad(m);
    model_backward(m);
    float *g = malloc(m->num_parameters * sizeof(float));
    memcpy(g, m->grads_memory, m->num_parameters * sizeof(float));
    int target = 0;  // the tensor holding the largest gradient element
    float gbig = 0.0f;
    for (int k = 0; k < m->n_param_tensors; k++)
        for (size_t j = 0; j < m->params[k].numel; j++)
            if (fabsf(g[m->params[k].offset + j]) > gbig) gbig = fabsf(g[m->params[k].offset + j]), target = k;
    if (corrupt) {  // scale the largest gradient element of one tensor by 1.2: the check must notice
        const ParamTensor *p = &m->params[target];
        size_t worst = 0;
        for (size_t j = 1; j < p->numel; j++)
            if (fabsf(g[p->offset + j]) > fabsf(g[p->offset + worst])) worst = j;
        g[p->offset + worst] *= 1.2f;
    }
    int fails = 0;
    for (int k = 0; k < m->n_param_tensors; k++) {
        if (corrupt && k != target) continue;
        const ParamTensor *p = &m->params[k];
        const float *ga = g + p->offset;
        size_t n = p->numel, best = 0;
        double amax = 0;
        for (size_t j = 0; j < n; j++) {
            amax = fmax(amax, fabs(ga[j]));
            if (fabsf(ga[j]) > fabsf(ga[best])) best = j;
        }
        // the largest-gradient element first, then random ones
        fails += check_element(f, label, p, best, ga[best], amax);
        for (int j = 1; j < 12 && (size_t)j < n; j++) {
            size_t i = (size_t)(gc_next() % n);
            fails += check_element(f, label, p, i, ga[i], amax);
        }
        if (!corrupt) fails += check_direction(f, label, p, ga);
    }
    loss_obj(f);  // leave the activations of the unperturbed parameters
    free(g);
    return fails;
}

static void run_config(const char *label, const ModelConfig *mc, bool train, bool mixup, bool need_sd_mix) {
    Fixture f;
    uint64_t step = 1;
    if (need_sd_mix) {  // pick a step whose stochastic-depth coins drop some blocks and keep others
        for (step = 1; step < 200; step++) {
            setup(&f, mc, train, mixup, step);
            loss_obj(&f);
            int dropped, kept;
            count_sd(&f, &dropped, &kept);
            teardown(&f);
            if (dropped > 0 && kept > 0) break;
        }
        CHECK(step < 200);
    }
    setup(&f, mc, train, mixup, step);
    int fails = check_model(&f, label, false);
    CHECK_MSG(fails == 0, "%s: %d gradient checks failed", label, fails);
    teardown(&f);
}

int main(void) {
    ModelConfig mc;
    // 1. two inputs (front padding: L=10, W=4 -> 3 windows, 2 pad rows; and L=8, W=8), avg + max
    //    pooling, embed + encode positions, mixup, dropout, stochastic depth mixed.
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 2;
    tm_base_input(&mc.inputs[0], "bytes_a", 10, 4, POS_EMBED, POOL_AVG);
    tm_base_input(&mc.inputs[1], "bytes_b", 8, 8, POS_ENCODE, POOL_MAX);
    tm_two_targets(&mc);
    run_config("[two inputs, mixup, train]", &mc, true, true, true);

    // 2. one input, max pooling, encode, causal mask, no mixup
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_ENCODE, POOL_MAX);
    mc.inputs[0].masked = true;
    tm_two_targets(&mc);
    run_config("[max, encode, causal]", &mc, true, false, false);

    // 3. no pooling (fusion input = all padded tokens), embed, mixup
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_NONE);
    tm_two_targets(&mc);
    run_config("[pool none, mixup]", &mc, true, true, true);

    // 4. no windowing (window_size 0 = one window of L), avg, eval mode (no dropout / sd / mixup)
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 12, 0, POS_EMBED, POOL_AVG);
    mc.inputs[0].heads = 4;  // head dim 2
    tm_two_targets(&mc);
    mc.targets[0].layers = 1;  // a head with a single block
    mc.fusion_layers = 3;      // fusion keys 0.0, 1.0, 1.1
    run_config("[no window, eval]", &mc, false, false, false);

    // 4b. head dim 8 (the vectorised attention path of the tutorial): d=16, 2 heads, causal
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_AVG);
    mc.inputs[0].d = 16, mc.inputs[0].ffn = 24, mc.inputs[0].masked = true;
    tm_two_targets(&mc);
    run_config("[head dim 8, causal, mixup]", &mc, true, true, false);

    // 4c. the global stage over windows (beyond EIR): L=10 in windows of 4 (3 windows, front
    //     padding), 2 global layers of width 6 in 2 heads (head dim 3: no RoPE there), mixup,
    //     dropout in both stages
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_AVG);
    mc.inputs[0].global_layers = 2, mc.inputs[0].global_heads = 2, mc.inputs[0].global_d = 6;
    tm_two_targets(&mc);
    run_config("[global stage, avg, mixup]", &mc, true, true, false);

    // 4d. two inputs, the global stage on the second only (max pooling, encode, causal local
    //     layers), the first without pooling
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 2;
    tm_base_input(&mc.inputs[0], "bytes_a", 8, 4, POS_EMBED, POOL_NONE);
    tm_base_input(&mc.inputs[1], "bytes_b", 12, 4, POS_ENCODE, POOL_MAX);
    mc.inputs[1].masked = true;
    mc.inputs[1].global_layers = 1, mc.inputs[1].global_heads = 2, mc.inputs[1].global_d = 8;
    tm_two_targets(&mc);
    run_config("[two inputs, global on one, max]", &mc, true, false, true);

    // 5. the checker must catch a broken gradient
    {
        memset(&mc, 0, sizeof mc);
        mc.n_inputs = 1;
        tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_AVG);
        tm_two_targets(&mc);
        Fixture f;
        setup(&f, &mc, true, true, 1);
        CHECK_MSG(check_model(&f, "[corrupted on purpose, expected fail]", true) >= 1, "broken gradient not caught");
        // 6. gradients accumulate: two backward passes = twice one
        loss_obj(&f);
        model_zero_grad(&f.m);
        model_backward(&f.m);
        float *g1 = malloc(f.m.num_parameters * sizeof(float));
        memcpy(g1, f.m.grads_memory, f.m.num_parameters * sizeof(float));
        model_backward(&f.m);
        size_t bad = 0;
        for (size_t i = 0; i < f.m.num_parameters; i++) bad += fabsf(f.m.grads_memory[i] - 2 * g1[i]) > 1e-6f * (1 + fabsf(g1[i]));
        CHECK_EQ_INT(bad, 0);
        free(g1);
        teardown(&f);
    }

    // 7. batch-split invariance (spec §10): rows 0..3 at once == rows 0..1 then 2..3 with the same
    //    global sample ids, in training mode (dropout on; no mixup, which pairs rows of a batch)
    {
        memset(&mc, 0, sizeof mc);
        mc.n_inputs = 1;
        tm_base_input(&mc.inputs[0], "bytes", 10, 4, POS_EMBED, POOL_AVG);
        tm_two_targets(&mc);
        Fixture f;
        setup(&f, &mc, true, false, 5);
        uint64_t ids[4] = {40, 41, 42, 43};
        f.ctx.sample_ids = ids;
        model_forward(&f.m, (const int32_t *const *)f.tokens, 4, &f.ctx);
        float full[4 * 3];
        memcpy(full, model_logits(&f.m, 1), sizeof full);
        float half[4 * 3];
        for (int part = 0; part < 2; part++) {
            const int32_t *tk[1] = {f.tokens[0] + part * 2 * 10};
            ForwardCtx c = f.ctx;
            c.sample_ids = ids + 2 * part;
            model_forward(&f.m, tk, 2, &c);
            memcpy(half + part * 6, model_logits(&f.m, 1), 6 * sizeof(float));
        }
        for (int i = 0; i < 12; i++) CHECK_CLOSE(full[i], half[i], 1e-5);
        teardown(&f);
    }
    // 8. the thread count does not change the results (row splits, fixed summation orders)
#ifdef _OPENMP
    {
        memset(&mc, 0, sizeof mc);
        mc.n_inputs = 1;
        tm_base_input(&mc.inputs[0], "bytes", 300, 64, POS_EMBED, POOL_MAX);  // big enough to go parallel
        mc.inputs[0].d = 32, mc.inputs[0].heads = 4, mc.inputs[0].ffn = 64;
        mc.inputs[0].global_layers = 1, mc.inputs[0].global_heads = 2, mc.inputs[0].global_d = 16;
        tm_two_targets(&mc);
        Fixture f;
        setup(&f, &mc, true, true, 3);
        int saved = omp_get_max_threads();
        float *g[2];
        double loss[2];
        for (int k = 0; k < 2; k++) {
            omp_set_num_threads(k == 0 ? 1 : 3);
            loss[k] = loss_obj(&f);
            model_zero_grad(&f.m);
            model_backward(&f.m);
            g[k] = malloc(f.m.num_parameters * sizeof(float));
            memcpy(g[k], f.m.grads_memory, f.m.num_parameters * sizeof(float));
        }
        omp_set_num_threads(saved);
        CHECK(loss[0] == loss[1]);
        size_t differ = 0;
        for (int k = 0; k < f.m.n_param_tensors; k++) {
            const ParamTensor *p = &f.m.params[k];
            size_t dk = 0;
            double mx = 0;
            for (size_t i = p->offset; i < p->offset + p->numel; i++) {
                dk += g[0][i] != g[1][i];
                mx = fmax(mx, fabs(g[0][i] - g[1][i]) / (fabs(g[0][i]) + 1e-30));
            }
            if (dk) fprintf(stderr, "  threads: %s differs in %zu elements (max rel %.2g)\n", p->name, dk, mx);
            differ += dk;
        }
        CHECK_MSG(differ == 0, "%zu gradient elements differ between 1 and 3 threads", differ);
        free(g[0]), free(g[1]);
        teardown(&f);
    }
#endif
    if (gc_skipped) fprintf(stderr, "  (%zu checks skipped: a max-pool argmax moved under the perturbation)\n", gc_skipped);
    TEST_MAIN_END();
}
