// test_model_util.h: finite-difference gradient checking and tiny model configurations shared by
// the layer and model tests (CPU and GPU).
//
// The layers compute in float. The checker perturbs one float element x[i] by +-eps, evaluates a
// scalar objective (accumulated in double by the caller), and compares the central difference
// (f(x+eps) - f(x-eps)) / 2eps with the analytic gradient:
//   |num - ana| <= atol + rtol * max(|num|, |ana|),  atol = atol_frac * max_j |ana_j| + 1e-7.
// Thresholds are stated where each check is made; gc_selftest() proves the checker can fail.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "model/model.h"

typedef double (*gc_objective_fn)(void *ctx);

typedef struct {
    float eps;
    double rtol, atol_frac;
    size_t max_checks;  // elements checked per tensor (all if n <= max_checks, else a random subset)
    int verbose;
    // Optional: called after each perturbed evaluation; 0 = this evaluation crossed a kink (e.g.
    // a max-pool argmax changed), so the element is skipped rather than compared.
    int (*valid)(void *ctx);
} GcOptions;

static const GcOptions GC_DEFAULT = {1e-2f, 1e-2, 1e-3, 400, 0, NULL};
static size_t gc_skipped = 0;

static uint64_t gc_rng_state = 0x9E3779B97F4A7C15ull;
static inline uint64_t gc_next(void) {
    gc_rng_state ^= gc_rng_state << 13;
    gc_rng_state ^= gc_rng_state >> 7;
    gc_rng_state ^= gc_rng_state << 17;
    return gc_rng_state;
}
static inline float gc_uniform(float lo, float hi) { return lo + (hi - lo) * (float)((gc_next() >> 40) * (1.0 / 16777216.0)); }
static inline void gc_fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = gc_uniform(lo, hi);
}
static inline double gc_dot(const float *a, const float *r, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)r[i];
    return s;
}

// Returns the number of elements that fail; prints the worst one.
static inline int gc_check(const char *name, float *x, const float *ana, size_t n, gc_objective_fn f, void *ctx,
                    const GcOptions *o) {
    double amax = 0.0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(ana[i]));
    double atol = o->atol_frac * amax + 1e-7;
    size_t checks = n <= o->max_checks ? n : o->max_checks;
    int fails = 0;
    double worst = 0.0, worst_num = 0.0, worst_ana = 0.0;
    size_t worst_i = 0;
    for (size_t c = 0; c < checks; c++) {
        size_t i = n <= o->max_checks ? c : (size_t)(gc_next() % n);
        float x0 = x[i];
        x[i] = x0 + o->eps;
        double fp = f(ctx);
        int ok = !o->valid || o->valid(ctx);
        x[i] = x0 - o->eps;
        double fm = f(ctx);
        ok = ok && (!o->valid || o->valid(ctx));
        x[i] = x0;
        if (!ok) {
            gc_skipped++;
            continue;
        }
        // the perturbation actually applied (x0 +- eps rounds in float)
        double h = ((double)(x0 + o->eps) - (double)(x0 - o->eps));
        double num = (fp - fm) / h;
        double err = fabs(num - ana[i]);
        double tol = atol + o->rtol * fmax(fabs(num), fabs(ana[i]));
        if (!(err <= tol)) fails++;
        double ratio = err / tol;
        if (ratio > worst || isnan(err)) {
            worst = isnan(err) ? INFINITY : ratio;
            worst_i = i;
            worst_num = num;
            worst_ana = ana[i];
        }
    }
    if (fails || o->verbose)
        fprintf(stderr, "  gradcheck %-28s n=%zu checked=%zu fails=%d worst[%zu]: num %.6g ana %.6g (err/tol %.3g)\n", name,
                n, checks, fails, worst_i, worst_num, worst_ana, worst);
    return fails;
}

// Tiny model configurations shared by the model tests (CPU gradient checks, GPU vs CPU): an input
// of L bytes in windows of W, d=8, 2 heads, 2 layers, FFN 16, dropout everywhere; a head of
// `dim` with K classes (K = 0: continuous), 2 blocks, dropout and stochastic depth.
static inline void tm_base_input(ModelInputSpec *s, const char *name, int L, int W, PositionKind pos, PoolKind pool) {
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->vocab = 261, s->max_length = L, s->d = 8, s->heads = 2, s->layers = 2, s->ffn = 16, s->window = W;
    s->position = pos, s->pool = pool, s->position_dropout = 0.1f, s->dropout = 0.15f;
}

static inline void tm_base_target(ModelTargetSpec *t, const char *out, const char *col, int K, int dim) {
    memset(t, 0, sizeof *t);
    strcpy(t->output_name, out);
    strcpy(t->column, col);
    t->n_classes = K, t->continuous = K == 0, t->layers = 2, t->dim = dim;
    t->rb_do = 0.1f, t->fc_do = 0.1f, t->sd_p = 0.3f;
}

// Fusion of 2 blocks (8) and three targets: 2 classes (no downsample), 3 classes with label
// smoothing (downsample 8 -> 6), and a continuous one.
static inline void tm_two_targets(ModelConfig *mc) {
    mc->fusion_layers = 2, mc->fusion_dim = 8, mc->fusion_rb_do = 0.1f, mc->fusion_sd_p = 0.3f;
    mc->n_targets = 3;
    tm_base_target(&mc->targets[0], "out_a", "colA", 2, 8);
    tm_base_target(&mc->targets[1], "out_a", "colB", 3, 6);
    mc->targets[1].label_smoothing = 0.1f;
    tm_base_target(&mc->targets[2], "out_b", "value", 0, 8);
}

// LayerScale gammas to O(1) (init 1e-5 would hide the branches from a check), and every matrix to
// U(+-1/sqrt(fan_in)) (the N(0, 0.02) of W1/W2/W3/out_proj makes gradients so small that float
// rounding in the loss would dominate finite differences).
static inline void tm_spread_params(Model *m) {
    for (int k = 0; k < m->n_param_tensors; k++) {
        const ParamTensor *p = &m->params[k];
        float *x = m->params_memory + p->offset;
        if (strstr(p->name, ".gamma")) gc_fill(x, p->numel, 0.5f, 1.5f);
        if (p->ndim == 2 && !strstr(p->name, "embedding")) {
            float bound = 1.0f / sqrtf((float)p->shape[1]);
            gc_fill(x, p->numel, -bound, bound);
        }
    }
}
