// rng.c: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void rng_stream_init(RngStream *r, uint64_t seed, uint32_t purpose, uint64_t step, uint64_t sample) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = purpose;
    // step and sample are folded to 32 bits each; both stay far below 2^32 in practice, and the
    // high halves are mixed in so that larger values still give distinct streams.
    r->ctr[2] = (uint32_t)step ^ (uint32_t)(step >> 32) * 0x85EBCA6Bu;
    r->ctr[3] = (uint32_t)sample ^ (uint32_t)(sample >> 32) * 0xC2B2AE35u;
    r->pos = 4;
}

uint32_t rng_next_u32(RngStream *r) {
    if (r->pos == 4) {
        philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t rng_next_u64(RngStream *r) {
    uint64_t hi = rng_next_u32(r);
    return (hi << 32) | rng_next_u32(r);
}

float rng_next_uniform(RngStream *r) { return (float)(rng_next_u32(r) >> 8) * (1.0f / 16777216.0f); }

double rng_next_double(RngStream *r) { return (double)(rng_next_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

uint64_t rng_next_below(RngStream *r, uint64_t n) {
    // Lemire-style rejection on the low bits: reject the partial top bucket.
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do {
        x = rng_next_u64(r);
    } while (x >= limit);
    return x % n;
}

double rng_next_normal(RngStream *r) {
    double u1 = rng_next_double(r);
    double u2 = rng_next_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double rng_next_gamma(RngStream *r, double shape) {
    if (shape < 1.0) {
        // boost: Gamma(a) = Gamma(a+1) * U^(1/a)
        double u = rng_next_double(r);
        if (u < 1e-300) u = 1e-300;
        return rng_next_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = rng_next_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = rng_next_double(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u > 1e-300 ? u : 1e-300) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double rng_next_beta(RngStream *r, double a, double b) {
    double x = rng_next_gamma(r, a);
    double y = rng_next_gamma(r, b);
    return x / (x + y);
}
