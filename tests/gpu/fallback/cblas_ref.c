// tests/gpu/fallback/cblas_ref.c: a plain reference sgemm (float accumulation, k in order) for
// the CPU side of the GPU kernel tests where OpenBLAS is missing (bench/gpu.sh's kernels-only
// build). Slow and simple; the tests' tolerances cover its different summation order.
#include "cblas.h"

#include <stdlib.h>

void openblas_set_num_threads(int num_threads) { (void)num_threads; }

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (order != CblasRowMajor) abort();  // layers_linear.c is row-major only
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int p = 0; p < K; p++) {
                float a = ta == CblasNoTrans ? A[(long)i * lda + p] : A[(long)p * lda + i];
                float b = tb == CblasNoTrans ? B[(long)p * ldb + j] : B[(long)j * ldb + p];
                s += a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = alpha * s + (beta != 0.0f ? beta * *c : 0.0f);
        }
}
