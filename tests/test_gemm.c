// test_gemm.c: the packed-panel product of the transformer linears (layers_gemm.c, reached through
// linear_forward_packed): against a double-precision reference, row results independent of the
// row blocking (bit for bit), the fused SwiGLU gate against its definition and with h stored or
// not, the fallbacks to OpenBLAS (bias, too few rows, too small a pack buffer) bit-identical to
// linear_forward. The process's own kernel width runs: AVX-512 here, AVX2 in the x86-64-v3 build.
#include <stdint.h>

#include "model/layers.h"
#include "model/layers_gemm.h"
#include "test_util.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static float urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(rng_state >> 40) / (float)(1u << 24) * 2.0f - 1.0f;
}
static float *rand_buf(size_t n, float scale) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = urand() * scale;
    return p;
}

// Worst |got - ref| / sum_k |a_k w_k| over the (rows, N) product.
static double product_err(const float *got, const float *A, const float *W, int rows, int K, int N) {
    double worst = 0;
    for (int r = 0; r < rows; r++)
        for (int n = 0; n < N; n++) {
            double s = 0, m = 0;
            for (int k = 0; k < K; k++) {
                s += (double)A[(size_t)r * K + k] * W[(size_t)n * K + k];
                m += fabs((double)A[(size_t)r * K + k] * W[(size_t)n * K + k]);
            }
            double e = fabs(got[(size_t)r * N + n] - s) / (m > 0 ? m : 1);
            if (e > worst) worst = e;
        }
    return worst;
}

static void check_plain(int nc, int rows, int K, int N) {
    float *A = rand_buf((size_t)rows * K, 1.0f), *W = rand_buf((size_t)N * K, 0.5f);
    float *Bp = malloc(gemm_pack_floats(K, N) * sizeof(float)), *C = malloc((size_t)rows * N * sizeof(float));
    float *C1 = malloc((size_t)N * sizeof(float));
    gemm_pack_panels(Bp, W, K, nc, 0, N / nc);
    gemm_packed_rows(C, A, Bp, rows, K, N);
    double e = product_err(C, A, W, rows, K, N);
    CHECK_MSG(e < 2e-6, "rows %d K %d N %d: relative error %g", rows, K, N, e);
    // every row alone gives the same bits as in the block (batch and thread invariance)
    int same = 1;
    for (int r = 0; r < rows; r++) {
        gemm_packed_rows(C1, A + (size_t)r * K, Bp, 1, K, N);
        same &= !memcmp(C1, C + (size_t)r * N, (size_t)N * sizeof(float));
    }
    CHECK_MSG(same, "rows %d K %d N %d: a row alone differs from the same row in a block", rows, K, N);
    free(A), free(W), free(Bp), free(C), free(C1);
}

static void check_swiglu(int nc, int rows, int K, int F) {
    float *A = rand_buf((size_t)rows * K, 1.0f), *W = rand_buf((size_t)2 * F * K, 0.5f);
    A[0] = 40.0f, A[1] = -40.0f;  // large gate arguments: e^-a under- and overflows
    float *Bp = malloc(gemm_pack_floats(K, 2 * F) * sizeof(float)), *Bq = malloc(gemm_pack_floats(K, 2 * F) * sizeof(float));
    float *h = malloc((size_t)rows * 2 * F * sizeof(float)), *hp = malloc((size_t)rows * 2 * F * sizeof(float));
    float *g = malloc((size_t)rows * F * sizeof(float)), *g2 = malloc((size_t)rows * F * sizeof(float));
    gemm_pack_swiglu_panels(Bp, W, K, F, nc, 0, 2 * F / nc);
    gemm_pack_panels(Bq, W, K, nc, 0, 2 * F / nc);
    gemm_packed_swiglu_rows(h, g, A, Bp, rows, K, F);
    gemm_packed_rows(hp, A, Bq, rows, K, 2 * F);
    CHECK_MSG(!memcmp(h, hp, (size_t)rows * 2 * F * sizeof(float)), "swiglu panels: h differs from the plain product");
    gemm_packed_swiglu_rows(NULL, g2, A, Bp, rows, K, F);
    CHECK_MSG(!memcmp(g, g2, (size_t)rows * F * sizeof(float)), "swiglu: the gate differs when h is not stored");
    double worst = 0;
    int finite = 1;
    for (size_t i = 0; i < (size_t)rows * F; i++) {
        size_t r = i / F, j = i % F;
        double a = h[r * 2 * F + j], b = h[r * 2 * F + F + j];
        double want = a * b / (1.0 + exp(-a));
        double e = fabs(g[i] - want) / (fabs(a * b) + 1e-30);
        finite &= isfinite(g[i]);
        if (e > worst) worst = e;
    }
    CHECK(finite);
    CHECK_MSG(worst < 1e-6, "swiglu gate: relative error %g", worst);
    free(A), free(W), free(Bp), free(Bq), free(h), free(hp), free(g), free(g2);
}

// linear_swiglu_backward_packed against linear_backward then swiglu_backward: dw3 to the bit (the
// same call), dh close (the gate's exponential and the product round differently), any rows.
static void check_swiglu_backward(int N) {
    int d = 64, F = 256;
    float *dout = rand_buf((size_t)N * d, 1.0f), *g = rand_buf((size_t)N * F, 1.0f), *h = rand_buf((size_t)N * 2 * F, 3.0f);
    float *w3 = rand_buf((size_t)d * F, 0.3f);
    h[0] = 40.0f, h[1] = -40.0f;
    float *dw_a = calloc((size_t)d * F, sizeof(float)), *dw_b = calloc((size_t)d * F, sizeof(float));
    float *dg = malloc((size_t)N * F * sizeof(float)), *dh_a = malloc((size_t)N * 2 * F * sizeof(float));
    float *dh_b = malloc((size_t)N * 2 * F * sizeof(float)), *pack = malloc(gemm_pack_floats(d, F) * sizeof(float));
    float *scratch = malloc((linear_backward_scratch_floats(N, F, d) + 1) * sizeof(float));
    linear_backward(dg, dw_a, NULL, dout, g, w3, N, F, d, false, scratch);
    swiglu_backward(dh_a, dg, h, N, F);
    linear_swiglu_backward_packed(dh_b, dw_b, dout, g, h, w3, N, F, d, dg, pack, gemm_pack_floats(d, F), scratch);
    CHECK_MSG(!memcmp(dw_a, dw_b, (size_t)d * F * sizeof(float)), "N %d: dw3 is not linear_backward's", N);
    double worst = 0;
    for (size_t i = 0; i < (size_t)N * 2 * F; i++) {
        size_t r = i / (2 * F), j = i % F;
        double scale = 0;  // |dg| * (|b| + |a| + 1): the size of the terms of either gradient
        for (int k = 0; k < d; k++) scale += fabs((double)dout[r * d + k] * w3[(size_t)k * F + j]);
        scale *= fabs(h[r * 2 * F + j]) + fabs(h[r * 2 * F + F + j]) + 1;
        double e = fabs((double)dh_a[i] - dh_b[i]) / (scale + 1e-30);
        if (e > worst) worst = e;
    }
    CHECK_MSG(worst < 2e-6, "N %d: fused SwiGLU backward differs by %g", N, worst);
    free(dout), free(g), free(h), free(w3), free(dw_a), free(dw_b), free(dg), free(dh_a), free(dh_b), free(pack),
        free(scratch);
}

// linear_backward_packed: dweight and dbias to the bit of linear_backward, dinp close; the
// accumulating form stays linear_backward's.
static void check_backward(int N, int in, int out) {
    float *dout = rand_buf((size_t)N * out, 1.0f), *x = rand_buf((size_t)N * in, 1.0f), *w = rand_buf((size_t)out * in, 0.5f);
    float *dw_a = calloc((size_t)out * in, sizeof(float)), *dw_b = calloc((size_t)out * in, sizeof(float));
    float *db_a = calloc(out, sizeof(float)), *db_b = calloc(out, sizeof(float));
    float *dx_a = malloc((size_t)N * in * sizeof(float)), *dx_b = malloc((size_t)N * in * sizeof(float));
    float *pack = malloc(gemm_pack_floats(in, out) * sizeof(float));
    float *scratch = malloc((linear_backward_scratch_floats(N, in, out) + 1) * sizeof(float));
    linear_backward(dx_a, dw_a, db_a, dout, x, w, N, in, out, false, scratch);
    linear_backward_packed(dx_b, dw_b, db_b, dout, x, w, N, in, out, false, scratch, pack, gemm_pack_floats(in, out));
    CHECK(!memcmp(dw_a, dw_b, (size_t)out * in * sizeof(float)) && !memcmp(db_a, db_b, (size_t)out * sizeof(float)));
    // dinp against the product dout @ w: as product_err with w transposed
    float *wt = malloc((size_t)out * in * sizeof(float));
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) wt[(size_t)i * out + o] = w[(size_t)o * in + i];
    double e = product_err(dx_b, dout, wt, N, out, in);
    CHECK_MSG(e < 2e-6, "backward N %d in %d out %d: input gradient error %g", N, in, out, e);
    memcpy(dx_b, dx_a, (size_t)N * in * sizeof(float));
    linear_backward(dx_a, dw_a, NULL, dout, x, w, N, in, out, true, scratch);
    linear_backward_packed(dx_b, dw_b, NULL, dout, x, w, N, in, out, true, scratch, pack, gemm_pack_floats(in, out));
    CHECK_MSG(!memcmp(dx_a, dx_b, (size_t)N * in * sizeof(float)), "accumulating backward: not linear_backward's bits");
    free(dout), free(x), free(w), free(dw_a), free(dw_b), free(db_a), free(db_b), free(dx_a), free(dx_b), free(pack),
        free(scratch), free(wt);
}

// linear_forward_packed where it does not apply equals linear_forward to the bit.
static void check_fallbacks(void) {
    int N = 256, K = 64, O = 64;
    float *A = rand_buf((size_t)N * K, 1.0f), *W = rand_buf((size_t)O * K, 0.5f), *b = rand_buf(O, 0.1f);
    float *want = malloc((size_t)N * O * sizeof(float)), *got = malloc((size_t)N * O * sizeof(float));
    float *pack = malloc(gemm_pack_floats(K, O) * sizeof(float));
    linear_forward(want, A, W, b, N, K, O, N);
    linear_forward_packed(got, A, W, b, N, K, O, N, pack, gemm_pack_floats(K, O));
    CHECK_MSG(!memcmp(want, got, (size_t)N * O * sizeof(float)), "bias: not linear_forward's bits");
    linear_forward(want, A, W, NULL, N, K, O, N);
    linear_forward_packed(got, A, W, NULL, N, K, O, N, pack, gemm_pack_floats(K, O) - 1);
    CHECK_MSG(!memcmp(want, got, (size_t)N * O * sizeof(float)), "small pack buffer: not linear_forward's bits");
    linear_forward(want, A, W, NULL, 64, K, O, 1);
    linear_forward_packed(got, A, W, NULL, 64, K, O, 1, pack, gemm_pack_floats(K, O));
    CHECK_MSG(!memcmp(want, got, (size_t)64 * O * sizeof(float)), "64 rows: not linear_forward's bits");
    // where it applies: close to linear_forward (another rounding), and any blocking gives the same bits
    linear_forward_packed(got, A, W, NULL, N, K, O, N, pack, gemm_pack_floats(K, O));
    CHECK(product_err(got, A, W, N, K, O) < 2e-6);
    float *got2 = malloc((size_t)N * O * sizeof(float));
    linear_forward_packed(got2, A, W, NULL, N, K, O, 128, pack, gemm_pack_floats(K, O));
    CHECK_MSG(!memcmp(got, got2, (size_t)N * O * sizeof(float)), "the packed path depends on the row block");
    free(A), free(W), free(b), free(want), free(got), free(got2), free(pack);
}

int main(void) {
    int nc = gemm_panel_width();
    printf("panel width %d\n", nc);
    check_fallbacks();
    check_swiglu_backward(128);
    check_backward(300, 64, 192);
    check_backward(256, 256, 64);
    check_backward(129, 64, 512);
    check_swiglu_backward(1031);
    check_swiglu_backward(64);  // below the packed path's rows: the two functions as they are
    if (nc) {
        int rows[] = {1, 3, 12, 13, 30, 256};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            check_plain(nc, rows[i], 64, 3 * 64);
            check_plain(nc, rows[i], 256, 64);
            check_plain(nc, rows[i], 7, nc);
            check_swiglu(nc, rows[i], 64, 256);
            check_swiglu(nc, rows[i], 24, nc / 2);
        }
    } else {
        printf("no packed kernel on this CPU / build: the fallbacks alone\n");
    }
    TEST_MAIN_END();
}
