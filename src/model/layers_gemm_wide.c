// layers_gemm_wide.c: the packed-panel product (gemm_kernels.h) at 16 lanes, built for AVX-512
// alone (EIR_KERNEL_WIDE); layers_gemm.c calls it where simd_wide_vectors().
#include "model/layers_gemm.h"
#include "model/simd.h"

#ifdef EIR_KERNEL_WIDE
#define GK_VL 16
#define GK_KERNEL EIR_KERNEL_WIDE
#define GK_SUFFIX _v16
#include "model/gemm_kernels.h"

GemmRowsFn gemm_wide_rows(void) { return gemm_packed_rows_v16; }
GemmSwigluBwdFn gemm_wide_swiglu_bwd(void) { return gemm_swiglu_bwd_rows_v16; }
#else
GemmRowsFn gemm_wide_rows(void) { return NULL; }
GemmSwigluBwdFn gemm_wide_swiglu_bwd(void) { return NULL; }
#endif
