// test_rng.c: Philox4x32-10 against the Random123 known-answer vectors, and stream properties.
#include "common/rng.h"
#include "test_util.h"

int main(void) {
    // Known-answer tests from Random123's kat_vectors (philox4x32_10).
    uint32_t out[4];
    uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    philox4x32_10(c0, k0, out);
    CHECK_EQ_INT(out[0], 0x6627e8d5u); CHECK_EQ_INT(out[1], 0xe169c58du);
    CHECK_EQ_INT(out[2], 0xbc57ac4cu); CHECK_EQ_INT(out[3], 0x9b00dbd8u);
    uint32_t c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, k1[2] = {0xffffffffu, 0xffffffffu};
    philox4x32_10(c1, k1, out);
    CHECK_EQ_INT(out[0], 0x408f276du); CHECK_EQ_INT(out[1], 0x41c83b0eu);
    CHECK_EQ_INT(out[2], 0xa20bc7c6u); CHECK_EQ_INT(out[3], 0x6d5451fdu);
    uint32_t c2[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, k2[2] = {0xa4093822u, 0x299f31d0u};
    philox4x32_10(c2, k2, out);
    CHECK_EQ_INT(out[0], 0xd16cfe09u); CHECK_EQ_INT(out[1], 0x94fdccebu);
    CHECK_EQ_INT(out[2], 0x5001e420u); CHECK_EQ_INT(out[3], 0x24126ea1u);

    // Same key -> same stream; different sample -> different stream.
    RngStream a, b, c;
    rng_stream_init(&a, 7, RNG_TEST, 3, 11);
    rng_stream_init(&b, 7, RNG_TEST, 3, 11);
    rng_stream_init(&c, 7, RNG_TEST, 3, 12);
    int same = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = rng_next_u32(&a), y = rng_next_u32(&b), z = rng_next_u32(&c);
        CHECK_EQ_INT(x, y);
        same += (x == z);
    }
    CHECK(same < 3);
    // Moments of uniform, normal, below, beta.
    RngStream r;
    rng_stream_init(&r, 1, RNG_TEST, 0, 0);
    double su = 0, sn = 0, sn2 = 0, sb = 0;
    int counts[5] = {0};
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        float u = rng_next_uniform(&r);
        CHECK(u >= 0.0f && u < 1.0f);
        su += u;
        double n = rng_next_normal(&r);
        sn += n; sn2 += n * n;
        counts[rng_next_below(&r, 5)]++;
        if (i < 20000) sb += rng_next_beta(&r, 0.5, 0.5);
    }
    CHECK_CLOSE(su / N, 0.5, 0.01);
    CHECK(fabs(sn / N) < 0.01);
    CHECK_CLOSE(sn2 / N, 1.0, 0.02);
    for (int i = 0; i < 5; i++) CHECK(fabs(counts[i] / (double)N - 0.2) < 0.01);
    CHECK_CLOSE(sb / 20000, 0.5, 0.02);
    TEST_MAIN_END();
}
