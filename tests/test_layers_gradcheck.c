// test_layers_gradcheck.c: every layer's backward against central finite differences of its
// forward (input and parameter gradients), with dropout on and off, plus value checks against
// plain reference formulas and the properties of the random masks.
//
// Thresholds (float layers, objective = sum(out * R) accumulated in double, R random):
// eps = 1e-2, |num - ana| <= 1e-3 * max|ana| + 1e-2 * max(|num|, |ana|) per element, unless a
// test states otherwise. The checker's own ability to fail is tested first (gc_selftest).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/rng.h"
#include "model/layers.h"
#include "test_model_util.h"
#include "test_util.h"

#define EXPECT_GRAD(name, x, ana, n, fn, ctx) CHECK_MSG(gc_check(name, x, ana, n, fn, ctx, &GC_DEFAULT) == 0, "%s", name)

static float *fa(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static int n_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// ------------------------------------------------------------------ self test of the checker
typedef struct {
    float *x, *out, *R;
    int n;
} SqCtx;
static double sq_obj(void *p) {
    SqCtx *c = p;
    for (int i = 0; i < c->n; i++) c->out[i] = c->x[i] * c->x[i] * c->x[i];
    return gc_dot(c->out, c->R, (size_t)c->n);
}
static void test_selftest(void) {
    SqCtx c = {fa(32), fa(32), fa(32), 32};
    gc_fill(c.x, 32, -1, 1);
    gc_fill(c.R, 32, -1, 1);
    float *g = fa(32);
    for (int i = 0; i < 32; i++) g[i] = 3 * c.x[i] * c.x[i] * c.R[i];
    CHECK(gc_check("selftest.correct", c.x, g, 32, sq_obj, &c, &GC_DEFAULT) == 0);
    // a gradient off by 5% in one element, or missing a factor, must be caught
    float keep = g[7];
    g[7] *= 1.05f;
    g[7] += 0.01f;
    CHECK(gc_check("selftest.wrong_one (expected fail)", c.x, g, 32, sq_obj, &c, &GC_DEFAULT) >= 1);
    g[7] = keep;
    for (int i = 0; i < 32; i++) g[i] *= 0.5f;
    CHECK(gc_check("selftest.wrong_all (expected fail)", c.x, g, 32, sq_obj, &c, &GC_DEFAULT) >= 16);
    free(c.x), free(c.out), free(c.R), free(g);
}

// ------------------------------------------------------------------ embedding
typedef struct {
    int N, V, d;
    int32_t *tok;
    float *table, *out, *R;
} EmbCtx;
static double emb_obj(void *p) {
    EmbCtx *c = p;
    embedding_forward(c->out, c->tok, c->table, c->N, c->V, c->d);
    return gc_dot(c->out, c->R, (size_t)c->N * c->d);
}
static void test_embedding(void) {
    EmbCtx c = {.N = 23, .V = 11, .d = 6};
    c.tok = malloc(sizeof(int32_t) * c.N);
    for (int n = 0; n < c.N; n++) c.tok[n] = (int32_t)(gc_next() % 7);  // repeats on purpose
    c.table = fa((size_t)c.V * c.d), c.out = fa((size_t)c.N * c.d), c.R = fa((size_t)c.N * c.d);
    gc_fill(c.table, (size_t)c.V * c.d, -0.1f, 0.1f);
    gc_fill(c.R, (size_t)c.N * c.d, -1, 1);
    emb_obj(&c);
    for (int n = 0; n < c.N; n++) CHECK(memcmp(c.out + n * c.d, c.table + c.tok[n] * c.d, sizeof(float) * c.d) == 0);
    float *dt = fa((size_t)c.V * c.d);
    embedding_backward(dt, c.R, c.tok, c.N, c.V, c.d);
    EXPECT_GRAD("embedding.table", c.table, dt, (size_t)c.V * c.d, emb_obj, &c);
    free(c.tok), free(c.table), free(c.out), free(c.R), free(dt);
}

// ------------------------------------------------------------------ mixup
typedef struct {
    int B;
    size_t D;
    int32_t *perm;
    float lam, *x, *out, *R;
} MixCtx;
static double mix_obj(void *p) {
    MixCtx *c = p;
    mixup_forward(c->out, c->x, c->perm, c->lam, c->B, c->D);
    return gc_dot(c->out, c->R, (size_t)c->B * c->D);
}
static void test_mixup(void) {
    int32_t perm[5] = {2, 0, 1, 4, 3};
    MixCtx c = {.B = 5, .D = 13, .perm = perm, .lam = 0.3f};
    size_t n = (size_t)c.B * c.D;
    c.x = fa(n), c.out = fa(n), c.R = fa(n);
    gc_fill(c.x, n, -1, 1);
    gc_fill(c.R, n, -1, 1);
    mix_obj(&c);
    CHECK_CLOSE(c.out[1 * c.D + 4], 0.3 * c.x[1 * c.D + 4] + 0.7 * c.x[0 * c.D + 4], 1e-6);
    float *dx = fa(n);
    for (size_t i = 0; i < n; i++) dx[i] = 1e30f;  // must be overwritten
    mixup_backward(dx, c.R, c.perm, c.lam, c.B, c.D);
    EXPECT_GRAD("mixup.x", c.x, dx, n, mix_obj, &c);
    free(c.x), free(c.out), free(c.R), free(dx);
}

// ------------------------------------------------------------------ scale + position, sinusoid, padding
typedef struct {
    int B, L, d;
    float scale, *e, *pos, *out, *R;
} PosCtx;
static double pos_obj(void *p) {
    PosCtx *c = p;
    embed_position_forward(c->out, c->e, c->pos, c->B, c->L, c->d, c->scale);
    return gc_dot(c->out, c->R, (size_t)c->B * c->L * c->d);
}
static void test_embed_position(void) {
    PosCtx c = {.B = 3, .L = 5, .d = 4, .scale = 2.0f};
    size_t n = (size_t)c.B * c.L * c.d, np = (size_t)c.L * c.d;
    c.e = fa(n), c.pos = fa(np), c.out = fa(n), c.R = fa(n);
    gc_fill(c.e, n, -1, 1), gc_fill(c.pos, np, -1, 1), gc_fill(c.R, n, -1, 1);
    float *de = fa(n), *dp = fa(np), *P = fa(np);
    gc_fill(P, np, -1, 1);
    memcpy(dp, P, sizeof(float) * np);  // dpos accumulates
    embed_position_backward(de, dp, c.R, c.B, c.L, c.d, c.scale);
    for (size_t i = 0; i < np; i++) dp[i] -= P[i];
    EXPECT_GRAD("embed_position.emb", c.e, de, n, pos_obj, &c);
    EXPECT_GRAD("embed_position.pos", c.pos, dp, np, pos_obj, &c);
    // in place (out == emb, demb == dout) gives the same values
    float *x = fa(n);
    memcpy(x, c.e, sizeof(float) * n);
    embed_position_forward(x, x, c.pos, c.B, c.L, c.d, c.scale);
    pos_obj(&c);
    CHECK(memcmp(x, c.out, sizeof(float) * n) == 0);
    free(c.e), free(c.pos), free(c.out), free(c.R), free(de), free(dp), free(P), free(x);

    // sinusoid table against the formula
    int L = 50, d = 8;
    float *pe = fa((size_t)L * d);
    sinusoid_position_table(pe, L, d);
    for (int p = 0; p < L; p++)
        for (int i = 0; i < d / 2; i++) {
            double w = exp(-log(10000.0) * 2 * i / d);
            CHECK_CLOSE(pe[p * d + 2 * i], sin(p * w), 2e-5);
            CHECK_CLOSE(pe[p * d + 2 * i + 1], cos(p * w), 2e-5);
        }
    free(pe);
}

typedef struct {
    int B, L, Lp, d;
    float *x, *out, *R;
} PadCtx;
static double pad_obj(void *p) {
    PadCtx *c = p;
    window_pad_forward(c->out, c->x, c->B, c->L, c->Lp, c->d);
    return gc_dot(c->out, c->R, (size_t)c->B * c->Lp * c->d);
}
static void test_window_pad(void) {
    PadCtx c = {.B = 2, .L = 10, .Lp = 12, .d = 3};
    size_t n = (size_t)c.B * c.L * c.d, no = (size_t)c.B * c.Lp * c.d;
    c.x = fa(n), c.out = fa(no), c.R = fa(no);
    gc_fill(c.x, n, -1, 1), gc_fill(c.R, no, -1, 1);
    pad_obj(&c);
    for (int b = 0; b < c.B; b++) {
        for (int k = 0; k < 2 * c.d; k++) CHECK(c.out[b * c.Lp * c.d + k] == 0.0f);
        CHECK(c.out[b * c.Lp * c.d + 2 * c.d] == c.x[b * c.L * c.d]);
    }
    float *dx = fa(n);
    window_pad_backward(dx, c.R, c.B, c.L, c.Lp, c.d);
    EXPECT_GRAD("window_pad.x", c.x, dx, n, pad_obj, &c);
    free(c.x), free(c.out), free(c.R), free(dx);
}

// ------------------------------------------------------------------ dropout and its masks
typedef struct {
    int B;
    size_t D;
    float p, *x, *out, *R;
    uint32_t *mask;
    DropoutKey key;
} DropCtx;
static double drop_obj(void *pp) {
    DropCtx *c = pp;
    dropout_forward(c->out, c->mask, c->x, c->B, c->D, c->p, &c->key);
    return gc_dot(c->out, c->R, (size_t)c->B * c->D);
}
static void test_dropout(void) {
    uint64_t ids[3] = {5, 9, 5};
    for (int on = 0; on < 2; on++) {
        DropCtx c = {.B = 3, .D = 77, .p = on ? 0.3f : 0.0f};
        c.key = (DropoutKey){.seed = 42, .purpose = rng_purpose(RNG_DROPOUT, 7), .step = 3, .sample_ids = ids};
        size_t n = (size_t)c.B * c.D;
        c.x = fa(n), c.out = fa(n), c.R = fa(n);
        c.mask = calloc((size_t)c.B * dropout_mask_words(c.D), sizeof(uint32_t));
        gc_fill(c.x, n, -1, 1), gc_fill(c.R, n, -1, 1);
        drop_obj(&c);
        float *dx = fa(n);
        dropout_backward(dx, c.R, c.mask, c.B, c.D, c.p);
        EXPECT_GRAD(on ? "dropout(p=0.3).x" : "dropout(p=0).x", c.x, dx, n, drop_obj, &c);
        if (on) {
            // rows 0 and 2 are the same sample: same mask, whatever their position in the batch
            for (size_t i = 0; i < c.D; i++) CHECK((c.out[i] == 0.0f) == (c.out[2 * c.D + i] == 0.0f));
            int zeros = 0;
            for (size_t i = 0; i < c.D; i++) zeros += c.out[i] == 0.0f;
            CHECK(zeros > 5 && zeros < 45);
            for (size_t i = 0; i < c.D; i++)
                if (c.out[i] != 0.0f) CHECK_CLOSE(c.out[i], c.x[i] / 0.7, 1e-6);
            // in-place use gives the same result
            float *y = fa(n);
            memcpy(y, c.x, sizeof(float) * n);
            dropout_forward(y, c.mask, y, c.B, c.D, c.p, &c.key);
            CHECK(memcmp(y, c.out, sizeof(float) * n) == 0);
            free(y);
        }
        free(c.x), free(c.out), free(c.R), free(dx), free(c.mask);
    }
    // Keep statistics, and the mask as a function of (seed, purpose, step, sample) only.
    size_t D = 200000;
    uint64_t one[1] = {123};
    DropoutKey k = {.seed = 1, .purpose = rng_purpose(RNG_DROPOUT, 1), .step = 0, .sample_ids = one};
    float *x = fa(D), *y = fa(D);
    uint32_t *m1 = calloc(dropout_mask_words(D), 4), *m2 = calloc(dropout_mask_words(D), 4);
    for (size_t i = 0; i < D; i++) x[i] = 1.0f;
    dropout_forward(y, m1, x, 1, D, 0.1f, &k);
    size_t kept = 0;
    for (size_t i = 0; i < D; i++) kept += y[i] != 0.0f;
    CHECK_CLOSE((double)kept / D, 0.9, 0.005);
    k.step = 1;
    dropout_forward(y, m2, x, 1, D, 0.1f, &k);
    CHECK(memcmp(m1, m2, dropout_mask_words(D) * 4) != 0);
    // bits from an unaligned start agree with the scalar Philox stream (rng.h)
    uint32_t bits[4];
    uint32_t thr = dropout_threshold(0.5f);
    dropout_keep_bits(bits, 9, 77, 4, 11, 13, 100, thr);
    RngStream r;
    rng_stream_init(&r, 9, 77, 4, 11);
    uint32_t words[64];
    for (int i = 0; i < 64; i++) words[i] = rng_next_u32(&r);
    for (int e = 13; e < 113; e++) {
        uint32_t w = words[e / 2];
        uint32_t h = e % 2 ? w >> 16 : w & 0xFFFFu;
        int k2 = e - 13;
        CHECK_EQ_INT((bits[k2 / 32] >> (k2 % 32)) & 1u, h >= thr);
    }
    // ... and from an aligned start, long enough for the 16-block vector path and its remainder
    uint32_t bits2[40];
    dropout_keep_bits(bits2, 9, 77, 4, 11, 256, 1250, thr);
    RngStream r2;
    rng_stream_init(&r2, 9, 77, 4, 11);
    uint32_t words2[800];
    for (int i = 0; i < 800; i++) words2[i] = rng_next_u32(&r2);
    for (int e = 256; e < 256 + 1250; e++) {
        uint32_t w = words2[e / 2];
        uint32_t h = e % 2 ? w >> 16 : w & 0xFFFFu;
        int k2 = e - 256;
        CHECK_EQ_INT((bits2[k2 / 32] >> (k2 % 32)) & 1u, h >= thr);
    }
    CHECK_EQ_INT(dropout_threshold(0.0f), 0);
    CHECK_EQ_INT(dropout_threshold(1.0f), 65536);
    free(x), free(y), free(m1), free(m2);
}

static void test_stochastic_depth(void) {
    int dropped = 0;
    for (uint64_t step = 0; step < 4000; step++) {
        float s = stochastic_depth_scale(0.25f, 5, rng_purpose(RNG_STOCH_DEPTH, 3), step);
        CHECK(s == 0.0f || fabsf(s - 1.0f / 0.75f) < 1e-6f);
        dropped += s == 0.0f;
        CHECK(s == stochastic_depth_scale(0.25f, 5, rng_purpose(RNG_STOCH_DEPTH, 3), step));
    }
    CHECK_CLOSE(dropped / 4000.0, 0.25, 0.03);
    CHECK(stochastic_depth_scale(0.0f, 5, 1, 1) == 1.0f);
    CHECK(stochastic_depth_scale(1.0f, 5, 1, 1) == 0.0f);
}

// ------------------------------------------------------------------ RMSNorm
typedef struct {
    int N, C;
    float *x, *w, *out, *rstd, *R;
} RmsCtx;
static double rms_obj(void *p) {
    RmsCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, RMSNORM_EPS);
    return gc_dot(c->out, c->R, (size_t)c->N * c->C);
}
static void test_rmsnorm(void) {
    int shapes[3][2] = {{7, 19}, {5, 64}, {3, 40}};
    for (int s = 0; s < 3; s++) {
        RmsCtx c = {.N = shapes[s][0], .C = shapes[s][1]};
        size_t n = (size_t)c.N * c.C;
        c.x = fa(n), c.w = fa(c.C), c.out = fa(n), c.rstd = fa(c.N), c.R = fa(n);
        gc_fill(c.x, n, -2, 2), gc_fill(c.w, c.C, 0.5f, 1.5f), gc_fill(c.R, n, -1, 1);
        rms_obj(&c);
        // value vs torch's formula in double
        for (int r = 0; r < c.N; r++) {
            double ss = 0;
            for (int k = 0; k < c.C; k++) ss += (double)c.x[r * c.C + k] * c.x[r * c.C + k];
            double rs = 1.0 / sqrt(ss / c.C + RMSNORM_EPS);
            CHECK_CLOSE(c.out[r * c.C + 3], c.x[r * c.C + 3] * rs * c.w[3], 1e-5);
        }
        float *dx = fa(n), *dw = fa(c.C), *P = fa(n), *Q = fa(c.C);
        gc_fill(P, n, -1, 1), gc_fill(Q, c.C, -1, 1);
        memcpy(dx, P, n * 4), memcpy(dw, Q, (size_t)c.C * 4);  // both accumulate
        rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.C);
        for (size_t i = 0; i < n; i++) dx[i] -= P[i];
        for (int i = 0; i < c.C; i++) dw[i] -= Q[i];
        EXPECT_GRAD("rmsnorm.x", c.x, dx, n, rms_obj, &c);
        EXPECT_GRAD("rmsnorm.weight", c.w, dw, (size_t)c.C, rms_obj, &c);
        free(c.x), free(c.w), free(c.out), free(c.rstd), free(c.R), free(dx), free(dw), free(P), free(Q);
    }
}

// ------------------------------------------------------------------ linear
typedef struct {
    int N, in, out;
    float *x, *w, *b, *y, *R;
} LinCtx;
static double lin_obj(void *p) {
    LinCtx *c = p;
    linear_forward(c->y, c->x, c->w, c->b, c->N, c->in, c->out, 1);
    return gc_dot(c->y, c->R, (size_t)c->N * c->out);
}
static void test_linear(void) {
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        LinCtx c = {.N = 9, .in = 13, .out = 6};
        size_t nx = (size_t)c.N * c.in, nw = (size_t)c.out * c.in, ny = (size_t)c.N * c.out;
        c.x = fa(nx), c.w = fa(nw), c.b = with_bias ? fa(c.out) : NULL, c.y = fa(ny), c.R = fa(ny);
        gc_fill(c.x, nx, -1, 1), gc_fill(c.w, nw, -1, 1), gc_fill(c.R, ny, -1, 1);
        if (c.b) gc_fill(c.b, c.out, -1, 1);
        lin_obj(&c);
        double ref = c.b ? c.b[2] : 0.0;
        for (int k = 0; k < c.in; k++) ref += (double)c.x[4 * c.in + k] * c.w[2 * c.in + k];
        CHECK_CLOSE(c.y[4 * c.out + 2], ref, 1e-5);
        float *dx = fa(nx), *dw = fa(nw), *db = fa(c.out), *P = fa(nx);
        gc_fill(P, nx, -1, 1);
        for (int acc = 0; acc < 2; acc++) {
            memset(dw, 0, nw * 4), memset(db, 0, (size_t)c.out * 4);
            if (acc)
                memcpy(dx, P, nx * 4);
            else
                for (size_t i = 0; i < nx; i++) dx[i] = 1e30f;
            linear_backward(dx, dw, c.b ? db : NULL, c.R, c.x, c.w, c.N, c.in, c.out, acc, NULL);
            if (acc)
                for (size_t i = 0; i < nx; i++) dx[i] -= P[i];
            EXPECT_GRAD(acc ? "linear.x(accumulate)" : "linear.x", c.x, dx, nx, lin_obj, &c);
        }
        EXPECT_GRAD("linear.weight", c.w, dw, nw, lin_obj, &c);
        if (c.b) EXPECT_GRAD("linear.bias", c.b, db, (size_t)c.out, lin_obj, &c);
        free(c.x), free(c.w), free(c.b), free(c.y), free(c.R), free(dx), free(dw), free(db), free(P);
    }
    // Many rows: the weight gradient is summed in chunks through scratch; compare with double sums.
    int N = 20000, in = 3, out = 5;
    float *x = fa((size_t)N * in), *g = fa((size_t)N * out), *w = fa((size_t)out * in), *dw = fa((size_t)out * in);
    float *dx = fa((size_t)N * in), *scr = fa(linear_backward_scratch_floats(N, in, out));
    CHECK(linear_backward_scratch_floats(N, in, out) >= 3 * (size_t)in * out);
    gc_fill(x, (size_t)N * in, -1, 1), gc_fill(g, (size_t)N * out, -1, 1), gc_fill(w, (size_t)out * in, -1, 1);
    for (int i = 0; i < out * in; i++) dw[i] = 1.0f;  // accumulates
    linear_backward(dx, dw, NULL, g, x, w, N, in, out, false, scr);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            double ref = 1.0;
            for (int n = 0; n < N; n++) ref += (double)g[(size_t)n * out + o] * x[(size_t)n * in + i];
            CHECK_CLOSE(dw[o * in + i], ref, 1e-4);
        }
    free(x), free(g), free(w), free(dw), free(dx), free(scr);
}

// ------------------------------------------------------------------ LayerScale + residual
typedef struct {
    int N, C;
    float scale, *x, *y, *g, *out, *R;
} LsCtx;
static double ls_obj(void *p) {
    LsCtx *c = p;
    layerscale_residual_forward(c->out, c->x, c->y, c->g, c->scale, c->N, c->C);
    return gc_dot(c->out, c->R, (size_t)c->N * c->C);
}
static void test_layerscale(void) {
    float scales[2] = {1.0f, 1.25f};
    for (int s = 0; s < 2; s++) {
        for (int with_x = 0; with_x < 2; with_x++) {
            LsCtx c = {.N = 6, .C = 21, .scale = scales[s]};
            size_t n = (size_t)c.N * c.C;
            c.x = with_x ? fa(n) : NULL, c.y = fa(n), c.g = fa(c.C), c.out = fa(n), c.R = fa(n);
            if (c.x) gc_fill(c.x, n, -1, 1);
            gc_fill(c.y, n, -1, 1), gc_fill(c.g, c.C, -1, 1), gc_fill(c.R, n, -1, 1);
            float *dy = fa(n), *dg = fa(c.C);
            layerscale_residual_backward(dy, dg, c.R, c.y, c.g, c.scale, c.N, c.C);
            EXPECT_GRAD("layerscale.y", c.y, dy, n, ls_obj, &c);
            EXPECT_GRAD("layerscale.gamma", c.g, dg, (size_t)c.C, ls_obj, &c);
            if (c.x) EXPECT_GRAD("layerscale.x (skip path = dout)", c.x, c.R, n, ls_obj, &c);
            free(c.x), free(c.y), free(c.g), free(c.out), free(c.R), free(dy), free(dg);
        }
    }
}

// ------------------------------------------------------------------ SwiGLU gate, GELU
typedef struct {
    int N, F;
    float *h, *out, *R;
} GluCtx;
static double glu_obj(void *p) {
    GluCtx *c = p;
    swiglu_forward(c->out, c->h, c->N, c->F);
    return gc_dot(c->out, c->R, (size_t)c->N * c->F);
}
static void test_swiglu(void) {
    GluCtx c = {.N = 5, .F = 24};
    size_t nh = (size_t)c.N * 2 * c.F, no = (size_t)c.N * c.F;
    c.h = fa(nh), c.out = fa(no), c.R = fa(no);
    gc_fill(c.h, nh, -4, 4), gc_fill(c.R, no, -1, 1);
    glu_obj(&c);
    for (int j = 0; j < c.F; j++) {
        double a = c.h[2 * c.F + j], b = c.h[2 * c.F + c.F + j];
        CHECK_CLOSE(c.out[c.F + j], a / (1 + exp(-a)) * b, 2e-6);
    }
    float *dh = fa(nh);
    swiglu_backward(dh, c.R, c.h, c.N, c.F);
    EXPECT_GRAD("swiglu.h", c.h, dh, nh, glu_obj, &c);
    free(c.h), free(c.out), free(c.R), free(dh);
}

typedef struct {
    size_t n;
    float *x, *out, *R;
} GeluCtx;
static double gelu_obj(void *p) {
    GeluCtx *c = p;
    gelu_forward(c->out, c->x, c->n);
    return gc_dot(c->out, c->R, c->n);
}
static void test_gelu(void) {
    GeluCtx c = {.n = 300};
    c.x = fa(c.n), c.out = fa(c.n), c.R = fa(c.n);
    gc_fill(c.x, c.n, -5, 5), gc_fill(c.R, c.n, -1, 1);
    gelu_obj(&c);
    for (size_t i = 0; i < c.n; i++) CHECK_CLOSE(c.out[i], 0.5 * c.x[i] * (1 + erf(c.x[i] / sqrt(2.0))), 1e-6);
    float *dx = fa(c.n);
    gelu_backward(dx, c.R, c.x, c.n);
    EXPECT_GRAD("gelu.x", c.x, dx, c.n, gelu_obj, &c);
    free(c.x), free(c.out), free(c.R), free(dx);
}

// ------------------------------------------------------------------ RoPE
typedef struct {
    int N, ld, W, nh, dh;
    float *x, *tmp, *cs, *sn, *R;
} RopeCtx;
static double rope_obj(void *p) {
    RopeCtx *c = p;
    memcpy(c->tmp, c->x, sizeof(float) * c->N * c->ld);
    rope_forward(c->tmp, c->N, c->ld, c->W, c->nh, c->dh, c->cs, c->sn);
    return gc_dot(c->tmp, c->R, (size_t)c->N * c->ld);
}
static void test_rope(void) {
    // two windows of W=5 rows, q and k heads (2 x 2 heads of dh=4) inside rows of 3d = 24
    RopeCtx c = {.N = 10, .ld = 24, .W = 5, .nh = 4, .dh = 4};
    size_t n = (size_t)c.N * c.ld;
    float freqs[2];
    rope_freqs_init(freqs, c.dh);
    CHECK_CLOSE(freqs[0], 1.0, 1e-7);
    CHECK_CLOSE(freqs[1], 0.01, 1e-7);  // 10000^(-2/4)
    c.cs = fa((size_t)c.W * 2), c.sn = fa((size_t)c.W * 2);
    rope_tables(c.cs, c.sn, freqs, c.W, c.dh);
    c.x = fa(n), c.tmp = fa(n), c.R = fa(n);
    gc_fill(c.x, n, -1, 1), gc_fill(c.R, n, -1, 1);
    rope_obj(&c);
    for (int r = 0; r < c.N; r++) {
        int pos = r % c.W;
        for (int h = 0; h < c.nh; h++)
            for (int i = 0; i < c.dh / 2; i++) {
                const float *v = c.x + r * c.ld + h * c.dh;
                double a = pos * freqs[i];
                CHECK_CLOSE(c.tmp[r * c.ld + h * c.dh + 2 * i], v[2 * i] * cos(a) - v[2 * i + 1] * sin(a), 1e-6);
                CHECK_CLOSE(c.tmp[r * c.ld + h * c.dh + 2 * i + 1], v[2 * i + 1] * cos(a) + v[2 * i] * sin(a), 1e-6);
            }
        for (int k = c.nh * c.dh; k < c.ld; k++) CHECK(c.tmp[r * c.ld + k] == c.x[r * c.ld + k]);  // v untouched
    }
    float *dx = fa(n);
    memcpy(dx, c.R, n * 4);
    rope_backward(dx, c.N, c.ld, c.W, c.nh, c.dh, c.cs, c.sn);
    EXPECT_GRAD("rope.x", c.x, dx, n, rope_obj, &c);
    free(c.x), free(c.tmp), free(c.R), free(c.cs), free(c.sn), free(dx);
}

// ------------------------------------------------------------------ window attention
typedef struct {
    int B, T, W, d, heads;
    bool causal;
    float p;
    float *qkv, *out, *lse, *R, *scratch;
    uint32_t *mask;
    DropoutKey key;
} AttCtx;
static double att_obj(void *pp) {
    AttCtx *c = pp;
    window_attention_forward(c->out, c->lse, c->mask, c->qkv, c->B, c->T, c->W, c->d, c->heads, c->causal, c->p, &c->key,
                             c->scratch, n_threads());
    return gc_dot(c->out, c->R, (size_t)c->B * c->T * c->d);
}
// Straightforward reference in double (uses the stored mask bits for the dropout).
static void att_reference(const AttCtx *c, double *ref) {
    int dh = c->d / c->heads, C = c->T / c->W;
    size_t mw = ((size_t)c->W * c->W + 31) / 32;  // words per (sample, window, head) unit
    double keep_scale = c->p > 0 ? 1.0 / (1.0 - c->p) : 1.0;
    double *s = malloc(sizeof(double) * c->W);
    for (int b = 0; b < c->B; b++)
        for (int w = 0; w < C; w++)
            for (int h = 0; h < c->heads; h++)
                for (int i = 0; i < c->W; i++) {
                    size_t ri = (size_t)b * c->T + (size_t)w * c->W + i;
                    int jn = c->causal ? i + 1 : c->W;
                    double m = -1e300, sum = 0;
                    for (int j = 0; j < jn; j++) {
                        size_t rj = (size_t)b * c->T + (size_t)w * c->W + j;
                        double acc = 0;
                        for (int t = 0; t < dh; t++)
                            acc += (double)c->qkv[ri * 3 * c->d + h * dh + t] * c->qkv[rj * 3 * c->d + c->d + h * dh + t];
                        s[j] = acc / sqrt((double)dh);
                        m = fmax(m, s[j]);
                    }
                    for (int j = 0; j < jn; j++) sum += (s[j] = exp(s[j] - m));
                    const uint32_t *bits = c->p > 0 ? c->mask + (((size_t)b * C + w) * c->heads + h) * mw : NULL;
                    size_t b0 = (size_t)i * c->W;  // row i starts at bit i*W of its unit
                    for (int t = 0; t < dh; t++) {
                        double o = 0;
                        for (int j = 0; j < jn; j++) {
                            size_t rj = (size_t)b * c->T + (size_t)w * c->W + j;
                            double pj = s[j] / sum;
                            if (bits) pj *= ((bits[(b0 + j) / 32] >> ((b0 + j) % 32)) & 1u) * keep_scale;
                            o += pj * c->qkv[rj * 3 * c->d + 2 * c->d + h * dh + t];
                        }
                        ref[ri * c->d + h * dh + t] = o;
                    }
                }
    free(s);
}
static void test_attention(void) {
    struct {
        int B, C, W, d, heads;
        bool causal;
        float p;
    } cfgs[] = {
        {2, 2, 5, 8, 2, false, 0.0f}, {2, 2, 5, 8, 2, true, 0.0f},  {2, 2, 5, 8, 2, false, 0.3f},
        {2, 2, 5, 8, 2, true, 0.3f},  {1, 1, 37, 8, 1, false, 0.2f}, {1, 2, 33, 16, 2, true, 0.1f},
        {1, 2, 9, 32, 2, false, 0.2f},  // head dim 16
        {1, 1, 7, 48, 2, true, 0.1f},   // head dim 24: vector path with a run-time head dim
        {1, 1, 6, 12, 2, false, 0.1f},  // head dim 6: scalar path
    };
    uint64_t ids[2] = {17, 4};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        AttCtx c = {.B = cfgs[k].B, .W = cfgs[k].W, .d = cfgs[k].d, .heads = cfgs[k].heads, .causal = cfgs[k].causal,
                    .p = cfgs[k].p};
        c.T = cfgs[k].C * c.W;
        c.key = (DropoutKey){.seed = 3, .purpose = rng_purpose(RNG_DROPOUT, 2), .step = 8, .sample_ids = ids};
        size_t N = (size_t)c.B * c.T;
        c.qkv = fa(N * 3 * c.d), c.out = fa(N * c.d), c.lse = fa(N * c.heads), c.R = fa(N * c.d);
        c.scratch = fa(window_attention_scratch_floats(c.W, c.d / c.heads) * n_threads());
        c.mask = calloc(window_attention_mask_words(c.B, c.T, c.W, c.heads) + 1, 4);
        gc_fill(c.qkv, N * 3 * c.d, -1.5f, 1.5f), gc_fill(c.R, N * c.d, -1, 1);
        att_obj(&c);
        double *ref = malloc(sizeof(double) * N * c.d);
        att_reference(&c, ref);
        double maxerr = 0;
        for (size_t i = 0; i < N * c.d; i++) maxerr = fmax(maxerr, fabs(ref[i] - c.out[i]));
        CHECK_MSG(maxerr < 2e-5, "attention cfg %zu: forward differs from the reference by %g", k, maxerr);
        float *dqkv = fa(N * 3 * c.d);
        for (size_t i = 0; i < N * 3 * c.d; i++) dqkv[i] = 1e30f;  // every column must be written
        window_attention_backward(dqkv, c.R, c.qkv, c.lse, c.mask, c.B, c.T, c.W, c.d, c.heads, c.causal, c.p, c.scratch,
                                  n_threads());
        char name[64];
        snprintf(name, sizeof name, "attention[%zu].qkv", k);
        GcOptions o = GC_DEFAULT;
        o.max_checks = 600;
        CHECK_MSG(gc_check(name, c.qkv, dqkv, N * 3 * c.d, att_obj, &c, &o) == 0, "%s", name);
        free(c.qkv), free(c.out), free(c.lse), free(c.R), free(c.scratch), free(c.mask), free(ref), free(dqkv);
    }
}

// ------------------------------------------------------------------ pooling
typedef struct {
    int B, C, W, d, ld;
    PoolKind kind;
    float *x, *out, *R;
    int32_t *am;
} PoolCtx;
static double pool_obj(void *p) {
    PoolCtx *c = p;
    pool_forward(c->out, c->am, c->x, c->B, c->C, c->W, c->d, c->kind, c->ld);
    return gc_dot(c->out, c->R, (size_t)c->B * c->ld);
}
static void test_pool(void) {
    PoolKind kinds[3] = {POOL_AVG, POOL_MAX, POOL_NONE};
    const char *names[3] = {"pool(avg).x", "pool(max).x", "pool(none).x"};
    for (int k = 0; k < 3; k++) {
        PoolCtx c = {.B = 2, .C = 3, .W = 4, .d = 5, .kind = kinds[k]};
        int feat = c.kind == POOL_NONE ? c.C * c.W * c.d : c.C * c.d;
        c.ld = feat + 3;  // rows of the concatenated fusion input are wider than this input's part
        size_t n = (size_t)c.B * c.C * c.W * c.d;
        c.x = fa(n), c.out = fa((size_t)c.B * c.ld), c.R = fa((size_t)c.B * c.ld);
        c.am = calloc((size_t)c.B * c.C * c.d, sizeof(int32_t));
        // distinct values at least 0.05 apart, so eps = 1e-2 never flips a max
        for (size_t i = 0; i < n; i++) c.x[i] = (float)i * 0.05f - 3.0f;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = gc_next() % (i + 1);
            float t = c.x[i];
            c.x[i] = c.x[j], c.x[j] = t;
        }
        gc_fill(c.R, (size_t)c.B * c.ld, -1, 1);
        for (int b = 0; b < c.B; b++)
            for (int j = feat; j < c.ld; j++) c.R[b * c.ld + j] = 0;
        pool_obj(&c);
        if (c.kind == POOL_AVG) {  // window 1 of sample 1, feature 2
            double s = 0;
            for (int w = 0; w < c.W; w++) s += c.x[((1 * c.C + 1) * c.W + w) * c.d + 2];
            CHECK_CLOSE(c.out[1 * c.ld + 1 * c.d + 2], s / c.W, 1e-6);
        }
        float *dx = fa(n);
        for (size_t i = 0; i < n; i++) dx[i] = 1e30f;
        pool_backward(dx, c.R, c.am, c.B, c.C, c.W, c.d, c.kind, c.ld);
        EXPECT_GRAD(names[k], c.x, dx, n, pool_obj, &c);
        free(c.x), free(c.out), free(c.R), free(c.am), free(dx);
    }
}

// The global stage's broadcast back into the windows: out = x + gamma (.) y per window; its
// backward is window_sum then the LayerScale backward (as model_input.c composes them).
typedef struct {
    int N, W, d;
    float *x, *y, *gamma, *out, *R;
} WindowAddCtx;
static double window_add_obj(void *p) {
    WindowAddCtx *c = p;
    window_broadcast_add_forward(c->out, c->x, c->y, c->gamma, c->N, c->W, c->d);
    return gc_dot(c->out, c->R, (size_t)c->N * c->W * c->d);
}
static void test_window_add(void) {
    WindowAddCtx c = {.N = 3, .W = 4, .d = 5};
    size_t nx = (size_t)c.N * c.W * c.d, ny = (size_t)c.N * c.d;
    c.x = fa(nx), c.out = fa(nx), c.R = fa(nx), c.y = fa(ny), c.gamma = fa((size_t)c.d);
    gc_fill(c.x, nx, -1, 1), gc_fill(c.R, nx, -1, 1), gc_fill(c.y, ny, -1, 1), gc_fill(c.gamma, (size_t)c.d, 0.5f, 1.5f);
    window_add_obj(&c);
    // window 2, row 3, feature 1 by hand
    size_t r = (size_t)(2 * c.W + 3) * c.d + 1;
    CHECK_CLOSE(c.out[r], c.x[r] + c.gamma[1] * c.y[2 * c.d + 1], 1e-6);
    float *dy = fa(ny), *dgamma = fa((size_t)c.d);
    window_sum(dy, c.R, c.N, c.W, c.d);
    memset(dgamma, 0, (size_t)c.d * sizeof(float));
    layerscale_residual_backward(dy, dgamma, dy, c.y, c.gamma, 1.0f, c.N, c.d);
    EXPECT_GRAD("window_add.y", c.y, dy, ny, window_add_obj, &c);
    EXPECT_GRAD("window_add.gamma", c.gamma, dgamma, (size_t)c.d, window_add_obj, &c);
    // d(x) = dout: the objective is linear in x with coefficients R
    float x0 = c.x[7];
    double f0 = window_add_obj(&c);
    c.x[7] = x0 + 0.5f;
    CHECK_CLOSE(window_add_obj(&c) - f0, 0.5 * c.R[7], 1e-5);
    c.x[7] = x0;
    free(c.x), free(c.out), free(c.R), free(c.y), free(c.gamma), free(dy), free(dgamma);
}

// ------------------------------------------------------------------ losses
typedef struct {
    int B, K;
    float smooth, *logits;
    int32_t *labels, *perm;
    float *target;
} LossCtx;
static double ce_obj(void *p) {
    LossCtx *c = p;
    int n;
    return crossentropy_forward_backward(NULL, c->logits, c->labels, c->perm, c->B, c->K, c->smooth, 0, &n);
}
static double mse_obj(void *p) {
    LossCtx *c = p;
    int n;
    return mse_forward_backward(NULL, c->logits, c->target, c->perm, c->B, 0, &n);
}
static void test_losses(void) {
    // known value: logits (0, ln 3), label 1 -> -log(3/4)
    float lg[2] = {0.0f, logf(3.0f)};
    int32_t y1[1] = {1};
    int n;
    CHECK_CLOSE(crossentropy_forward_backward(NULL, lg, y1, NULL, 1, 2, 0, 0, &n), -log(0.75), 1e-6);
    CHECK_EQ_INT(n, 1);
    // with smoothing 0.2: 0.8 * nll + 0.2 * mean(-log p)
    CHECK_CLOSE(crossentropy_forward_backward(NULL, lg, y1, NULL, 1, 2, 0.2f, 0, &n),
                0.8 * -log(0.75) + 0.2 * 0.5 * (-log(0.25) - log(0.75)), 1e-6);
    int32_t labels[6] = {2, -1, 0, 1, -1, 2}, perm[6] = {3, 5, 0, 1, 4, 2};
    for (int variant = 0; variant < 4; variant++) {
        LossCtx c = {.B = 6, .K = 3, .smooth = variant & 1 ? 0.1f : 0.0f, .labels = labels, .perm = variant & 2 ? perm : NULL};
        c.logits = fa(18);
        gc_fill(c.logits, 18, -2, 2);
        float *g = fa(18);
        double s = crossentropy_forward_backward(g, c.logits, c.labels, c.perm, c.B, c.K, c.smooth, 1.0f, &n);
        CHECK(s > 0);
        CHECK_EQ_INT(n, 4);
        EXPECT_GRAD("crossentropy.logits", c.logits, g, 18, ce_obj, &c);
        for (int k = 0; k < 3; k++) CHECK(g[(variant & 2 ? 4 : 1) * 3 + k] == 0.0f);  // missing label row: no gradient
        free(c.logits), free(g);
    }
    float target[5] = {0.5f, NAN, -1.0f, 2.0f, NAN};
    int32_t p5[5] = {1, 0, 3, 2, 4};
    for (int variant = 0; variant < 2; variant++) {
        LossCtx c = {.B = 5, .target = target, .perm = variant ? p5 : NULL};
        c.logits = fa(5);
        gc_fill(c.logits, 5, -2, 2);
        float *g = fa(5);
        mse_forward_backward(g, c.logits, target, c.perm, 5, 1.0f, &n);
        CHECK_EQ_INT(n, 3);
        EXPECT_GRAD("mse.pred", c.logits, g, 5, mse_obj, &c);
        free(c.logits), free(g);
    }
}

static void test_colsum(void) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 1, 2, 2, 3, 3}, d[2] = {10, 20};
    colsum_add(d, a, b, 3, 2, 0.5f);  // columns: (1+6+15, 2+8+18) * 0.5
    CHECK_CLOSE(d[0], 10 + 11, 1e-6);
    CHECK_CLOSE(d[1], 20 + 14, 1e-6);
    colsum_add(d, a, NULL, 3, 2, 1.0f);
    CHECK_CLOSE(d[0], 21 + 9, 1e-6);
}

int main(void) {
    test_selftest();
    test_embedding();
    test_mixup();
    test_embed_position();
    test_window_pad();
    test_dropout();
    test_stochastic_depth();
    test_rmsnorm();
    test_linear();
    test_layerscale();
    test_swiglu();
    test_gelu();
    test_rope();
    test_attention();
    test_pool();
    test_window_add();
    test_losses();
    test_colsum();
    TEST_MAIN_END();
}
