// rng.h: counter-based random numbers (Philox4x32-10) keyed by (seed, purpose, step, sample).
// Every random decision of a run (crops, dropout masks, stochastic-depth coins, mixup, shuffles,
// initialisation) draws from a stream named by what it is for and which global step and global
// sample it concerns, never by rank or thread, so results do not depend on how work is split
// (spec §10) and a resumed run replays exactly.
#pragma once
#include <stdint.h>

// What a stream is for; combined with a layer/tensor number via rng_purpose().
enum {
    RNG_INIT = 1,         // parameter initialisation (sample = tensor index)
    RNG_SHUFFLE = 2,      // epoch shuffle (step = epoch, sample = 0)
    RNG_CROP = 3,         // uniform crop offset (sample = global sample index)
    RNG_DROPOUT = 4,      // dropout masks (sample = global sample index)
    RNG_STOCH_DEPTH = 5,  // batch-mode stochastic depth coin (sample = 0)
    RNG_MIXUP = 6,        // mixup lambda and pairing (sample = rank-local batch slice id)
    RNG_MODALITY = 7,     // modality dropout (sample = global sample index)
    RNG_NOISE = 8,        // gradient noise (sample = parameter chunk)
    RNG_TEST = 99,
};
static inline uint32_t rng_purpose(uint32_t kind, uint32_t sub) { return (kind << 20) ^ sub; }

typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];  // ctr[0] counts blocks; ctr[1..3] = purpose, step, sample
    uint32_t buf[4];
    int pos;          // next unused word in buf (4 = empty)
} RngStream;

// One Philox4x32-10 block.
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
void rng_stream_init(RngStream *r, uint64_t seed, uint32_t purpose, uint64_t step, uint64_t sample);
uint32_t rng_next_u32(RngStream *r);
uint64_t rng_next_u64(RngStream *r);
// Uniform float in [0, 1) with 24 random bits (exactly representable).
float rng_next_uniform(RngStream *r);
// Uniform double in [0, 1) with 53 random bits.
double rng_next_double(RngStream *r);
// Uniform integer in [0, n) without modulo bias; n > 0.
uint64_t rng_next_below(RngStream *r, uint64_t n);
// Standard normal (Box-Muller on two doubles).
double rng_next_normal(RngStream *r);
// Gamma(shape, 1) (Marsaglia-Tsang) and Beta(a, b) for mixup.
double rng_next_gamma(RngStream *r, double shape);
double rng_next_beta(RngStream *r, double a, double b);
