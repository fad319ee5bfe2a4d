// tests/gpu/emu/cuda_bf16.h: bfloat16 for the CPU emulation (cuda_runtime.h beside it): the storage
// type __nv_bfloat16 (the upper 16 bits of a float) and its conversions, rounding to nearest even
// as the real __float2bfloat16; plus the TF32 / bf16 operand roundings of the emulated cuBLAS's
// tensor-core modes (cublas_v2.h). No bf16 arithmetic operators: convert to float.
#pragma once
#include <stdint.h>
#include <string.h>

struct __nv_bfloat16_raw {
    unsigned short x;
};
struct __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    constexpr __nv_bfloat16(const __nv_bfloat16_raw &r) : __x(r.x) {}
    operator __nv_bfloat16_raw() const { return __nv_bfloat16_raw{__x}; }
};
typedef __nv_bfloat16 nv_bfloat16;

namespace emu {
inline uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
inline float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
// Keeps the top 32 - drop bits of a float, rounding to nearest even (finite values may round up
// to infinity); infinities and NaNs pass unchanged (a NaN stays a NaN: its quiet bit is kept).
inline uint32_t round_bits_rne(uint32_t u, int drop) {
    if ((u & 0x7F800000u) == 0x7F800000u) return (u & 0x7FFFFFFFu) > 0x7F800000u ? u | 0x00400000u : u;
    uint32_t half = (1u << (drop - 1)) - 1u, lsb = (u >> drop) & 1u;
    return (u + half + lsb) & ~((1u << drop) - 1u);
}
// TF32: 8 exponent bits, 10 explicit mantissa bits (of float's 23).
inline float round_tf32(float f) { return bits_float(round_bits_rne(float_bits(f), 13)); }
// bfloat16: 8 exponent bits, 7 explicit mantissa bits.
inline float round_bf16(float f) { return bits_float(round_bits_rne(float_bits(f), 16)); }
}  // namespace emu

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    return __nv_bfloat16_raw{(unsigned short)(emu::round_bits_rne(emu::float_bits(f), 16) >> 16)};
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return emu::bits_float((uint32_t)h.__x << 16); }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { return __nv_bfloat16_raw{x}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
