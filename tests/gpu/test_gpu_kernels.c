// test_gpu_kernels.c: every CUDA layer (layers_cuda.h) against its CPU twin (layers.h,
// train/optimizer.h) on random inputs, forward and backward, with the CPU's aliasing and
// accumulation contracts (parameter gradients and "adds" outputs start from random values).
// Exits 77 (ctest: skipped) when the build has no CUDA backend or no GPU is present.
//
// Error measure: max|gpu - cpu| / max|cpu| over the whole tensor (normwise, as test_golden.c's
// per-tensor bound), so that cancellation in one element cannot fail a correct kernel.
// - EXACT (bitwise): copies, gathers, pooling, masks, dropout, mixup, position, the embedding
//   scatter-add of large vocabularies, AdamW, grad scaling: the GPU runs the CPU's operations in the CPU's order
//   (no fma contraction where the CPU has none: __fmul_rn/__fadd_rn), so any difference is a bug.
// - 1e-5 (fp32 rounding): everything else. The GPU sums in another order (warp trees, cuBLAS
//   blocking, chunked column sums and embedding scatter-adds, online P.V) and contracts to fma; float32 keeps ~7 digits and
//   the sums here are at most ~1200 terms, so observed errors should sit near 1e-6.
// - The losses and the squared norm are accumulated in double: 1e-12 relative.
// - The TF32 / bf16 modes of the linear layers: an elementwise bound from the operands' rounding
//   (test_linear_math's comment), and they must differ from fp32 (the mode is applied).
// Every check prints its measured error, so margins are visible on the GPU run.
//
//   test_gpu_kernels [GROUP]...   run only the groups whose name contains one of the words
//   (dropout embedding mixup position pad colsum rmsnorm linear layerscale swiglu rope attention
//   pool crossentropy mse adamw), e.g. for compute-sanitizer's slow racecheck.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#ifdef EIR_HAVE_CUDA
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/rng.h"
#include "model/layers.h"
#include "model/layers_cuda.h"
#include "train/optimizer.h"

#define EXACT 0.0
#define FP32 1e-5

// ---- host helpers ---------------------------------------------------------------------------------
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t next_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)((next_u64() >> 40) * (1.0 / 16777216.0)); }
static float *host_rand(size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = uniform(lo, hi);
    return x;
}
static float *host_copy(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}
static void *dev_up(const void *h, size_t bytes) {
    void *d = cuda_malloc(bytes);
    cuda_memcpy_h2d(d, h, bytes);
    return d;
}
static float *devf(const float *h, size_t n) { return dev_up(h, n * sizeof(float)); }
static float *devz(size_t n) {
    float *d = cuda_malloc(n * sizeof(float));
    cuda_memset_zero(d, n * sizeof(float), NULL);
    return d;
}
static float *down(const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    cuda_device_synchronize();
    cuda_memcpy_d2h(h, d, n * sizeof(float));
    return h;
}
static int n_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Compares a device tensor with the CPU's; tol 0 = bitwise. Prints the measured error.
static void check_tensor(const char *name, const float *dev, const float *cpu, size_t n, double tol) {
    float *g = down(dev, n);
    double maxref = 0.0, maxdiff = 0.0;
    size_t worst = 0, bad_nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(g[i]) != isnan(cpu[i])) bad_nan++;
        if (isnan(cpu[i])) continue;
        maxref = fmax(maxref, fabs((double)cpu[i]));
        double d = fabs((double)g[i] - (double)cpu[i]);
        if (d > maxdiff || isnan(d)) maxdiff = d, worst = i;
    }
    double rel = maxdiff / (maxref > 0 ? maxref : 1.0);
    bool ok = bad_nan == 0 && (tol == 0.0 ? memcmp(g, cpu, n * sizeof(float)) == 0 : rel <= tol);
    printf("  %-46s %s  err %.2e (tol %s%.0e)", name, ok ? "ok  " : "FAIL", rel, tol == 0.0 ? "exact " : "", tol);
    if (!ok) printf("  worst [%zu] gpu %.9g cpu %.9g, %zu NaN mismatches", worst, g[worst], cpu[worst], bad_nan);
    printf("\n");
    if (!ok) g_test_failures++;
    free(g);
}
static void check_bits(const char *name, const void *dev, const void *cpu, size_t bytes) {
    void *g = malloc(bytes ? bytes : 1);
    cuda_device_synchronize();
    cuda_memcpy_d2h(g, dev, bytes);
    size_t first = bytes;
    for (size_t i = 0; i < bytes; i++)
        if (((const unsigned char *)g)[i] != ((const unsigned char *)cpu)[i]) {
            first = i;
            break;
        }
    bool ok = first == bytes;
    printf("  %-46s %s  (%zu bytes, bitwise)", name, ok ? "ok  " : "FAIL", bytes);
    if (!ok) printf("  first difference at byte %zu", first);
    printf("\n");
    if (!ok) g_test_failures++;
    free(g);
}
static void check_scalar(const char *name, double gpu, double cpu, double tol) {
    double rel = fabs(gpu - cpu) / fmax(fabs(cpu), 1e-300);
    bool ok = tol == 0.0 ? gpu == cpu : rel <= tol;
    printf("  %-46s %s  gpu %.17g cpu %.17g (rel %.1e)\n", name, ok ? "ok  " : "FAIL", gpu, cpu, rel);
    if (!ok) g_test_failures++;
}
// Two runs of a GPU computation must agree bit for bit (no atomics, fixed orders).
static void check_same_run(const char *name, const float *dev_a, const float *dev_b, size_t n) {
    float *a = down(dev_a, n), *b = down(dev_b, n);
    bool ok = memcmp(a, b, n * sizeof(float)) == 0;
    printf("  %-46s %s  (run-to-run, bitwise)\n", name, ok ? "ok  " : "FAIL");
    if (!ok) g_test_failures++;
    free(a), free(b);
}

// A random permutation of 0..B-1 and sample ids that exercise the 64->32 bit folding.
static int32_t *random_perm(int B) {
    int32_t *p = malloc(sizeof(int32_t) * (size_t)B);
    for (int i = 0; i < B; i++) p[i] = i;
    for (int i = B - 1; i > 0; i--) {
        int j = (int)(next_u64() % (uint64_t)(i + 1));
        int32_t t = p[i];
        p[i] = p[j], p[j] = t;
    }
    return p;
}
static uint64_t *sample_ids(int B) {
    uint64_t *s = malloc(sizeof(uint64_t) * (size_t)B);
    for (int b = 0; b < B; b++) s[b] = (b % 2 ? 0x100000000ull : 0) + next_u64() % 100000;
    return s;
}

// ---- dropout ------------------------------------------------------------------------------------------
static void test_dropout(int B, size_t D, float p) {
    printf("dropout B=%d D=%zu p=%.2f\n", B, D, p);
    size_t n = (size_t)B * D, words = (size_t)B * dropout_mask_words(D);
    float *x = host_rand(n, -2, 2), *g = host_rand(n, -1, 1);
    uint64_t *ids = sample_ids(B);
    DropoutKey kc = {.seed = 0xDEADBEEF12345ull, .purpose = rng_purpose(RNG_DROPOUT, 0x12345), .step = 77,
                     .sample_ids = ids};
    DropoutKey kg = kc;
    kg.sample_ids = dev_up(ids, sizeof(uint64_t) * (size_t)B);
    float *out = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
    uint32_t *mask = calloc(words ? words : 1, sizeof(uint32_t));
    dropout_forward(out, mask, x, B, D, p, &kc);
    dropout_backward(dx, g, mask, B, D, p);
    float *d_x = devf(x, n), *d_out = devz(n), *d_g = devf(g, n), *d_dx = devz(n);
    uint32_t *d_mask = cuda_malloc((words ? words : 1) * sizeof(uint32_t));
    cuda_memset_zero(d_mask, (words ? words : 1) * sizeof(uint32_t), NULL);
    dropout_forward_cuda(d_out, d_mask, d_x, B, D, p, &kg, NULL);
    dropout_backward_cuda(d_dx, d_g, d_mask, B, D, p, NULL);
    if (p > 0) check_bits("dropout mask", d_mask, mask, words * sizeof(uint32_t));
    check_tensor("dropout forward", d_out, out, n, EXACT);
    check_tensor("dropout backward", d_dx, dx, n, EXACT);
    dropout_forward_cuda(d_x, d_mask, d_x, B, D, p, &kg, NULL);  // in place
    check_tensor("dropout forward in place", d_x, out, n, EXACT);
    cuda_free(d_x), cuda_free(d_out), cuda_free(d_g), cuda_free(d_dx), cuda_free(d_mask), cuda_free((void *)kg.sample_ids);
    free(x), free(g), free(ids), free(out), free(dx), free(mask);
}

// ---- embedding, mixup, position, padding ----------------------------------------------------------------
static void test_embedding(int N, int V, int d) {
    printf("embedding N=%d V=%d d=%d\n", N, V, d);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)N);
    // many repeats, and one token of every fourth position (a space in text): tokens of uneven counts
    for (int n = 0; n < N; n++) tok[n] = n % 4 == 0 ? 32 % V : (int32_t)(next_u64() % (uint64_t)(n % 5 ? V : 7));
    size_t nt = (size_t)V * d, no = (size_t)N * d;
    float *table = host_rand(nt, -0.1f, 0.1f), *g = host_rand(no, -1, 1), *dtable = host_rand(nt, -1, 1);
    float *out = malloc(no * sizeof(float));
    embedding_forward(out, tok, table, N, V, d);
    float *d_dtable = devf(dtable, nt), *d_dtable2 = devf(dtable, nt);
    embedding_backward(dtable, g, tok, N, V, d);
    int32_t *d_tok = dev_up(tok, sizeof(int32_t) * (size_t)N);
    float *d_table = devf(table, nt), *d_out = devz(no), *d_g = devf(g, no);
    size_t ns = embedding_backward_cuda_scratch_floats(N, V, d);
    float *d_scratch = ns ? devz(ns) : NULL;
    embedding_forward_cuda(d_out, d_tok, d_table, N, V, d, NULL);
    embedding_backward_cuda(d_dtable, d_g, d_tok, N, V, d, d_scratch, NULL);
    check_tensor("embedding forward", d_out, out, no, EXACT);
    // chunk partials (V <= 384) sum in another order than the CPU's; the row kernel in the CPU's
    check_tensor(ns ? "embedding backward (chunked, accumulates)" : "embedding backward (rows, token order)", d_dtable,
                 dtable, nt, ns ? 1e-5 : EXACT);
    // deterministic: a second run gives the same bits
    embedding_backward_cuda(d_dtable2, d_g, d_tok, N, V, d, d_scratch, NULL);
    float *first = down(d_dtable, nt);
    check_tensor("embedding backward again: the same bits", d_dtable2, first, nt, EXACT);
    cuda_free(d_tok), cuda_free(d_table), cuda_free(d_out), cuda_free(d_g), cuda_free(d_dtable), cuda_free(d_dtable2);
    if (d_scratch) cuda_free(d_scratch);
    free(tok), free(table), free(g), free(dtable), free(out), free(first);
}

static void test_mixup(int B, size_t D) {
    printf("mixup B=%d D=%zu\n", B, D);
    size_t n = (size_t)B * D;
    int32_t *perm = random_perm(B);
    float lam = 0.3141f, *x = host_rand(n, -1, 1), *g = host_rand(n, -1, 1);
    float *out = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
    mixup_forward(out, x, perm, lam, B, D);
    mixup_backward(dx, g, perm, lam, B, D);
    int32_t *d_perm = dev_up(perm, sizeof(int32_t) * (size_t)B);
    float *d_x = devf(x, n), *d_g = devf(g, n), *d_out = devz(n), *d_dx = devz(n);
    mixup_forward_cuda(d_out, d_x, d_perm, lam, B, D, NULL);
    mixup_backward_cuda(d_dx, d_g, d_perm, lam, B, D, NULL);
    check_tensor("mixup forward", d_out, out, n, EXACT);
    check_tensor("mixup backward", d_dx, dx, n, EXACT);
    cuda_free(d_perm), cuda_free(d_x), cuda_free(d_g), cuda_free(d_out), cuda_free(d_dx);
    free(perm), free(x), free(g), free(out), free(dx);
}

static void test_embed_position(int B, int L, int d, bool with_pos) {
    printf("embed_position B=%d L=%d d=%d pos=%s\n", B, L, d, with_pos ? "table" : "none");
    size_t D = (size_t)L * d, n = (size_t)B * D;
    float scale = sqrtf((float)d);
    float *e = host_rand(n, -0.1f, 0.1f), *pos = with_pos ? host_rand(D, -1, 1) : NULL, *g = host_rand(n, -1, 1);
    float *dpos = host_rand(D, -1, 1);
    float *out = malloc(n * sizeof(float));
    embed_position_forward(out, e, pos, B, L, d, scale);
    float *d_e = devf(e, n), *d_pos = pos ? devf(pos, D) : NULL, *d_out = devz(n), *d_g = devf(g, n);
    float *d_dpos = devf(dpos, D);
    embed_position_backward(g, with_pos ? dpos : NULL, g, B, L, d, scale);  // in place, as the model does
    embed_position_forward_cuda(d_out, d_e, d_pos, B, L, d, scale, NULL);
    embed_position_backward_cuda(d_g, with_pos ? d_dpos : NULL, d_g, B, L, d, scale, NULL);
    check_tensor("embed_position forward", d_out, out, n, EXACT);
    check_tensor("embed_position backward demb (in place)", d_g, g, n, EXACT);
    if (with_pos) check_tensor("embed_position backward dpos (accumulates)", d_dpos, dpos, D, EXACT);
    cuda_free(d_e), cuda_free(d_pos), cuda_free(d_out), cuda_free(d_g), cuda_free(d_dpos);
    free(e), free(pos), free(g), free(dpos), free(out);
}

static void test_window_pad(int B, int L, int Lp, int d) {
    printf("window_pad B=%d L=%d Lp=%d d=%d\n", B, L, Lp, d);
    size_t ni = (size_t)B * L * d, no = (size_t)B * Lp * d;
    float *x = host_rand(ni, -1, 1), *g = host_rand(no, -1, 1);
    float *out = malloc(no * sizeof(float)), *dx = malloc(ni * sizeof(float));
    window_pad_forward(out, x, B, L, Lp, d);
    window_pad_backward(dx, g, B, L, Lp, d);
    float *d_x = devf(x, ni), *d_g = devf(g, no), *d_out = devf(g, no), *d_dx = devz(ni);  // out starts dirty
    window_pad_forward_cuda(d_out, d_x, B, L, Lp, d, NULL);
    window_pad_backward_cuda(d_dx, d_g, B, L, Lp, d, NULL);
    check_tensor("window_pad forward", d_out, out, no, EXACT);
    check_tensor("window_pad backward", d_dx, dx, ni, EXACT);
    cuda_free(d_x), cuda_free(d_g), cuda_free(d_out), cuda_free(d_dx);
    free(x), free(g), free(out), free(dx);
}

// ---- normalisation, column sums, linear, elementwise ------------------------------------------------
static void test_colsum(int N, int C) {
    printf("colsum N=%d C=%d\n", N, C);
    size_t n = (size_t)N * C;
    float *a = host_rand(n, -1, 1), *b = host_rand(n, -1, 1), *dst1 = host_rand((size_t)C, -1, 1);
    float *dst2 = host_copy(dst1, (size_t)C);
    float *d_a = devf(a, n), *d_b = devf(b, n), *d_1 = devf(dst1, (size_t)C), *d_2 = devf(dst2, (size_t)C);
    float *d_again = devf(dst1, (size_t)C);
    float *d_scr = devz(colsum_cuda_scratch_floats(N, C));
    colsum_add(dst1, a, b, N, C, 0.5f);
    colsum_add(dst2, a, NULL, N, C, 1.0f);
    colsum_add_cuda(d_1, d_a, d_b, N, C, 0.5f, d_scr, NULL);
    colsum_add_cuda(d_2, d_a, NULL, N, C, 1.0f, d_scr, NULL);
    colsum_add_cuda(d_again, d_a, d_b, N, C, 0.5f, d_scr, NULL);
    check_tensor("colsum a*b (accumulates)", d_1, dst1, (size_t)C, FP32);
    check_tensor("colsum a", d_2, dst2, (size_t)C, FP32);
    check_same_run("colsum", d_1, d_again, (size_t)C);
    cuda_free(d_a), cuda_free(d_b), cuda_free(d_1), cuda_free(d_2), cuda_free(d_again), cuda_free(d_scr);
    free(a), free(b), free(dst1), free(dst2);
}

static void test_rmsnorm(int N, int C) {
    printf("rmsnorm N=%d C=%d\n", N, C);
    size_t n = (size_t)N * C;
    float *x = host_rand(n, -2, 2), *w = host_rand((size_t)C, 0.5f, 1.5f), *g = host_rand(n, -1, 1);
    float *dx = host_rand(n, -1, 1), *dw = host_rand((size_t)C, -1, 1);
    float *out = malloc(n * sizeof(float)), *rstd = malloc((size_t)N * sizeof(float));
    float *d_x = devf(x, n), *d_w = devf(w, (size_t)C), *d_g = devf(g, n), *d_dx = devf(dx, n);
    float *d_dw = devf(dw, (size_t)C), *d_out = devz(n), *d_rstd = devz((size_t)N);
    float *d_scr = devz(colsum_cuda_scratch_floats(N, C));
    rmsnorm_forward(out, rstd, x, w, N, C, RMSNORM_EPS);
    rmsnorm_backward(dx, dw, g, x, w, rstd, N, C);
    rmsnorm_forward_cuda(d_out, d_rstd, d_x, d_w, N, C, RMSNORM_EPS, NULL);
    check_tensor("rmsnorm forward", d_out, out, n, FP32);
    check_tensor("rmsnorm rstd", d_rstd, rstd, (size_t)N, FP32);
    float *d_rstd_cpu = devf(rstd, (size_t)N);  // the backward pass in isolation: the CPU's rstd
    rmsnorm_backward_cuda(d_dx, d_dw, d_g, d_x, d_w, d_rstd_cpu, N, C, d_scr, NULL);
    check_tensor("rmsnorm backward dinp (adds)", d_dx, dx, n, FP32);
    check_tensor("rmsnorm backward dweight (accumulates)", d_dw, dw, (size_t)C, FP32);
    cuda_free(d_x), cuda_free(d_w), cuda_free(d_g), cuda_free(d_dx), cuda_free(d_dw), cuda_free(d_out);
    cuda_free(d_rstd), cuda_free(d_rstd_cpu), cuda_free(d_scr);
    free(x), free(w), free(g), free(dx), free(dw), free(out), free(rstd);
}

static void test_linear(void *blas, int N, int in, int out_dim, bool bias) {
    printf("linear N=%d in=%d out=%d bias=%s\n", N, in, out_dim, bias ? "yes" : "no");
    size_t ni = (size_t)N * in, no = (size_t)N * out_dim, nw = (size_t)in * out_dim;
    float bw = 1.0f / sqrtf((float)in);
    float *x = host_rand(ni, -1, 1), *w = host_rand(nw, -bw, bw), *b = bias ? host_rand((size_t)out_dim, -bw, bw) : NULL;
    float *g = host_rand(no, -1, 1), *dx = host_rand(ni, -1, 1), *dw = host_rand(nw, -1, 1);
    float *db = host_rand((size_t)out_dim, -1, 1), *y = malloc(no * sizeof(float));
    float *dx_acc = host_copy(dx, ni), *dw_unused = host_copy(dw, nw);  // the CPU always makes dweight
    float *d_x = devf(x, ni), *d_w = devf(w, nw), *d_b = b ? devf(b, (size_t)out_dim) : NULL, *d_g = devf(g, no);
    float *d_dx = devf(dx, ni), *d_dxa = devf(dx, ni), *d_dw = devf(dw, nw), *d_db = devf(db, (size_t)out_dim);
    float *d_y = devz(no), *d_scr = devz(colsum_cuda_scratch_floats(N, out_dim));
    float *scr = malloc((linear_backward_scratch_floats(N, in, out_dim) + 1) * sizeof(float));
    linear_forward(y, x, w, b, N, in, out_dim, N);  // one block: all rows in one sgemm
    linear_backward(dx, dw, bias ? db : NULL, g, x, w, N, in, out_dim, false, scr);
    linear_backward(dx_acc, dw_unused, NULL, g, x, w, N, in, out_dim, true, scr);
    linear_forward_cuda(blas, d_y, d_x, d_w, d_b, N, in, out_dim, NULL);
    linear_backward_cuda(blas, d_dx, d_dw, bias ? d_db : NULL, d_g, d_x, d_w, N, in, out_dim, false, d_scr, NULL);
    linear_backward_cuda(blas, d_dxa, NULL, NULL, d_g, d_x, d_w, N, in, out_dim, true, NULL, NULL);
    check_tensor("linear forward", d_y, y, no, FP32);
    check_tensor("linear backward dinp", d_dx, dx, ni, FP32);
    check_tensor("linear backward dinp (accumulate_dinp)", d_dxa, dx_acc, ni, FP32);
    check_tensor("linear backward dweight (accumulates)", d_dw, dw, nw, FP32);
    if (bias) check_tensor("linear backward dbias (accumulates)", d_db, db, (size_t)out_dim, FP32);
    cuda_free(d_x), cuda_free(d_w), cuda_free(d_b), cuda_free(d_g), cuda_free(d_dx), cuda_free(d_dxa);
    cuda_free(d_dw), cuda_free(d_db), cuda_free(d_y), cuda_free(d_scr);
    free(x), free(w), free(b), free(g), free(dx), free(dw), free(db), free(y), free(dx_acc), free(dw_unused), free(scr);
}

// The TF32 / bf16 modes of the linear layers (cuda_blas_set_math) against the fp32 CPU, with an
// elementwise bound from the operands: each product a*b of operands rounded to a p-bit mantissa
// (unit roundoff u = 2^-11 for TF32, 2^-8 for bf16) is off by at most (2u + u^2)|a||b|, and the
// fp32 accumulation of k terms adds at most k * 2^-24 * sum|a||b|, so
//   |gpu - cpu| <= (2.01u + k 2^-24) * (|A| |B|)_ij + 1e-6 * max|cpu|
// (the last term for the CPU's own fp32 rounding). Also checks that the mode is applied at all: an
// exact match with fp32 would mean the operands were not rounded.
static void check_bounded(const char *name, const float *dev, const float *cpu, const double *absprod, size_t n,
                          double coef, double *worst_ratio) {
    float *g = down(dev, n);
    double maxref = 0.0, ratio = 0.0, maxdiff = 0.0;
    for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs((double)cpu[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - (double)cpu[i]);
        double bound = coef * absprod[i] + 1e-6 * maxref;
        ratio = fmax(ratio, isnan(d) ? INFINITY : d / bound);
        maxdiff = fmax(maxdiff, d);
    }
    bool ok = ratio <= 1.0 && maxdiff > 0.0;
    printf("  %-46s %s  worst error / bound %.3f, max error %.2e%s\n", name, ok ? "ok  " : "FAIL", ratio, maxdiff,
           maxdiff > 0.0 ? "" : " (identical to fp32: mode not applied)");
    if (!ok) g_test_failures++;
    *worst_ratio = fmax(*worst_ratio, ratio);
    free(g);
}

static void test_linear_math(void *blas, int N, int in, int out_dim, CudaMath math) {
    const char *mode = math == CUDA_MATH_TF32 ? "tf32" : "bf16";
    double u = math == CUDA_MATH_TF32 ? ldexp(1.0, -11) : ldexp(1.0, -8);
    printf("linear %s N=%d in=%d out=%d\n", mode, N, in, out_dim);
    size_t ni = (size_t)N * in, no = (size_t)N * out_dim, nw = (size_t)in * out_dim;
    float bw = 1.0f / sqrtf((float)in);
    float *x = host_rand(ni, -1, 1), *w = host_rand(nw, -bw, bw), *g = host_rand(no, -1, 1);
    float *y = malloc(no * sizeof(float)), *dx = malloc(ni * sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *scr = malloc((linear_backward_scratch_floats(N, in, out_dim) + 1) * sizeof(float));
    linear_forward(y, x, w, NULL, N, in, out_dim, N);
    linear_backward(dx, dw, NULL, g, x, w, N, in, out_dim, false, scr);
    // |A||B| of each product: y = x W^T (k = in), dx = g W (k = out), dW = g^T x (k = N)
    double *ay = calloc(no, sizeof(double)), *adx = calloc(ni, sizeof(double)), *adw = calloc(nw, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out_dim; o++)
            for (int i = 0; i < in; i++) {
                double p = fabs((double)x[(size_t)n * in + i]), q = fabs((double)w[(size_t)o * in + i]),
                       r = fabs((double)g[(size_t)n * out_dim + o]);
                ay[(size_t)n * out_dim + o] += p * q;
                adx[(size_t)n * in + i] += r * q;
                adw[(size_t)o * in + i] += r * p;
            }
    float *d_x = devf(x, ni), *d_w = devf(w, nw), *d_g = devf(g, no), *d_y = devz(no), *d_dx = devz(ni), *d_dw = devz(nw);
    cuda_blas_set_math(blas, math);
    linear_forward_cuda(blas, d_y, d_x, d_w, NULL, N, in, out_dim, NULL);
    linear_backward_cuda(blas, d_dx, d_dw, NULL, d_g, d_x, d_w, N, in, out_dim, false, NULL, NULL);
    cuda_blas_set_math(blas, CUDA_MATH_FP32);
    double worst = 0.0, e = ldexp(1.0, -24);
    char name[64];
    snprintf(name, sizeof name, "linear %s forward", mode);
    check_bounded(name, d_y, y, ay, no, 2.01 * u + in * e, &worst);
    snprintf(name, sizeof name, "linear %s backward dinp", mode);
    check_bounded(name, d_dx, dx, adx, ni, 2.01 * u + out_dim * e, &worst);
    snprintf(name, sizeof name, "linear %s backward dweight", mode);
    check_bounded(name, d_dw, dw, adw, nw, 2.01 * u + N * e, &worst);
    cuda_free(d_x), cuda_free(d_w), cuda_free(d_g), cuda_free(d_y), cuda_free(d_dx), cuda_free(d_dw);
    free(x), free(w), free(g), free(y), free(dx), free(dw), free(scr), free(ay), free(adx), free(adw);
}

static void test_layerscale(int N, int C, bool with_x) {
    printf("layerscale_residual N=%d C=%d x=%s\n", N, C, with_x ? "yes" : "NULL");
    size_t n = (size_t)N * C;
    float s = 1.0f / 0.9f;
    float *x = host_rand(n, -1, 1), *y = host_rand(n, -1, 1), *gm = host_rand((size_t)C, -0.5f, 0.5f);
    float *g = host_rand(n, -1, 1), *dgm = host_rand((size_t)C, -1, 1);
    float *out = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
    float *d_x = devf(x, n), *d_y = devf(y, n), *d_gm = devf(gm, (size_t)C), *d_g = devf(g, n);
    float *d_dgm = devf(dgm, (size_t)C), *d_out = devz(n), *d_dy = devz(n), *d_scr = devz(colsum_cuda_scratch_floats(N, C));
    layerscale_residual_forward(out, with_x ? x : NULL, y, gm, s, N, C);
    layerscale_residual_backward(dy, dgm, g, y, gm, s, N, C);
    layerscale_residual_forward_cuda(d_out, with_x ? d_x : NULL, d_y, d_gm, s, N, C, NULL);
    layerscale_residual_backward_cuda(d_dy, d_dgm, d_g, d_y, d_gm, s, N, C, d_scr, NULL);
    check_tensor("layerscale forward", d_out, out, n, FP32);
    check_tensor("layerscale backward dy", d_dy, dy, n, FP32);
    check_tensor("layerscale backward dgamma (accumulates)", d_dgm, dgm, (size_t)C, FP32);
    if (with_x) {  // out aliasing x, as the MLP blocks use it
        layerscale_residual_forward_cuda(d_x, d_x, d_y, d_gm, s, N, C, NULL);
        check_tensor("layerscale forward in place", d_x, out, n, FP32);
    }
    cuda_free(d_x), cuda_free(d_y), cuda_free(d_gm), cuda_free(d_g), cuda_free(d_dgm), cuda_free(d_out);
    cuda_free(d_dy), cuda_free(d_scr);
    free(x), free(y), free(gm), free(g), free(dgm), free(out), free(dy);
}

static void test_swiglu_gelu(int N, int F) {
    printf("swiglu N=%d F=%d, gelu n=%d\n", N, F, N * F);
    size_t nh = (size_t)N * 2 * F, n = (size_t)N * F;
    float *h = host_rand(nh, -4, 4), *g = host_rand(n, -1, 1), *x = host_rand(n, -5, 5);
    float *out = malloc(n * sizeof(float)), *dh = malloc(nh * sizeof(float));
    float *gout = malloc(n * sizeof(float)), *gdx = malloc(n * sizeof(float));
    swiglu_forward(out, h, N, F);
    swiglu_backward(dh, g, h, N, F);
    gelu_forward(gout, x, n);
    gelu_backward(gdx, g, x, n);
    float *d_h = devf(h, nh), *d_g = devf(g, n), *d_x = devf(x, n), *d_out = devz(n), *d_dh = devz(nh);
    float *d_gout = devz(n), *d_gdx = devz(n);
    swiglu_forward_cuda(d_out, d_h, N, F, NULL);
    swiglu_backward_cuda(d_dh, d_g, d_h, N, F, NULL);
    gelu_forward_cuda(d_gout, d_x, n, NULL);
    gelu_backward_cuda(d_gdx, d_g, d_x, n, NULL);
    check_tensor("swiglu forward", d_out, out, n, FP32);
    check_tensor("swiglu backward", d_dh, dh, nh, FP32);
    check_tensor("gelu forward", d_gout, gout, n, FP32);
    check_tensor("gelu backward", d_gdx, gdx, n, FP32);
    gelu_backward_cuda(d_g, d_g, d_x, n, NULL);  // in place, as the MLP blocks use it
    check_tensor("gelu backward in place", d_g, gdx, n, FP32);
    cuda_free(d_h), cuda_free(d_g), cuda_free(d_x), cuda_free(d_out), cuda_free(d_dh), cuda_free(d_gout);
    cuda_free(d_gdx);
    free(h), free(g), free(x), free(out), free(dh), free(gout), free(gdx);
}

// ---- rope and attention ---------------------------------------------------------------------------------
static void test_rope(int N, int W, int heads, int dh) {
    printf("rope N=%d W=%d heads=%d dh=%d\n", N, W, heads, dh);
    int d = heads * dh, ld = 3 * d, half = dh / 2;
    size_t n = (size_t)N * ld;
    float *freqs = malloc(sizeof(float) * (size_t)half), *ct = malloc(sizeof(float) * (size_t)W * half);
    float *st = malloc(sizeof(float) * (size_t)W * half);
    rope_freqs_init(freqs, dh);
    rope_tables(ct, st, freqs, W, dh);
    float *x = host_rand(n, -1, 1), *g = host_rand(n, -1, 1);
    float *d_x = devf(x, n), *d_g = devf(g, n), *d_ct = devf(ct, (size_t)W * half), *d_st = devf(st, (size_t)W * half);
    rope_forward(x, N, ld, W, 2 * heads, dh, ct, st);  // q and k heads, v untouched
    rope_backward(g, N, ld, W, 2 * heads, dh, ct, st);
    rope_forward_cuda(d_x, N, ld, W, 2 * heads, dh, d_ct, d_st, NULL);
    rope_backward_cuda(d_g, N, ld, W, 2 * heads, dh, d_ct, d_st, NULL);
    check_tensor("rope forward", d_x, x, n, FP32);
    check_tensor("rope backward", d_g, g, n, FP32);
    cuda_free(d_x), cuda_free(d_g), cuda_free(d_ct), cuda_free(d_st);
    free(freqs), free(ct), free(st), free(x), free(g);
}

// amp: q, k, v uniform in [-amp, amp]; large values spread the scores (tens of units apart), so the
// forward's online softmax rescales often and far
static void test_attention_amp(int B, int C, int W, int d, int heads, bool causal, float p, float amp) {
    printf("window_attention B=%d C=%d W=%d d=%d heads=%d (dh=%d) causal=%d p=%.2f amp=%.1f\n", B, C, W, d, heads,
           d / heads, causal, p, amp);
    int T = C * W, dh = d / heads;
    size_t N = (size_t)B * T, nqkv = N * 3 * d, nout = N * d, nlse = N * heads;
    size_t mw = p > 0 ? window_attention_mask_words(B, T, W, heads) : 1;
    float *qkv = host_rand(nqkv, -amp, amp), *g = host_rand(nout, -1, 1);
    uint64_t *ids = sample_ids(B);
    DropoutKey kc = {.seed = 12345, .purpose = rng_purpose(RNG_DROPOUT, 0x10011), .step = 3, .sample_ids = ids};
    DropoutKey kg = kc;
    kg.sample_ids = dev_up(ids, sizeof(uint64_t) * (size_t)B);
    int nt = n_threads();
    float *scr = malloc(window_attention_scratch_floats(W, dh) * (size_t)nt * sizeof(float));
    float *out = malloc(nout * sizeof(float)), *lse = malloc(nlse * sizeof(float)), *dqkv = malloc(nqkv * sizeof(float));
    uint32_t *mask = calloc(mw, sizeof(uint32_t));
    window_attention_forward(out, lse, p > 0 ? mask : NULL, qkv, B, T, W, d, heads, causal, p, &kc, scr, nt);
    window_attention_backward(dqkv, g, qkv, lse, p > 0 ? mask : NULL, B, T, W, d, heads, causal, p, scr, nt);

    float *d_qkv = devf(qkv, nqkv), *d_g = devf(g, nout), *d_out = devz(nout), *d_lse = devz(nlse);
    float *d_dqkv = devf(qkv, nqkv);  // starts dirty: every column must be written
    float *d_out2 = devz(nout), *d_dqkv2 = devz(nqkv);
    uint32_t *d_mask = cuda_malloc(mw * sizeof(uint32_t));
    window_attention_forward_cuda(d_out, d_lse, p > 0 ? d_mask : NULL, d_qkv, B, T, W, d, heads, causal, p, &kg, NULL);
    check_tensor("attention forward out", d_out, out, nout, FP32);
    check_tensor("attention forward lse", d_lse, lse, nlse, FP32);
    if (p > 0) check_bits("attention dropout mask", d_mask, mask, mw * sizeof(uint32_t));
    // the backward pass in isolation: the CPU's output, lse and mask
    float *d_lse_cpu = devf(lse, nlse), *d_out_cpu = devf(out, nout);
    uint32_t *d_mask_cpu = dev_up(mask, mw * sizeof(uint32_t));
    window_attention_backward_cuda(d_dqkv, d_g, d_qkv, d_out_cpu, d_lse_cpu, p > 0 ? d_mask_cpu : NULL, B, T, W, d,
                                   heads, causal, p, NULL);
    check_tensor("attention backward dqkv", d_dqkv, dqkv, nqkv, FP32);
    // run-to-run determinism
    window_attention_forward_cuda(d_out2, d_lse, p > 0 ? d_mask : NULL, d_qkv, B, T, W, d, heads, causal, p, &kg, NULL);
    window_attention_backward_cuda(d_dqkv2, d_g, d_qkv, d_out_cpu, d_lse_cpu, p > 0 ? d_mask_cpu : NULL, B, T, W, d,
                                   heads, causal, p, NULL);
    check_same_run("attention forward", d_out, d_out2, nout);
    check_same_run("attention backward", d_dqkv, d_dqkv2, nqkv);
    cuda_free(d_qkv), cuda_free(d_g), cuda_free(d_out), cuda_free(d_lse), cuda_free(d_dqkv), cuda_free(d_out2);
    cuda_free(d_dqkv2), cuda_free(d_mask), cuda_free(d_lse_cpu), cuda_free(d_mask_cpu), cuda_free((void *)kg.sample_ids);
    cuda_free(d_out_cpu);
    free(qkv), free(g), free(ids), free(scr), free(out), free(lse), free(dqkv), free(mask);
}

static void test_attention(int B, int C, int W, int d, int heads, bool causal, float p) {
    test_attention_amp(B, C, W, d, heads, causal, p, 1.5f);
}

// ---- pooling ----------------------------------------------------------------------------------------------
static void test_pool(int B, int C, int W, int d, PoolKind kind) {
    const char *kn = kind == POOL_AVG ? "avg" : kind == POOL_MAX ? "max" : "none";
    printf("pool %s B=%d C=%d W=%d d=%d\n", kn, B, C, W, d);
    int width = kind == POOL_NONE ? C * W * d : C * d, ld = width + 3;  // a wider output row, as the fusion input
    size_t ni = (size_t)B * C * W * d, no = (size_t)B * ld, na = (size_t)B * C * d;
    float *x = host_rand(ni, -1, 1), *g = host_rand(no, -1, 1), *out = host_rand(no, -1, 1);
    float *dx = malloc(ni * sizeof(float));
    int32_t *am = calloc(na, sizeof(int32_t));
    float *d_x = devf(x, ni), *d_g = devf(g, no), *d_out = devf(out, no), *d_dx = devf(x, ni);  // dirty dx
    int32_t *d_am = cuda_malloc(na * sizeof(int32_t));
    pool_forward(out, am, x, B, C, W, d, kind, ld);
    pool_backward(dx, g, am, B, C, W, d, kind, ld);
    pool_forward_cuda(d_out, d_am, d_x, B, C, W, d, kind, ld, NULL);
    pool_backward_cuda(d_dx, d_g, d_am, B, C, W, d, kind, ld, NULL);
    check_tensor("pool forward (row gaps untouched)", d_out, out, no, EXACT);
    if (kind == POOL_MAX) check_bits("pool argmax", d_am, am, na * sizeof(int32_t));
    check_tensor("pool backward", d_dx, dx, ni, EXACT);
    cuda_free(d_x), cuda_free(d_g), cuda_free(d_out), cuda_free(d_dx), cuda_free(d_am);
    free(x), free(g), free(out), free(dx), free(am);
}

// The global stage's broadcast back into the windows, and the window sums of its backward.
static void test_window_add(int N, int W, int d) {
    printf("window broadcast add + window sum N=%d W=%d d=%d\n", N, W, d);
    size_t nx = (size_t)N * W * d, ny = (size_t)N * d;
    float *x = host_rand(nx, -1, 1), *y = host_rand(ny, -1, 1), *gamma = host_rand((size_t)d, 0.5f, 1.5f);
    float *out = malloc(nx * sizeof(float)), *sum = malloc(ny * sizeof(float));
    float *d_x = devf(x, nx), *d_y = devf(y, ny), *d_gamma = devf(gamma, (size_t)d), *d_out = devf(x, nx), *d_sum = devf(y, ny);
    window_broadcast_add_forward(out, x, y, gamma, N, W, d);
    window_sum(sum, x, N, W, d);
    window_broadcast_add_forward_cuda(d_out, d_x, d_y, d_gamma, N, W, d, NULL);
    window_sum_cuda(d_sum, d_x, N, W, d, NULL);
    check_tensor("window broadcast add", d_out, out, nx, EXACT);
    check_tensor("window sum (rows in order)", d_sum, sum, ny, EXACT);
    cuda_free(d_x), cuda_free(d_y), cuda_free(d_gamma), cuda_free(d_out), cuda_free(d_sum);
    free(x), free(y), free(gamma), free(out), free(sum);
}

// ---- losses -------------------------------------------------------------------------------------------------
// The mixup loss as model_loss computes it: two calls adding lambda- and (1-lambda)-scaled gradients.
static void test_crossentropy(int B, int K, float smoothing) {
    printf("crossentropy + mixup B=%d K=%d smoothing=%.2f\n", B, K, smoothing);
    size_t n = (size_t)B * K;
    float *logits = host_rand(n, -3, 3);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)B), *perm = random_perm(B);
    for (int b = 0; b < B; b++) labels[b] = b % 7 == 3 ? -1 : (int32_t)(next_u64() % (uint64_t)K);
    float lam = 0.7f, g1 = lam / (B * 2.0f), g2 = (1 - lam) / (B * 2.0f);
    float *dl = host_rand(n, -1, 1);
    float *d_dl = devf(dl, n), *d_logits = devf(logits, n);
    int n1 = 0, n2 = 0;
    double s1 = crossentropy_forward_backward(dl, logits, labels, NULL, B, K, smoothing, g1, &n1);
    double s2 = crossentropy_forward_backward(dl, logits, labels, perm, B, K, smoothing, g2, &n2);
    int32_t *d_labels = dev_up(labels, sizeof(int32_t) * (size_t)B), *d_perm = dev_up(perm, sizeof(int32_t) * (size_t)B);
    double *d_res = cuda_malloc(4 * sizeof(double)), *d_rows = cuda_malloc(2 * (size_t)B * sizeof(double)), res[4];
    crossentropy_forward_backward_cuda(d_dl, d_res, d_rows, d_logits, d_labels, NULL, B, K, smoothing, g1, NULL);
    crossentropy_forward_backward_cuda(d_dl, d_res + 2, d_rows, d_logits, d_labels, d_perm, B, K, smoothing, g2, NULL);
    cuda_device_synchronize();
    cuda_memcpy_d2h(res, d_res, sizeof res);
    check_scalar("crossentropy loss sum (labels)", res[0], s1, 1e-12);
    check_scalar("crossentropy rows used (labels)", res[1], n1, 0.0);
    check_scalar("crossentropy loss sum (mixup perm)", res[2], s2, 1e-12);
    check_scalar("crossentropy rows used (mixup perm)", res[3], n2, 0.0);
    check_tensor("crossentropy dlogits (adds, both terms)", d_dl, dl, n, FP32);
    cuda_free(d_dl), cuda_free(d_logits), cuda_free(d_labels), cuda_free(d_perm), cuda_free(d_res), cuda_free(d_rows);
    free(logits), free(labels), free(perm), free(dl);
}

static void test_mse(int B) {
    printf("mse B=%d\n", B);
    float *pred = host_rand((size_t)B, -3, 3), *target = host_rand((size_t)B, -3, 3), *dp = host_rand((size_t)B, -1, 1);
    for (int b = 0; b < B; b += 5) target[b] = NAN;
    int32_t *perm = random_perm(B);
    float *d_pred = devf(pred, (size_t)B), *d_target = devf(target, (size_t)B), *d_dp = devf(dp, (size_t)B);
    int32_t *d_perm = dev_up(perm, sizeof(int32_t) * (size_t)B);
    int n1 = 0;
    double s1 = mse_forward_backward(dp, pred, target, perm, B, 0.25f, &n1);
    double *d_res = cuda_malloc(2 * sizeof(double)), *d_rows = cuda_malloc(2 * (size_t)B * sizeof(double)), res[2];
    mse_forward_backward_cuda(d_dp, d_res, d_rows, d_pred, d_target, d_perm, B, 0.25f, NULL);
    cuda_device_synchronize();
    cuda_memcpy_d2h(res, d_res, sizeof res);
    check_scalar("mse loss sum", res[0], s1, 1e-12);
    check_scalar("mse rows used", res[1], n1, 0.0);
    check_tensor("mse dpred (adds)", d_dp, dp, (size_t)B, FP32);
    cuda_free(d_pred), cuda_free(d_target), cuda_free(d_dp), cuda_free(d_perm), cuda_free(d_res), cuda_free(d_rows);
    free(pred), free(target), free(dp), free(perm);
}

// ---- optimizer ------------------------------------------------------------------------------------------------
static void test_adamw(size_t n) {
    printf("adamw + global norm n=%zu\n", n);
    float *p = host_rand(n, -1, 1), *g = host_rand(n, -0.1f, 0.1f), *m = host_rand(n, -0.01f, 0.01f);
    float *v = host_rand(n, 0, 1e-4f);
    float *d_p = devf(p, n), *d_g = devf(g, n), *d_m = devf(m, n), *d_v = devf(v, n);
    AdamWStep s = {.lr = 3e-4, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 1e-4, .step = 7};
    adamw_update(p, g, m, v, n, &s, s.wd);
    adamw_update_cuda(d_p, d_g, d_m, d_v, n, s.lr, s.b1, s.b2, s.eps, s.wd, s.step, NULL);
    check_tensor("adamw param", d_p, p, n, EXACT);
    check_tensor("adamw m", d_m, m, n, EXACT);
    check_tensor("adamw v", d_v, v, n, EXACT);
    // global norm, clipping, scaling
    double *d_sumsq = cuda_malloc(sizeof(double)), *d_scr = cuda_malloc(grad_norm_cuda_scratch_doubles(n) * sizeof(double));
    double sumsq = 0.0;
    grad_sum_squares_cuda(d_sumsq, d_g, n, d_scr, NULL);
    cuda_device_synchronize();
    cuda_memcpy_d2h(&sumsq, d_sumsq, sizeof sumsq);
    double cpu_sumsq = grad_sum_squares(g, n);
    check_scalar("grad sum of squares (double)", sumsq, cpu_sumsq, 1e-12);
    double max_norm = 0.5 * sqrt(cpu_sumsq);  // clipping active: factor ~0.5
    double f = grad_clip_factor(sqrt(cpu_sumsq), max_norm);
    float *gc = host_copy(g, n);
    if (f < 1.0) grad_scale(gc, n, (float)f);
    grad_clip_cuda(d_g, n, d_sumsq, max_norm, NULL);
    check_tensor("grad clip (factor from the device sum)", d_g, gc, n, FP32);
    grad_scale(gc, n, 0.25f);
    grad_scale_cuda(d_g, n, 0.25f, NULL);
    check_tensor("grad scale", d_g, gc, n, FP32);
    cuda_free(d_p), cuda_free(d_g), cuda_free(d_m), cuda_free(d_v), cuda_free(d_sumsq), cuda_free(d_scr);
    free(p), free(g), free(m), free(v), free(gc);
}

static int g_argc;
static char **g_argv;
static bool want(const char *group) {
    if (g_argc < 2) return true;
    for (int i = 1; i < g_argc; i++)
        if (strstr(group, g_argv[i])) return true;
    return false;
}

static int run_all(void) {
    CudaDeviceInfo info;
    cuda_device_info(&info);
    printf("GPU: %s (sm_%d%d, %d SMs); CPU reference with %d OpenMP thread(s)\n", info.name, info.major, info.minor,
           info.sm_count, n_threads());
    void *blas = cuda_blas_create();

    if (want("dropout")) test_dropout(5, 1000, 0.3f);  // tail word
    if (want("dropout")) test_dropout(3, 64 * 384, 0.1f);
    if (want("dropout")) test_dropout(2, 100, 0.0f);  // the copy path

    if (want("embedding")) test_embedding(3 * 1000, 261, 64);  // > one token tile, two feature slices
    if (want("embedding")) test_embedding(700, 261, 40);       // a partial feature slice and chunk
    if (want("embedding")) test_embedding(1500, 500, 40);      // a large vocabulary: the row kernel
    if (want("mixup")) test_mixup(6, 777);
    if (want("embed_position")) test_embed_position(4, 50, 16, true);
    if (want("embed_position")) test_embed_position(2, 30, 8, false);
    if (want("window_pad")) test_window_pad(3, 300, 384, 8);

    if (want("colsum")) test_colsum(3000, 70);
    if (want("colsum")) test_colsum(256 * 90 + 17, 40);  // 91 chunks: the finish pass's unrolled groups
    if (want("rmsnorm")) test_rmsnorm(1000, 64);
    if (want("rmsnorm")) test_rmsnorm(77, 100);
    if (want("linear")) test_linear(blas, 1152, 64, 192, false);   // q,k,v projection
    if (want("linear")) test_linear(blas, 1152, 256, 64, false);   // w3
    if (want("linear")) test_linear(blas, 37, 512, 256, true);     // fusion downsample with bias
    if (want("linear")) test_linear(blas, 37, 256, 2, true);       // head
    if (want("linear")) test_linear_math(blas, 384, 64, 192, CUDA_MATH_TF32);
    if (want("linear")) test_linear_math(blas, 384, 64, 192, CUDA_MATH_BF16);
    if (want("linear")) test_linear_math(blas, 37, 256, 64, CUDA_MATH_BF16);
    if (want("layerscale")) test_layerscale(500, 64, true);
    if (want("layerscale")) test_layerscale(37, 256, false);
    if (want("swiglu_gelu")) test_swiglu_gelu(300, 256);

    if (want("rope")) test_rope(3 * 384, 128, 8, 8);
    // the tutorial's unit (W 128, dh 8), with and without dropout / causal masking
    if (want("attention")) test_attention(3, 3, 128, 64, 8, false, 0.0f);
    if (want("attention")) test_attention(2, 3, 128, 64, 8, true, 0.1f);
    if (want("attention")) test_attention(2, 2, 64, 64, 4, false, 0.2f);  // dh 16
    // generic head dim (6: the non-exact instance) and an odd window, whose mask runs start
    // mid-word and mid-Philox-block
    if (want("attention")) test_attention(2, 3, 37, 48, 8, true, 0.25f);
    if (want("attention")) test_attention(1, 2, 40, 96, 2, false, 0.1f);  // dh 48
    if (want("attention")) test_attention_amp(2, 2, 128, 64, 8, true, 0.1f, 5.0f);  // scores tens apart

    if (want("pool")) test_pool(3, 3, 128, 64, POOL_AVG);
    if (want("pool")) test_pool(3, 3, 128, 64, POOL_MAX);
    if (want("pool")) test_pool(2, 2, 16, 8, POOL_NONE);
    if (want("pool")) test_window_add(24, 128, 64);

    if (want("crossentropy")) test_crossentropy(37, 5, 0.1f);
    if (want("crossentropy")) test_crossentropy(64, 2, 0.0f);
    if (want("mse")) test_mse(41);

    if (want("adamw")) test_adamw(100003);

    cuda_blas_destroy(blas);
    TEST_MAIN_END();
}
#endif  // EIR_HAVE_CUDA

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);  // progress survives a crash
#ifndef EIR_HAVE_CUDA
    (void)argc, (void)argv;
    printf("SKIP: built without the CUDA backend (EIR_HAVE_CUDA)\n");
    return 77;
#else
    if (cuda_device_count() == 0) {
        printf("SKIP: no CUDA device (cudaGetDeviceCount failed or found none): the GPU kernel tests need a GPU\n");
        return 77;
    }
    g_argc = argc, g_argv = argv;
    return run_all();
#endif
}
