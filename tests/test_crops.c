// test_crops.c: crop planning (counts and starts, crops.h) and the CropRunner: the mean over a
// sample's crops whatever the pass size, raw logits for one crop, several inputs cropped each on
// its own, absent inputs, a failing fill, and the runner's logits-space scores.
#include <float.h>

#include "infer/crops.h"
#include "test_util.h"

static void test_counts_and_starts(void) {
    const int L = 10;
    // len <= L (and absent): one crop at 0, whatever the mode
    for (int mode = 0; mode < 4; mode++) {
        CHECK_EQ_INT(crops_count(0, L, mode), 1);
        CHECK_EQ_INT(crops_count(7, L, mode), 1);
        CHECK_EQ_INT(crops_count(L, L, mode), 1);
        CHECK_EQ_INT(crops_count(-1, L, mode), 1);
        CHECK_EQ_INT(crops_start(7, L, crops_count(7, L, mode), 0), 0);
    }
    // len = L + 1: two crops, at 0 and 1 (the whole file is covered)
    CHECK_EQ_INT(crops_count(L + 1, L, CROPS_ALL), 2);
    CHECK_EQ_INT(crops_start(L + 1, L, 2, 0), 0);
    CHECK_EQ_INT(crops_start(L + 1, L, 2, 1), 1);
    // n = 1 is EIR's from_start
    CHECK_EQ_INT(crops_count(1000, L, 1), 1);
    CHECK_EQ_INT(crops_start(1000, L, 1, 0), 0);
    // exact multiples: the crops tile the file
    CHECK_EQ_INT(crops_count(3 * L, L, CROPS_ALL), 3);
    for (int k = 0; k < 3; k++) CHECK_EQ_INT(crops_start(3 * L, L, 3, k), k * L);
    CHECK_EQ_INT(crops_count(3 * L + 1, L, CROPS_ALL), 4);
    // N larger than ceil(len / L): ceil(len / L)
    CHECK_EQ_INT(crops_count(25, L, 7), 3);
    CHECK_EQ_INT(crops_count(25, L, 2), 2);
    CHECK_EQ_INT(crops_count(25, L, 3), 3);
    // round(k (len - L) / (n - 1)), halves up: len 25, n 3 -> 0, 7.5 -> 8, 15
    CHECK_EQ_INT(crops_start(25, L, 3, 1), 8);
    CHECK_EQ_INT(crops_start(25, L, 3, 2), 15);
    // len 25, n 2: 0 and 15; len 21, n 3 (D = 11): 0, 5.5 -> 6, 11
    CHECK_EQ_INT(crops_start(25, L, 2, 1), 15);
    CHECK_EQ_INT(crops_start(21, L, 3, 1), 6);
    // any file, any n: first at 0, last at len - L, increasing, every crop inside the file
    for (int64_t len = L + 1; len < 200; len += 7)
        for (int mode = 0; mode < 6; mode++) {
            int64_t n = crops_count(len, L, mode);
            CHECK(n >= 1 && n <= (len + L - 1) / L);
            if (n == 1) continue;
            CHECK_EQ_INT(crops_start(len, L, n, 0), 0);
            CHECK_EQ_INT(crops_start(len, L, n, n - 1), len - L);
            for (int64_t k = 1; k < n; k++) CHECK(crops_start(len, L, n, k) > crops_start(len, L, n, k - 1));
        }
    // no overflow for a huge file
    int64_t big = (int64_t)1 << 50;
    CHECK_EQ_INT(crops_start(big, 1, big, big - 1), big - 1);
    CHECK_EQ_INT(crops_start(big, 1, big, big / 2), big / 2);
}

static void test_parse(void) {
    int m = 5;
    CHECK(crops_parse("all", &m) == 0 && m == CROPS_ALL);
    CHECK(crops_parse("1", &m) == 0 && m == 1);
    CHECK(crops_parse("12", &m) == 0 && m == 12);
    const char *bad[] = {"0", "-1", "", "x", "2.5", "1e3", "ALL", " 3", "3 ", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = 7;
        CHECK_MSG(crops_parse(bad[i], &m) == -1 && m == 7, "'%s' accepted", bad[i]);
    }
    char buf[24];
    CHECK_STR(crops_mode_name(CROPS_ALL, buf, sizeof buf), "all");
    CHECK_STR(crops_mode_name(4, buf, sizeof buf), "4");
}

// ---- the runner over a fake model ----------------------------------------------------------------
// Two inputs (L 10 and 4), a 3-class target and a continuous one. A row's logits are a function
// of the windows filled into it, so the expected mean can be computed from the crop plan alone.

#define NS 6
#define MAXROWS 64
static const int64_t g_len[NS][2] = {{5, 3}, {10, -1}, {11, 4}, {37, 9}, {100, -1}, {0, 17}};
static const int g_L[2] = {10, 4};

typedef struct {
    int64_t start[MAXROWS][2], n[MAXROWS][2];
    float lg0[MAXROWS * 3], lg1[MAXROWS];
    int64_t next_sample;  // done() order check
    int fail_at;          // sample whose fill fails (-1: none)
    float out0[NS][3], out1[NS], sc0[NS][3], sc1[NS];
    int64_t crops[NS];
} Fake;

static void fake_logits(int64_t s0, int64_t n0, int64_t s1, int64_t n1, float *lg0, float *lg1) {
    lg0[0] = 0.05f * (float)s0;
    lg0[1] = 0.3f * (float)n0 - 1.0f;
    lg0[2] = n1 < 0 ? -2.0f : 0.2f * (float)(s1 + n1);
    *lg1 = 0.5f * (float)s0 - 0.25f * (float)n1;
}

static int64_t f_length(void *ctx, int64_t s, int k) { (void)ctx; return g_len[s][k]; }
static int f_fill(void *ctx, int row, int64_t s, int k, int64_t start, int64_t n) {
    Fake *f = ctx;
    if (s == f->fail_at) return -1;
    f->start[row][k] = start;
    f->n[row][k] = n;
    return 0;
}
static void f_forward(void *ctx, int rows) {
    Fake *f = ctx;
    for (int r = 0; r < rows; r++) fake_logits(f->start[r][0], f->n[r][0], f->start[r][1], f->n[r][1], f->lg0 + 3 * r, f->lg1 + r);
}
static const float *f_logits(void *ctx, int t, int rows) { (void)rows; return t == 0 ? ((Fake *)ctx)->lg0 : ((Fake *)ctx)->lg1; }
static void f_done(void *ctx, int64_t s, int64_t n_crops, float *const *outputs, float *const *scores) {
    Fake *f = ctx;
    CHECK_EQ_INT(s, f->next_sample);
    f->next_sample = s + 1;
    f->crops[s] = n_crops;
    memcpy(f->out0[s], outputs[0], sizeof f->out0[s]);
    memcpy(f->sc0[s], scores[0], sizeof f->sc0[s]);
    f->out1[s] = outputs[1][0];
    f->sc1[s] = scores[1][0];
}
static const CropOps FAKE_OPS = {f_length, f_fill, f_forward, f_logits, f_done};

static void setup_model(ModelConfig *mc, ModelMeta *meta, TargetInfo *ti) {
    memset(mc, 0, sizeof *mc);
    memset(meta, 0, sizeof *meta);
    memset(ti, 0, 2 * sizeof *ti);
    mc->n_inputs = 2;
    for (int k = 0; k < 2; k++) mc->inputs[k].max_length = g_L[k];
    mc->n_targets = 2;
    mc->targets[0].n_classes = 3;
    mc->targets[1].n_classes = 1;
    mc->targets[1].continuous = true;
    ti[0].n_classes = 3;
    ti[1].n_classes = 1;
    ti[1].continuous = true;
    ti[1].mean = 2.0;
    ti[1].scale = 3.0;
    meta->n_targets = 2;
    meta->targets = ti;
}

// The expected mean of sample s by the rule of crops.h, computed without the runner.
static void expected(int64_t s, int mode, int64_t *n_out, float *o0, float *o1, float *first0) {
    int64_t nk[2], n = 1;
    for (int k = 0; k < 2; k++) {
        nk[k] = crops_count(g_len[s][k], g_L[k], mode);
        if (nk[k] > n) n = nk[k];
    }
    double sum0[3] = {0}, sum1 = 0;
    for (int64_t j = 0; j < n; j++) {
        int64_t st[2], nb[2];
        for (int k = 0; k < 2; k++) {
            int64_t c = j < nk[k] ? j : nk[k] - 1, len = g_len[s][k];
            st[k] = len < 0 ? 0 : crops_start(len, g_L[k], nk[k], c);
            nb[k] = len < 0 ? -1 : (len - st[k] < g_L[k] ? len - st[k] : g_L[k]);
        }
        float lg0[3], lg1, p[3], v;
        fake_logits(st[0], nb[0], st[1], nb[1], lg0, &lg1);
        if (j == 0) memcpy(first0, lg0, sizeof lg0);
        crops_row_outputs(lg0, 3, false, 0, 1, p);
        crops_row_outputs(&lg1, 1, true, 2.0, 3.0, &v);
        for (int c = 0; c < 3; c++) sum0[c] += p[c];
        sum1 += v;
    }
    for (int c = 0; c < 3; c++) o0[c] = (float)(sum0[c] / (double)n);
    *o1 = (float)(sum1 / (double)n);
    *n_out = n;
}

static void test_runner(void) {
    ModelConfig mc;
    ModelMeta meta;
    TargetInfo ti[2];
    setup_model(&mc, &meta, ti);
    const int modes[] = {1, 2, 3, CROPS_ALL};
    const int sizes[] = {1, 2, 3, 5, MAXROWS};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        Fake ref;
        for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b++) {
            CropRunner r;
            crop_runner_init(&r, modes[m], sizes[b], &mc, &meta, false);
            Fake f;
            memset(&f, 0, sizeof f);
            f.fail_at = -1;
            CHECK_EQ_INT(crop_runner_run(&r, &FAKE_OPS, &f, NS), 0);
            CHECK_EQ_INT(f.next_sample, NS);
            CHECK_EQ_INT(r.samples, NS);
            int64_t total = 0;
            for (int s = 0; s < NS; s++) {
                int64_t n;
                float o0[3], o1, first0[3];
                expected(s, modes[m], &n, o0, &o1, first0);
                total += n;
                CHECK_EQ_INT(f.crops[s], n);
                CHECK_MSG(memcmp(o0, f.out0[s], sizeof o0) == 0 && o1 == f.out1[s], "mode %d rows %d sample %d", modes[m],
                          sizes[b], s);
                if (n == 1) {
                    // one crop: the raw logits, the outputs exactly predictor_outputs'
                    CHECK(memcmp(first0, f.sc0[s], sizeof first0) == 0);
                } else {
                    // several: logits of the mean (softmax gives the mean back; the value's standardised units)
                    float back[3];
                    crops_row_outputs(f.sc0[s], 3, false, 0, 1, back);
                    for (int c = 0; c < 3; c++) {
                        CHECK_CLOSE(f.sc0[s][c], log(o0[c]), 1e-6);
                        CHECK_CLOSE(back[c], o0[c], 1e-6);
                    }
                    CHECK_CLOSE(f.sc1[s] * 3.0 + 2.0, o1, 1e-6);
                }
            }
            CHECK_EQ_INT(r.crops, total);
            // every pass size gives the same bits
            if (b == 0) ref = f;
            else CHECK(memcmp(ref.out0, f.out0, sizeof f.out0) == 0 && memcmp(ref.out1, f.out1, sizeof f.out1) == 0 &&
                       memcmp(ref.sc0, f.sc0, sizeof f.sc0) == 0 && memcmp(ref.sc1, f.sc1, sizeof f.sc1) == 0);
            // a second run on the same runner starts clean
            memset(&f, 0, sizeof f);
            f.fail_at = 3;
            CHECK_EQ_INT(crop_runner_run(&r, &FAKE_OPS, &f, NS), -1);
            memset(&f, 0, sizeof f);
            f.fail_at = -1;
            CHECK_EQ_INT(crop_runner_run(&r, &FAKE_OPS, &f, NS), 0);
            CHECK(memcmp(ref.out0, f.out0, sizeof f.out0) == 0 && memcmp(ref.sc0, f.sc0, sizeof f.sc0) == 0);
            crop_runner_free(&r);
        }
    }
    // mode 1: exactly one crop per sample, from the start
    CropRunner r;
    crop_runner_init(&r, 1, 4, &mc, &meta, false);
    Fake f;
    memset(&f, 0, sizeof f);
    f.fail_at = -1;
    CHECK_EQ_INT(crop_runner_run(&r, &FAKE_OPS, &f, NS), 0);
    for (int s = 0; s < NS; s++) CHECK_EQ_INT(f.crops[s], 1);
    CHECK_EQ_INT(r.crops, NS);
    crop_runner_free(&r);
    // standardised: continuous outputs stay in the model's units (validation)
    crop_runner_init(&r, CROPS_ALL, 4, &mc, &meta, true);
    memset(&f, 0, sizeof f);
    f.fail_at = -1;
    CHECK_EQ_INT(crop_runner_run(&r, &FAKE_OPS, &f, NS), 0);
    CHECK_CLOSE(f.out1[0], 0.5 * 0 - 0.25 * 3, 1e-7);  // sample 0: one crop, start 0, input 1 has 3 bytes
    CHECK_CLOSE(f.sc1[3], f.out1[3], 1e-6);
    crop_runner_free(&r);
}

// Probabilities floored: a class that no crop gives any probability keeps a finite score.
static float g_big[8 * 3];
static int64_t big_length(void *ctx, int64_t s, int k) { (void)ctx, (void)s, (void)k; return 5; }
static int big_fill(void *ctx, int row, int64_t s, int k, int64_t start, int64_t n) {
    (void)ctx, (void)s, (void)k, (void)start, (void)n;
    g_big[3 * row] = 0, g_big[3 * row + 1] = 200, g_big[3 * row + 2] = 0;
    return 0;
}
static void big_forward(void *ctx, int rows) { (void)ctx, (void)rows; }
static const float *big_logits(void *ctx, int t, int rows) { (void)ctx, (void)t, (void)rows; return g_big; }
static float g_big_score[3], g_big_out[3];
static void big_done(void *ctx, int64_t s, int64_t n_crops, float *const *outputs, float *const *scores) {
    (void)ctx, (void)s;
    CHECK_EQ_INT(n_crops, 3);
    memcpy(g_big_out, outputs[0], sizeof g_big_out);
    memcpy(g_big_score, scores[0], sizeof g_big_score);
}

static void test_floor(void) {
    ModelConfig mc;
    ModelMeta meta;
    TargetInfo ti[2];
    setup_model(&mc, &meta, ti);
    mc.n_inputs = 1;
    mc.inputs[0].max_length = 2;
    mc.n_targets = 1;
    meta.n_targets = 1;
    CropRunner r;
    crop_runner_init(&r, CROPS_ALL, 8, &mc, &meta, false);
    static const CropOps ops = {big_length, big_fill, big_forward, big_logits, big_done};
    CHECK_EQ_INT(crop_runner_run(&r, &ops, NULL, 1), 0);
    CHECK(g_big_out[0] == 0.0f && g_big_out[1] == 1.0f);
    CHECK(isfinite(g_big_score[0]) && g_big_score[0] == logf(FLT_TRUE_MIN));
    CHECK(g_big_score[1] == 0.0f);
    crop_runner_free(&r);
}

int main(void) {
    test_counts_and_starts();
    test_parse();
    test_runner();
    test_floor();
    TEST_MAIN_END();
}
