// batch.c: lane plan, validation shards and byte tokenisation (see batch.h).
#include "data/batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"

void bytes_tokenize(const uint8_t *bytes, size_t n, int L, int32_t *out) {
    size_t m = n < (size_t)L ? n : (size_t)L;
    for (size_t i = 0; i < m; i++) out[i] = bytes[i];
    for (size_t i = m; i < (size_t)L; i++) out[i] = EIR_TOKEN_PAD;
}

int64_t crop_start(uint64_t seed, int input_index, int64_t step, int64_t sample, int64_t len, int L) {
    if (len <= L) return 0;
    RngStream r;
    rng_stream_init(&r, seed, rng_purpose(RNG_CROP, (uint32_t)input_index), (uint64_t)step, (uint64_t)sample);
    return (int64_t)rng_next_below(&r, (uint64_t)(len - L) + 1);
}

bool modality_dropped(uint64_t seed, int input_index, int64_t step, int64_t sample, double rate) {
    if (rate <= 0.0) return false;
    RngStream r;
    rng_stream_init(&r, seed, rng_purpose(RNG_MODALITY, (uint32_t)input_index), (uint64_t)step, (uint64_t)sample);
    return rng_next_double(&r) < rate;
}

// Fisher-Yates driven by one stream; the stream is named by the caller, so it is reproducible.
static void shuffle_i64(int64_t *a, int64_t n, RngStream *r) {
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)rng_next_below(r, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}


int lane_plan_init(LanePlan *p, int64_t n_train, int batch, int rank, int n_ranks, uint64_t seed, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    if (batch < 1) return err_fail(err, errlen, "batch_size must be at least 1 (got %d)", batch);
    if (n_ranks < 1 || rank < 0 || rank >= n_ranks) return err_fail(err, errlen, "bad rank %d of %d", rank, n_ranks);
    if (batch % n_ranks != 0)
        return err_fail(err, errlen, "batch_size %d (the global batch) must be divisible by the number of ranks %d; "
                    "try %d or %d", batch, n_ranks, batch / n_ranks * n_ranks > 0 ? batch / n_ranks * n_ranks : n_ranks,
                    (batch / n_ranks + 1) * n_ranks);
    if (n_train < batch)
        return err_fail(err, errlen, "the train set has %lld samples, fewer than batch_size %d: lower batch_size or add data",
                    (long long)n_train, batch);
    p->n_train = n_train;
    p->batch = batch;
    p->rank = rank;
    p->n_ranks = n_ranks;
    p->lane_lo = (int)((int64_t)rank * batch / n_ranks);
    p->lane_hi = (int)((int64_t)(rank + 1) * batch / n_ranks);
    p->iters_per_epoch = n_train / batch;
    p->seed = seed;
    p->epoch_cached = -1;

    // One permutation of all train samples (every rank computes the same one), then keep only
    // this rank's lanes: lane l = permuted positions l, l+B, l+2B, ...
    int64_t *perm = malloc_check((size_t)n_train * sizeof(int64_t));
    for (int64_t i = 0; i < n_train; i++) perm[i] = i;
    RngStream r;
    rng_stream_init(&r, seed, rng_purpose(RNG_SHUFFLE, EIR_SHUFFLE_LANES), 0, 0);
    shuffle_i64(perm, n_train, &r);
    int nl = p->lane_hi - p->lane_lo;
    p->lane_off = malloc_check((size_t)(nl + 1) * sizeof(int64_t));
    p->lane_off[0] = 0;
    for (int j = 0; j < nl; j++) {
        int64_t l = p->lane_lo + j;
        p->lane_off[j + 1] = p->lane_off[j] + (n_train - l + batch - 1) / batch;
    }
    int64_t nm = p->lane_off[nl];
    p->members = malloc_check((size_t)(nm ? nm : 1) * sizeof(int64_t));
    p->shuffled = malloc_check((size_t)(nm ? nm : 1) * sizeof(int64_t));
    for (int j = 0; j < nl; j++) {
        int64_t l = p->lane_lo + j, o = p->lane_off[j];
        for (int64_t k = l; k < n_train; k += batch) p->members[o++] = perm[k];
    }
    free(perm);
    return 0;
}

static void lane_plan_prepare_epoch(LanePlan *p, int64_t epoch) {
    if (p->epoch_cached == epoch) return;
    int nl = p->lane_hi - p->lane_lo;
    memcpy(p->shuffled, p->members, (size_t)p->lane_off[nl] * sizeof(int64_t));
    for (int j = 0; j < nl; j++) {
        RngStream r;
        rng_stream_init(&r, p->seed, rng_purpose(RNG_SHUFFLE, EIR_SHUFFLE_EPOCH), (uint64_t)epoch, (uint64_t)(p->lane_lo + j));
        shuffle_i64(p->shuffled + p->lane_off[j], p->lane_off[j + 1] - p->lane_off[j], &r);
    }
    p->epoch_cached = epoch;
}

int64_t lane_plan_sample(LanePlan *p, int64_t epoch, int64_t iter, int pos) {
    if (pos < p->lane_lo || pos >= p->lane_hi || iter < 0 || iter >= p->iters_per_epoch)
        eir_die("lane_plan_sample: position %d / iteration %lld outside this rank's lanes [%d, %d) x [0, %lld)",
                pos, (long long)iter, p->lane_lo, p->lane_hi, (long long)p->iters_per_epoch);
    lane_plan_prepare_epoch(p, epoch);
    return p->shuffled[p->lane_off[pos - p->lane_lo] + iter];
}

void lane_plan_batch(LanePlan *p, int64_t epoch, int64_t iter, int64_t *out) {
    for (int pos = p->lane_lo; pos < p->lane_hi; pos++) out[pos - p->lane_lo] = lane_plan_sample(p, epoch, iter, pos);
}

void lane_plan_free(LanePlan *p) {
    free(p->lane_off);
    free(p->members);
    free(p->shuffled);
    memset(p, 0, sizeof *p);
}

void valid_shard(int64_t n_valid, int rank, int n_ranks, int64_t *lo, int64_t *hi) {
    *lo = n_valid * rank / n_ranks;
    *hi = n_valid * (rank + 1) / n_ranks;
}
