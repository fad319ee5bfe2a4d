// batch.h: the pure parts of batching, no files involved: which train sample fills which row of
// which global batch ("lanes"), which valid samples a rank evaluates, and bytes -> tokens.
//
// Lanes (spec §10: batch_size is the global batch, results independent of the rank count):
// the train samples (sorted by ID, index t) are permuted once (Philox, RNG_SHUFFLE sub 0,
// step 0); the sample at permuted position k joins lane k % B. Position p of every global batch
// comes from lane p. In epoch e each lane is shuffled on its own (RNG_SHUFFLE sub 1, step e,
// sample = lane) and iteration i takes element i of every lane; iterations per epoch =
// floor(N / B) (drop_last), so a lane holding one extra sample skips its last element, a
// different one each epoch. Rank r of R owns lanes [r*B/R, (r+1)*B/R) and never needs the
// files of any other lane.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Byte vocabulary (spec §2.2): byte b is token b, then the five specials.
#define EIR_BYTE_VOCAB 261
#define EIR_TOKEN_BOS 256
#define EIR_TOKEN_UNK 257
#define EIR_TOKEN_MASK 258
#define EIR_TOKEN_PAD 259
#define EIR_TOKEN_EOS 260

// Random-stream sub-purposes under RNG_SHUFFLE (rng.h): the one-off lane assignment and the
// per-epoch lane shuffles must never share a stream.
#define EIR_SHUFFLE_LANES 0
#define EIR_SHUFFLE_EPOCH 1

// "from_start" tokenisation used by validation, prediction and serving: the first min(n, L)
// bytes, right-padded with EIR_TOKEN_PAD to L tokens.
void bytes_tokenize(const uint8_t *bytes, size_t n, int L, int32_t *out);
// Uniform crop start in [0, len - L] (eir-dist may pick the last offset, spec §10), from
// RngStream(seed, RNG_CROP sub input_index, step, sample); 0 when len <= L.
int64_t crop_start(uint64_t seed, int input_index, int64_t step, int64_t sample, int64_t len, int L);
// Modality dropout coin: true if the input is replaced by L zero tokens at this step.
bool modality_dropped(uint64_t seed, int input_index, int64_t step, int64_t sample, double rate);

typedef struct {
    int64_t n_train;          // train samples, indexed 0..n_train-1 in ID order
    int batch;                // B, the global batch
    int rank, n_ranks;
    int lane_lo, lane_hi;     // this rank's lanes = its rows' positions in the global batch
    int64_t iters_per_epoch;  // floor(n_train / B)
    uint64_t seed;
    int64_t *lane_off;        // [lane_hi - lane_lo + 1]: lane lane_lo+j is members[lane_off[j] .. lane_off[j+1])
    int64_t *members;         // this rank's lanes' train indices, in lane order
    int64_t epoch_cached;     // epoch 'shuffled' holds (-1 = none)
    int64_t *shuffled;        // members with every lane shuffled for epoch_cached
} LanePlan;

// Builds rank's share of the plan. -1 with a message if B < 1, B % n_ranks != 0, or n_train < B.
int lane_plan_init(LanePlan *p, int64_t n_train, int batch, int rank, int n_ranks, uint64_t seed, char *err, size_t errlen);
// Train index at global-batch position pos (lane_lo <= pos < lane_hi) of iteration iter of epoch.
int64_t lane_plan_sample(LanePlan *p, int64_t epoch, int64_t iter, int pos);
// This rank's B/R rows of that global batch: out[j] = sample at position lane_lo + j.
void lane_plan_batch(LanePlan *p, int64_t epoch, int64_t iter, int64_t *out);
// Every train index this rank will ever use (its lanes' members), and how many.
static inline const int64_t *lane_plan_local(const LanePlan *p, int64_t *n) {
    *n = p->lane_off[p->lane_hi - p->lane_lo];
    return p->members;
}
void lane_plan_free(LanePlan *p);

// Validation shard of rank r: valid samples [lo, hi) in ID order, contiguous, sizes differing by
// at most one, together covering [0, n_valid) in rank order.
void valid_shard(int64_t n_valid, int rank, int n_ranks, int64_t *lo, int64_t *hi);
