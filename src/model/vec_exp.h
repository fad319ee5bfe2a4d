// vec_exp.h: exp(x) on GCC vectors of VEXP_VL floats, shared by the attention (attention_kernels.h:
// scores minus their maximum or log-sum-exp, <= 0) and the SwiGLU gate (gemm_kernels.h: e^-a, any
// sign) kernels. Base 2: n = round(x log2(e)) from the rounding constant, f = x log2(e) - n in
// [-0.5, 0.5] in one fused multiply-subtract (no rounding of x log2(e) itself, so no two-constant
// ln2 split is needed), 2^f by a degree-6 near-minimax polynomial (relative error 1.2e-7 for
// x > -3, 6.3e-7 at worst, from log2(e)'s own rounding), times 2^n. With AVX-512 (VEXP_SCALEF)
// the 2^n is one vscalefps, which also takes arguments beyond the float range to 0 or inf:
// 11 vector operations (the old Cody-Waite form took 13); elsewhere 2^n is built in the exponent
// bits, so x is clamped to [-87.3, 88.3] first.
// The including file defines VEXP_VL (8 or 16), VEXP_INLINE (its always-inline attribute) and,
// for AVX-512 kernels, VEXP_SCALEF (and includes <immintrin.h>).
#pragma once
#include <stdint.h>

typedef float vexp_f __attribute__((vector_size(4 * VEXP_VL)));
typedef int32_t vexp_i __attribute__((vector_size(4 * VEXP_VL)));

static VEXP_INLINE vexp_f vec_exp(vexp_f x) {
    const float L2E = 1.44269504088896341f;
#ifdef VEXP_SCALEF
    const __m512 xm = (__m512)x, l2e = _mm512_set1_ps(L2E);
    const __m512 t = _mm512_fmadd_ps(xm, l2e, _mm512_set1_ps(12582912.0f));
    const __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(12582912.0f));
    const vexp_f f = (vexp_f)_mm512_fmsub_ps(xm, l2e, n);
#else
    const vexp_f lo = (vexp_f){0} - 87.3f, hi = (vexp_f){0} + 88.3f;
    const vexp_i below = x < lo, above = x > hi;
    x = (vexp_f)((below & (vexp_i)lo) | (~below & (vexp_i)x));
    x = (vexp_f)((above & (vexp_i)hi) | (~above & (vexp_i)x));
    vexp_f t = x * L2E + 12582912.0f;  // fused: n = round(x log2(e)) in t's mantissa
    vexp_f n = t - 12582912.0f;
    vexp_f f = x * L2E - n;            // fused as well (the kernels contract a*b+c)
#endif
    vexp_f p = (vexp_f){0} + 1.534581173e-4f;
    p = p * f + 1.339993122e-3f;
    p = p * f + 9.618488958e-3f;
    p = p * f + 5.550328777e-2f;
    p = p * f + 2.402264689e-1f;
    p = p * f + 6.931472057e-1f;
    p = p * f + 1.0f;
#ifdef VEXP_SCALEF
    return (vexp_f)_mm512_scalef_ps((__m512)p, n);
#else
    vexp_i bits = ((vexp_i)t - 0x4B400000 + 127) << 23;  // t's mantissa holds n: 2^n
    return p * (vexp_f)bits;
#endif
}
