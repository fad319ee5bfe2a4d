// mt19937.h: the Mersenne Twister exactly as numpy's legacy RandomState uses it, only so the
// train/valid split matches EIR's bit for bit (spec §2.1, §10). Everything else uses Philox (rng.h).
#pragma once
#include <stdint.h>

typedef struct {
    uint32_t mt[624];
    int pos;
} Mt19937;

// init_genrand(seed): what RandomState(seed) does for an integer seed in [0, 2^32).
void mt19937_seed(Mt19937 *m, uint32_t seed);
uint32_t mt19937_next_u32(Mt19937 *m);
// Two draws, first one in the high half (numpy's next_uint64 for MT19937).
uint64_t mt19937_next_u64(Mt19937 *m);
// Uniform integer in [0, max] by masked rejection (numpy random_interval).
uint64_t mt19937_random_interval(Mt19937 *m, uint64_t max);
// perm[0..n) = np.random.RandomState(seed).permutation(n).
void mt19937_permutation(uint32_t seed, int64_t *perm, int64_t n);
