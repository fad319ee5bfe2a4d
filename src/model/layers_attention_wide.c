// layers_attention_wide.c: the attention kernels (attention_kernels.h) at 16 lanes, built for
// AVX-512 alone (EIR_KERNEL_WIDE); layers_attention.c calls them where simd_wide_vectors().
#include "model/simd.h"

#ifdef EIR_KERNEL_WIDE
#define AK_VL 16
#define AK_KERNEL EIR_KERNEL_WIDE
#define AK_SUFFIX _v16
#include "model/attention_kernels.h"

UnitForwardFn attention_wide_forward(int dh) { return pick_forward_v16(dh); }
UnitBackwardFn attention_wide_backward(int dh) { return pick_backward_v16(dh); }
#else
#define AK_VL 16
#include "model/attention_kernels.h"

UnitForwardFn attention_wide_forward(int dh) { return (void)dh, NULL; }
UnitBackwardFn attention_wide_backward(int dh) { return (void)dh, NULL; }
#endif
