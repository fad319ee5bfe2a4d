// layers_dropout.c: dropout masks from counter-based Philox streams, dropout, stochastic depth.
// A mask element is a pure function of (seed, site, step, global sample, element index), so the
// same sample gets the same mask on any rank, with any thread count, in any batch position,
// and the backward pass could regenerate it (we store it as bits: 1/32 of the activation).
#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "model/layers.h"
#include "model/simd.h"

// The vector helpers below are always inlined into the kernels, so the baseline ABI of vector
// arguments (what -Wpsabi warns about) never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

uint32_t dropout_threshold(float p) {
    if (!(p > 0.0f)) return 0;
    if (p >= 1.0f) return 65536;
    return (uint32_t)lrint((double)p * 65536.0);
}

float dropout_keep_scale(float p) { return p >= 1.0f ? 0.0f : 1.0f / (1.0f - p); }

// Philox4x32-10 blocks with counters (b0 + k, c[0], c[1], c[2]), k < nb, written as 16-bit
// halves in stream order: h[8k + 2w] = low half of word w, h[8k + 2w + 1] = high half. Same
// values as rng_next_u32 on a stream positioned at block b0 (rng.c), written so the compiler
// can run several blocks per vector.
#define PHILOX_INLINE static inline __attribute__((always_inline))  // inlined into each CPU clone
// One Philox round on locals x0..x3 (counter) and k0, k1 (key), as in rng.c.
#define PHILOX_ROUND                                             \
    {                                                            \
        uint64_t p0 = (uint64_t)PHILOX_M0 * x0;                  \
        uint64_t p1 = (uint64_t)PHILOX_M1 * x2;                  \
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;            \
        uint32_t n1 = (uint32_t)p1;                              \
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;            \
        uint32_t n3 = (uint32_t)p0;                              \
        x0 = n0; x1 = n1; x2 = n2; x3 = n3;                      \
        k0 += PHILOX_W0; k1 += PHILOX_W1;                        \
    }

PHILOX_INLINE void philox_halves(uint16_t *h, const uint32_t key[2], const uint32_t c[3], uint32_t b0, int nb) {
    for (int k = 0; k < nb; k++) {
        uint32_t x0 = b0 + (uint32_t)k, x1 = c[0], x2 = c[1], x3 = c[2];
        uint32_t k0 = key[0], k1 = key[1];
        PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND
        PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND
        uint16_t *o = h + 8 * k;
        o[0] = (uint16_t)x0; o[1] = (uint16_t)(x0 >> 16);
        o[2] = (uint16_t)x1; o[3] = (uint16_t)(x1 >> 16);
        o[4] = (uint16_t)x2; o[5] = (uint16_t)(x2 >> 16);
        o[6] = (uint16_t)x3; o[7] = (uint16_t)(x3 >> 16);
    }
}

// Keep decisions of one Philox block (counter x0, c1, c2, c3) as a byte: bit 2w = low half of
// word w >= thr, bit 2w+1 = high half.
PHILOX_INLINE uint32_t philox_keep_byte(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3, uint32_t k0, uint32_t k1,
                                        uint32_t thr) {
    PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND
    PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND PHILOX_ROUND
    return (uint32_t)((x0 & 0xFFFFu) >= thr) | (uint32_t)((x0 >> 16) >= thr) << 1 |
           (uint32_t)((x1 & 0xFFFFu) >= thr) << 2 | (uint32_t)((x1 >> 16) >= thr) << 3 |
           (uint32_t)((x2 & 0xFFFFu) >= thr) << 4 | (uint32_t)((x2 >> 16) >= thr) << 5 |
           (uint32_t)((x3 & 0xFFFFu) >= thr) << 6 | (uint32_t)((x3 >> 16) >= thr) << 7;
}
#undef PHILOX_ROUND

// Whole 32-bit words of keep bits when the run starts on a word boundary (first % 32 == 0):
// word m holds blocks b0 + 4m .. b0 + 4m + 3. The loop over words vectorises (16 words = 64
// Philox blocks per AVX-512 iteration).
PHILOX_INLINE void keep_words(uint32_t *restrict bits, const uint32_t key[2], const uint32_t c[3], uint32_t b0, int nw,
                              uint32_t thr) {
    const uint32_t k0 = key[0], k1 = key[1], c1 = c[0], c2 = c[1], c3 = c[2];
    for (int m = 0; m < nw; m++) {
        uint32_t b = b0 + 4 * (uint32_t)m;
        bits[m] = philox_keep_byte(b, c1, c2, c3, k0, k1, thr) | philox_keep_byte(b + 1, c1, c2, c3, k0, k1, thr) << 8 |
                  philox_keep_byte(b + 2, c1, c2, c3, k0, k1, thr) << 16 |
                  philox_keep_byte(b + 3, c1, c2, c3, k0, k1, thr) << 24;
    }
}

// The same words LANES/4 at a time: LANES Philox blocks side by side in the lanes of 32-bit
// vectors (GCC vector types), the 32 x 32 -> 64 products as even/odd 64-bit lane products
// (vpmuludq: GCC's own vector multiply would emulate a 64 x 64 one), and each lane's keep byte
// narrowed into place. Built for AVX2 (8 lanes) and AVX-512 (16 lanes); the baseline build
// keeps the scalar loop above.
#define DEFINE_KEEP_WORDS_VEC(NAME, ATTR, LANES, U, MUL_EVEN, MREG)                                         \
    typedef uint32_t NAME##_u32 __attribute__((vector_size(4 * LANES)));                                     \
    typedef uint64_t NAME##_u64 __attribute__((vector_size(4 * LANES)));                                     \
    typedef uint8_t NAME##_u8 __attribute__((vector_size(LANES)));                                           \
    ATTR static inline __attribute__((always_inline)) NAME##_u32 NAME##_mulhi(NAME##_u32 x, NAME##_u32 m) {  \
        NAME##_u64 ev = (NAME##_u64)MUL_EVEN((MREG)x, (MREG)m);                                              \
        NAME##_u64 od = (NAME##_u64)MUL_EVEN((MREG)((NAME##_u64)x >> 32), (MREG)m);                          \
        return (NAME##_u32)((ev >> 32) | (od & 0xFFFFFFFF00000000ull));                                      \
    }                                                                                                        \
    /* U vectors of blocks per iteration: ten dependent rounds of one vector leave the multipliers */       \
    /* idle on their latency; U independent ones fill them (same blocks, same bits) */                      \
    ATTR static int NAME(uint32_t *restrict bits, const uint32_t key[2], const uint32_t c[3], uint32_t b0, int nw, \
                         uint32_t thr) {                                                                     \
        NAME##_u32 lane, m0 = (NAME##_u32){0} + PHILOX_M0, m1 = (NAME##_u32){0} + PHILOX_M1;                 \
        for (int k = 0; k < LANES; k++) lane[k] = (uint32_t)k;                                               \
        int g = 0;                                                                                           \
        for (; g + U * LANES / 4 <= nw; g += U * LANES / 4) {                                                \
            NAME##_u32 x0[U], x1[U], x2[U], x3[U];                                                           \
            for (int u = 0; u < U; u++) {                                                                    \
                x0[u] = lane + (b0 + 4 * (uint32_t)(g + u * LANES / 4));                                     \
                x1[u] = (NAME##_u32){0} + c[0], x2[u] = (NAME##_u32){0} + c[1], x3[u] = (NAME##_u32){0} + c[2]; \
            }                                                                                                \
            uint32_t k0 = key[0], k1 = key[1];                                                               \
            for (int round = 0; round < 10; round++) {                                                       \
                for (int u = 0; u < U; u++) {                                                                \
                    NAME##_u32 h0 = NAME##_mulhi(x0[u], m0), h2 = NAME##_mulhi(x2[u], m1);                   \
                    NAME##_u32 l0 = x0[u] * PHILOX_M0, l2 = x2[u] * PHILOX_M1;                               \
                    x0[u] = h2 ^ x1[u] ^ k0, x1[u] = l2, x2[u] = h0 ^ x3[u] ^ k1, x3[u] = l0;                \
                }                                                                                            \
                k0 += PHILOX_W0, k1 += PHILOX_W1;                                                            \
            }                                                                                                \
            for (int u = 0; u < U; u++) {                                                                    \
                /* bit 2w of a lane's byte: low half of word w >= thr; 2w+1: high half (philox_keep_byte) */ \
                NAME##_u32 byte = ((x0[u] & 0xFFFFu) >= thr) & 1u;                                           \
                byte |= ((x0[u] >> 16) >= thr) & 2u;                                                         \
                byte |= ((x1[u] & 0xFFFFu) >= thr) & 4u;                                                     \
                byte |= ((x1[u] >> 16) >= thr) & 8u;                                                         \
                byte |= ((x2[u] & 0xFFFFu) >= thr) & 16u;                                                    \
                byte |= ((x2[u] >> 16) >= thr) & 32u;                                                        \
                byte |= ((x3[u] & 0xFFFFu) >= thr) & 64u;                                                    \
                byte |= ((x3[u] >> 16) >= thr) & 128u;                                                       \
                NAME##_u8 b8 = __builtin_convertvector(byte, NAME##_u8);                                     \
                memcpy(bits + g + u * LANES / 4, &b8, sizeof b8);                                            \
            }                                                                                                \
        }                                                                                                    \
        return g;                                                                                            \
    }
#ifdef EIR_KERNEL_WIDE
#include <immintrin.h>
DEFINE_KEEP_WORDS_VEC(keep_words_v8, __attribute__((target("arch=x86-64-v3"))), 8, 4, _mm256_mul_epu32, __m256i)
DEFINE_KEEP_WORDS_VEC(keep_words_v16, EIR_KERNEL_WIDE, 16, 8, _mm512_mul_epu32, __m512i)
#endif

// Whole words from block b0 (first % 32 == 0): as many as a vector version does, the rest here.
static void keep_words_any(uint32_t *bits, const uint32_t key[2], const uint32_t c[3], uint32_t b0, int nw,
                           uint32_t thr) {
    int done = 0;
#ifdef EIR_KERNEL_WIDE
    const char *level = simd_kernel_level();
    if (strstr(level, "AVX-512"))
        done = keep_words_v16(bits, key, c, b0, nw, thr);
    else if (strstr(level, "AVX2"))
        done = keep_words_v8(bits, key, c, b0, nw, thr);
#endif
    keep_words(bits + done, key, c, b0 + 4 * (uint32_t)done, nw - done, thr);
}

#define KEEP_CHUNK 512  // elements per Philox batch (a multiple of 32: output words stay aligned)

EIR_KERNEL static void keep_bits_kernel(uint32_t *bits, const uint32_t key[2], const uint32_t c[3],
                                        uint64_t first, int n, uint32_t threshold) {
    if ((first & 31) == 0) {
        int nw = (n + 31) / 32;
        keep_words_any(bits, key, c, (uint32_t)(first >> 3), nw, threshold);
        if (n & 31) bits[nw - 1] &= (1u << (n & 31)) - 1u;
        return;
    }
    uint16_t h[KEEP_CHUNK + 16];
    for (int k0 = 0; k0 < n; k0 += KEEP_CHUNK) {
        int m = n - k0 < KEEP_CHUNK ? n - k0 : KEEP_CHUNK;
        uint64_t e0 = first + (uint64_t)k0;
        int off = (int)(e0 & 7);
        int nb = (off + m + 7) >> 3;
        philox_halves(h, key, c, (uint32_t)(e0 >> 3), nb);
        const uint16_t *hv = h + off;
        int nw = (m + 31) / 32;
        for (int w = 0; w < nw; w++) {
            int lim = m - 32 * w < 32 ? m - 32 * w : 32;
            uint32_t word = 0;
            for (int j = 0; j < lim; j++) word |= (uint32_t)(hv[32 * w + j] >= threshold) << j;
            bits[k0 / 32 + w] = word;
        }
    }
}

void dropout_keep_bits(uint32_t *bits, uint64_t seed, uint32_t purpose, uint64_t step, uint64_t sample,
                       uint64_t first, int n, uint32_t threshold) {
    RngStream r;
    rng_stream_init(&r, seed, purpose, step, sample);
    keep_bits_kernel(bits, r.key, &r.ctr[1], first, n, threshold);
}

// out[k] = inp[k] * (bit k ? scale : 0)
EIR_KERNEL static void apply_keep_bits(float *out, const float *inp, const uint32_t *bits, size_t n, float scale) {
    for (size_t k = 0; k < n; k++) {
        float keep = (float)((bits[k >> 5] >> (k & 31)) & 1u);
        out[k] = inp[k] * keep * scale;
    }
}

#define DROPOUT_CHUNK 4096  // elements per parallel work item (multiple of 32)

void dropout_forward(float *out, uint32_t *mask, const float *inp, int B, size_t D, float p, const DropoutKey *key) {
    if (!(p > 0.0f)) {
        if (out != inp) memmove(out, inp, (size_t)B * D * sizeof(float));
        return;
    }
    uint32_t thr = dropout_threshold(p);
    float scale = dropout_keep_scale(p);
    size_t words = dropout_mask_words(D);
    long chunks = (long)((D + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK);
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (long it = 0; it < (long)B * chunks; it++) {
        int b = (int)(it / chunks);
        size_t lo = (size_t)(it % chunks) * DROPOUT_CHUNK;
        size_t n = D - lo < DROPOUT_CHUNK ? D - lo : DROPOUT_CHUNK;
        uint32_t *bits = mask + (size_t)b * words + lo / 32;
        dropout_keep_bits(bits, key->seed, key->purpose, key->step, key->sample_ids[b], lo, (int)n, thr);
        apply_keep_bits(out + (size_t)b * D + lo, inp + (size_t)b * D + lo, bits, n, scale);
    }
}

void dropout_backward(float *dinp, const float *dout, const uint32_t *mask, int B, size_t D, float p) {
    if (!(p > 0.0f)) {
        if (dinp != dout) memmove(dinp, dout, (size_t)B * D * sizeof(float));
        return;
    }
    float scale = dropout_keep_scale(p);
    size_t words = dropout_mask_words(D);
    long chunks = (long)((D + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK);
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (long it = 0; it < (long)B * chunks; it++) {
        int b = (int)(it / chunks);
        size_t lo = (size_t)(it % chunks) * DROPOUT_CHUNK;
        size_t n = D - lo < DROPOUT_CHUNK ? D - lo : DROPOUT_CHUNK;
        apply_keep_bits(dinp + (size_t)b * D + lo, dout + (size_t)b * D + lo, mask + (size_t)b * words + lo / 32,
                        n, scale);
    }
}

float stochastic_depth_scale(float p, uint64_t seed, uint32_t purpose, uint64_t step) {
    if (!(p > 0.0f)) return 1.0f;
    if (p >= 1.0f) return 0.0f;
    RngStream r;
    rng_stream_init(&r, seed, purpose, step, 0);
    float keep_prob = 1.0f - p;
    return rng_next_uniform(&r) < keep_prob ? 1.0f / keep_prob : 0.0f;
}
