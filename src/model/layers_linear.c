// layers_linear.c: nn.Linear over all rows at once with OpenBLAS sgemm (row-major; the weight is
// PyTorch's (out, in) layout, so the forward is inp @ W^T).
//
// Threads: the model uses ONE pool, OpenMP's. OpenBLAS runs single-threaded (set here before
// every call) and each OpenMP thread multiplies its own block of rows; the pthread pool of
// OpenBLAS spinning next to OpenMP's cost ~20% on two cores.
#include <cblas.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/layers.h"
#include "model/simd.h"

void openblas_set_num_threads(int num_threads);  // OpenBLAS extension (declared by its cblas.h too)

// Work below this many multiply-adds stays on one thread.
#define LINEAR_PAR_MIN (1L << 20)

static int pool_size(long work) {
    openblas_set_num_threads(1);
#ifdef _OPENMP
    return work >= LINEAR_PAR_MIN ? omp_get_max_threads() : 1;
#else
    (void)work;
    return 1;
#endif
}

static inline void split(int n, int parts, int part, int align, int *lo, int *hi) {
    int chunk = (n + parts - 1) / parts;
    chunk = (chunk + align - 1) / align * align;
    *lo = part * chunk < n ? part * chunk : n;
    *hi = *lo + chunk < n ? *lo + chunk : n;
}

static inline int thread_num(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int in, int out_dim) {
    if (N <= 0) return;
    int nt = pool_size((long)N * in * out_dim);
#pragma omp parallel num_threads(nt)
    {
        int lo, hi;
        split(N, nt, thread_num(), 16, &lo, &hi);
        if (hi > lo) {
            float *o = out + (size_t)lo * out_dim;
            float beta = 0.0f;
            if (bias) {
                for (int n = lo; n < hi; n++) memcpy(out + (size_t)n * out_dim, bias, (size_t)out_dim * sizeof(float));
                beta = 1.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, out_dim, in, 1.0f, inp + (size_t)lo * in, in,
                        weight, in, beta, o, out_dim);
        }
    }
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int in, int out_dim, bool accumulate_dinp) {
    if (N <= 0) return;
    int nt = pool_size((long)N * in * out_dim);
    // dweight (out, in) += dout^T (out, N) @ inp (N, in): every thread owns a block of dweight's
    // rows (or columns, when there are fewer outputs than inputs) and sums over all N rows.
    bool by_rows = out_dim >= in;
#pragma omp parallel num_threads(nt)
    {
        int t = thread_num(), lo, hi;
        if (dinp) {  // (N, in) = dout (N, out) @ W (out, in), rows split
            split(N, nt, t, 16, &lo, &hi);
            if (hi > lo)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, in, out_dim, 1.0f,
                            dout + (size_t)lo * out_dim, out_dim, weight, in, accumulate_dinp ? 1.0f : 0.0f,
                            dinp + (size_t)lo * in, in);
        }
        split(by_rows ? out_dim : in, nt, t, 16, &lo, &hi);
        if (hi > lo) {
            if (by_rows)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, in, N, 1.0f, dout + lo, out_dim, inp, in,
                            1.0f, dweight + (size_t)lo * in, in);
            else
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, hi - lo, N, 1.0f, dout, out_dim, inp + lo,
                            in, 1.0f, dweight + lo, in);
        }
    }
    if (dbias) colsum_add(dbias, dout, NULL, N, out_dim, 1.0f);
}
