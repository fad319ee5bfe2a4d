// split.h: the train/valid split over the sorted label IDs, matching EIR (spec §2.1, §10):
// sklearn train_test_split(ids_sorted, test_size=valid_size, random_state=seed, shuffle=True),
// i.e. valid = ids[perm[:n_valid]] with perm = numpy RandomState(seed).permutation(N); or the IDs
// listed in manual_valid_ids_file. Both splits are returned in ID order.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/csv.h"  // EIR_ERR_LEN

#include "config/config.h"

typedef struct {
    int64_t n_train, n_valid;
    int64_t *train;  // indices into the sorted ID list, ascending (= sorted by ID)
    int64_t *valid;
} Split;

// The run's seed: env EIR_SEED (an integer in [0, 2^32), as numpy requires) else 0.
// Returns 0, or -1 with a message when EIR_SEED is not such an integer.
int split_seed_from_env(uint64_t *seed, char *err, size_t errlen);
// sklearn's test-set size: ceil(valid_size * n) for a fraction in (0, 1), or the count itself
// (1 <= count < n); the train part must not be empty. -1 with a message otherwise.
int split_valid_count(double valid_size, bool is_count, int64_t n, int64_t *n_valid, char *err, size_t errlen);
// Random split of n sorted IDs. -1 with a message on a bad valid_size.
int split_random(int64_t n, double valid_size, bool is_count, uint32_t seed, Split *out, char *err, size_t errlen);
// Manual split: path lists one ID per line (stripped, blank lines ignored); each must be one of
// ids[0..n) (sorted byte-wise). -1 with a message naming the file, line and ID otherwise.
int split_manual(char *const *ids, int64_t n, const char *path, Split *out, char *err, size_t errlen);
// What the pipeline calls: manual file if configured, else random; dies (exit 2) on bad input.
void split_make_or_die(char *const *ids, int64_t n, const BasicExperimentConfig *be, uint64_t seed, Split *out);
void split_free(Split *s);
