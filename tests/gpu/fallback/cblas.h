// tests/gpu/fallback/cblas.h: the sliver of CBLAS that layers_linear.c uses, for bench/gpu.sh's
// kernels-only build on a machine without OpenBLAS (cblas_ref.c beside it). Never part of the
// product build.
#pragma once
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void openblas_set_num_threads(int num_threads);
