// bench_sgemm.c: this machine's matrix-product ceiling, measured in the same run as the model so
// that the model's GFLOP/s can be read as a share of it (bench/train_bench.sh). Two figures:
// OpenBLAS sgemm 2048^3 on T threads (the usual peak), and the forward GEMMs of one transformer
// layer of the model at its real shapes (1024 rows x {3d, d, 2F, d} outputs, K = d or F), one
// single-threaded call per sample block with the blocks split over T OpenMP threads, exactly as
// layers_linear.c runs them. Both are checked against a double-precision product first: some
// OpenBLAS builds compute wrong results on CPUs newer than they know (the machine's
// OPENBLAS_CORETYPE exists for that), and a fast wrong kernel is no ceiling.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "bench_common.h"
#include "common/util.h"

void openblas_set_num_threads(int num_threads);

static void fill(float *a, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        a[i] = (float)((seed >> 8) * (1.0 / 16777216.0) * 2.0 - 1.0);
    }
}

// Worst |c - exact| / sum|a||b| over sampled entries of C = A (M,K) @ B^T (N,K), row-major.
static double check_nt(const float *a, const float *b, const float *c, int M, int N, int K) {
    double worst = 0;
    for (int s = 0; s < 64; s++) {
        int i = (int)((s * 2654435761u) % (unsigned)M), j = (int)((s * 40503u + 17) % (unsigned)N);
        double ref = 0, mag = 0;
        for (int k = 0; k < K; k++) {
            ref += (double)a[(size_t)i * K + k] * b[(size_t)j * K + k];
            mag += fabs((double)a[(size_t)i * K + k] * b[(size_t)j * K + k]);
        }
        double e = fabs(c[(size_t)i * N + j] - ref) / (mag > 0 ? mag : 1);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static double big_sgemm(int threads, double *err) {
    openblas_set_num_threads(threads);
    const int n = 2048;
    size_t nn = (size_t)n * n;
    float *a = malloc_check(sizeof(float) * nn), *b = malloc_check(sizeof(float) * nn),
          *c = malloc_check(sizeof(float) * nn);
    fill(a, nn, 1), fill(b, nn, 2);
    double best = 0;
    for (int r = 0; r < 5; r++) {  // the first call warms up (thread pool, pages)
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = now_seconds() - t0;
        if (r > 0) best = fmax(best, 2.0 * n * n * (double)n / dt / 1e9);
    }
    *err = fmax(*err, check_nt(a, b, c, n, n, n));
    free(a), free(b), free(c);
    return best;
}

static double model_sgemm(int threads, int batch, const ModelConfig *mc, double *err) {
    const ModelInputSpec *s = &mc->inputs[0];
    const int rows = s->padded_length, d = s->d, F = s->ffn;
    const int shapes[4][2] = {{3 * d, d}, {d, d}, {2 * F, d}, {d, F}};  // (out, in): qkv, proj, w1w2, w3
    double flops = 0;
    size_t wmax = 0, imax = 0, omax = 0;
    for (int k = 0; k < 4; k++) {
        flops += 2.0 * rows * shapes[k][0] * shapes[k][1];
        size_t w = (size_t)shapes[k][0] * shapes[k][1];
        wmax = w > wmax ? w : wmax;
        imax = (size_t)shapes[k][1] > imax ? (size_t)shapes[k][1] : imax;
        omax = (size_t)shapes[k][0] > omax ? (size_t)shapes[k][0] : omax;
    }
    flops *= batch;
    float *w = malloc_check(sizeof(float) * wmax * 4);
    float *in = malloc_check(sizeof(float) * (size_t)batch * rows * imax);
    float *out = malloc_check(sizeof(float) * (size_t)batch * rows * omax);
    fill(w, wmax * 4, 3), fill(in, (size_t)batch * rows * imax, 4);
    openblas_set_num_threads(1);
    omp_set_num_threads(threads);
    double best = 0;
    for (int r = 0; r < 6; r++) {
        double t0 = now_seconds();
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < batch; blk++)
            for (int k = 0; k < 4; k++) {
                int N = shapes[k][0], K = shapes[k][1];
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, K, 1.0f, in + (size_t)blk * rows * K, K,
                            w + (size_t)k * wmax, K, 0.0f, out + (size_t)blk * rows * N, N);
            }
        double dt = now_seconds() - t0;
        if (r > 0) best = fmax(best, flops / dt / 1e9);
    }
    // the last block's last shape (w3) is still in out
    int N = shapes[3][0], K = shapes[3][1], last = batch - 1;
    *err = fmax(*err, check_nt(in + (size_t)last * rows * K, w + 3 * wmax, out + (size_t)last * rows * N, rows, N, K));
    free(w), free(in), free(out);
    return best;
}

void bench_sgemm_ceiling(SgemmCeiling *c, int threads, int batch, const ModelConfig *mc) {
    c->check_rel_err = 0;
    c->big_gflops = big_sgemm(threads, &c->check_rel_err);
    c->model_gflops = model_sgemm(threads, batch, mc, &c->check_rel_err);
    // fp32 with K <= 2048 terms: a correct kernel stays near K * 2^-24 (about 1e-4) of sum|a||b|.
    if (c->check_rel_err > 1e-3)
        eir_die("OpenBLAS (%s kernels) computes wrong sgemm results here (relative error %.2g): set "
                "OPENBLAS_CORETYPE to a kernel set this CPU runs correctly",
                bench_blas_core(), c->check_rel_err);
}
