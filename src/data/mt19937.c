// mt19937.c: Matsumoto & Nishimura's MT19937 (1998) plus numpy's legacy shuffle, for the split.
#include "data/mt19937.h"

#define MT_N 624
#define MT_M 397
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu
#define MT_MATRIX_A 0x9908b0dfu

void mt19937_seed(Mt19937 *m, uint32_t seed) {
    m->mt[0] = seed;
    for (int i = 1; i < MT_N; i++) {
        uint32_t prev = m->mt[i - 1];
        m->mt[i] = 1812433253u * (prev ^ (prev >> 30)) + (uint32_t)i;
    }
    m->pos = MT_N;  // the first draw regenerates the whole state
}

static void mt_regenerate(Mt19937 *m) {
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (m->mt[i] & MT_UPPER) | (m->mt[(i + 1) % MT_N] & MT_LOWER);
        uint32_t v = m->mt[(i + MT_M) % MT_N] ^ (y >> 1);
        if (y & 1u) v ^= MT_MATRIX_A;
        m->mt[i] = v;
    }
    m->pos = 0;
}

uint32_t mt19937_next_u32(Mt19937 *m) {
    if (m->pos >= MT_N) mt_regenerate(m);
    uint32_t y = m->mt[m->pos++];
    // tempering
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t mt19937_next_u64(Mt19937 *m) {
    uint64_t hi = mt19937_next_u32(m);
    return (hi << 32) | mt19937_next_u32(m);
}

uint64_t mt19937_random_interval(Mt19937 *m, uint64_t max) {
    if (max == 0) return 0;
    // smallest all-ones mask covering max; draws above max are rejected
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t v;
    if (max <= 0xffffffffull) {
        do v = mt19937_next_u32(m) & mask; while (v > max);
    } else {
        do v = mt19937_next_u64(m) & mask; while (v > max);
    }
    return v;
}

void mt19937_permutation(uint32_t seed, int64_t *perm, int64_t n) {
    Mt19937 m;
    mt19937_seed(&m, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    // numpy's legacy 1-d shuffle: i from n-1 down to 1, swap with j in [0, i]
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)mt19937_random_interval(&m, (uint64_t)i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
