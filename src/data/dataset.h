// dataset.h: from configs to token batches (spec §2, §10).
//
// data_setup() does what every rank does identically at start-up: read the labels, split the
// IDs, list each input's files and match them into the train and valid sample lists (each in ID
// order). A label ID is kept when it has a file for at least one input and at least one target
// value; an input without a file for a kept sample is imputed as L zero tokens, like a dropped
// modality. dataset_open() then takes this rank's share: its lanes of the train plan (batch.h)
// and its contiguous range of the valid samples, loading their bytes into one arena when
// memory_dataset is set, else reading each window with pread when its batch is built.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/batch.h"
#include "config/config.h"
#include "data/csv.h"
#include "data/files.h"
#include "data/labels.h"
#include "data/split.h"

typedef struct {
    int64_t n;
    int64_t *label_row;        // the sample's row in LabelSet (ID and target values)
    const FileEntry **files;   // [n x n_inputs]; NULL = no file for that input
} SampleList;

typedef struct {
    int64_t n_label_ids;
    int64_t *files_found;          // per input
    int64_t *files_without_label;  // per input: files whose ID is in no label CSV (ignored)
    int64_t no_files[2];           // per split (0 train, 1 valid): label IDs without any input file
    int64_t no_targets[2];         // per split: IDs with a file but every target missing
    int64_t *missing_input[2];     // per split, per input: kept samples imputed for that input
    int64_t filtered_out;          // sum of no_files and no_targets
} MatchStats;

typedef struct {
    uint64_t seed;
    LabelSet labels;
    Split split;
    int n_inputs;
    FileIndex *files;  // per input config
    SampleList train, valid;
    MatchStats stats;
} DataSetup;

// Labels, split, file listing and matching. -1 with a message on bad user input.
int data_setup(DataSetup *s, const ExperimentConfig *cfg, uint64_t seed, char *err, size_t errlen);
void data_setup_or_die(DataSetup *s, const ExperimentConfig *cfg, uint64_t seed);
// The matching step alone (labels, split, n_inputs and files filled in): builds train/valid/stats.
void data_setup_match(DataSetup *s);
void data_setup_free(DataSetup *s);
static inline const char *sample_id(const DataSetup *s, const SampleList *l, int64_t i) {
    return s->labels.ids[l->label_row[i]];
}

typedef struct {
    const DataSetup *setup;  // borrowed; must outlive the dataset
    int n_inputs, n_targets;
    int *max_length;               // per input
    SamplingStrategy *sampling;    // per input, for training
    double *modality_dropout;      // per input
    int batch, rank, n_ranks, local_rows;
    bool memory;
    bool valid_whole;              // evaluation_crops != 1: validation reads crops anywhere in a file
    LanePlan plan;
    int64_t valid_lo, valid_hi;    // this rank's valid samples
    // memory mode: every byte this rank needs in one allocation; per (sample, input) offset into
    // it and stored length (-1 = not held by this rank). A training input with uniform sampling
    // keeps the whole file (any window may be cropped), and so does a valid input when
    // valid_whole; otherwise only the first L bytes.
    uint8_t *arena;
    int64_t arena_size;
    int64_t *train_off, *train_len;  // [n_train x n_inputs]
    int64_t *valid_off, *valid_len;  // [(valid_hi - valid_lo) x n_inputs]
    int64_t *rows;                   // scratch: this rank's train indices of one batch
    uint8_t *window;                 // disk mode with valid_whole: one crop's bytes
    char err[EIR_ERR_LEN];
} Dataset;

// A Dataset is used by one thread at a time (it keeps the current epoch's shuffled lanes and a
// scratch row list); a loader thread that prepares the next batch owns it alone.

// Takes rank's share of the setup. Checks batch_size % n_ranks == 0 and n_train >= batch_size;
// in memory mode reads the files. -1 with a message (also in ds->err) on failure.
int dataset_open(Dataset *ds, const DataSetup *setup, const ExperimentConfig *cfg, int rank, int n_ranks,
                 char *err, size_t errlen);
void dataset_open_or_die(Dataset *ds, const DataSetup *setup, const ExperimentConfig *cfg, int rank, int n_ranks);
static inline int64_t dataset_iters_per_epoch(const Dataset *ds) { return ds->plan.iters_per_epoch; }
// Rows this rank fills per train batch: batch_size / n_ranks.
static inline int dataset_local_rows(const Dataset *ds) { return ds->local_rows; }
static inline int64_t dataset_valid_count(const Dataset *ds) { return ds->valid_hi - ds->valid_lo; }

// Fills this rank's rows of global batch iter (0 <= iter < iters_per_epoch) of epoch:
// tokens[k] = int32 [local_rows x max_length[k]] for input k; targets = float
// [local_rows x n_targets] (class code or -1; standardised value or NaN); sample_idx (may be NULL)
// = each row's index into setup->train. global_step keys the crop and modality-dropout streams.
// Returns 0, or -1 with a message naming the file in dataset_error(ds).
int dataset_train_batch(Dataset *ds, int64_t epoch, int64_t iter, int64_t global_step,
                        int32_t **tokens, float *targets, int64_t *sample_idx);
// Fills n rows with this rank's valid samples first .. first+n-1 (0-based within its range),
// tokenised from the start. sample_idx (may be NULL) = index into setup->valid. 0 or -1.
int dataset_valid_batch(Dataset *ds, int64_t first, int n, int32_t **tokens, float *targets, int64_t *sample_idx);
// Validation by crops (infer/crops.h; valid_whole only): bytes of input k of this rank's valid
// sample `first` (-1: it has no file for k), and tokens of the n <= L bytes from start into
// out[0..L) (n == -1: absent, L zero tokens). 0 or -1 with a message in dataset_error(ds).
int64_t dataset_valid_length(const Dataset *ds, int64_t first, int k);
int dataset_valid_crop(Dataset *ds, int64_t first, int k, int64_t start, int64_t n, int32_t *out);
static inline const char *dataset_error(const Dataset *ds) { return ds->err; }
void dataset_close(Dataset *ds);

// Reads exactly n bytes at offset of path into buf (open, pread loop, close). -1 with a message
// naming the file when it cannot be opened or read or is shorter than expected.
int read_file_window(const char *path, int64_t offset, int64_t n, uint8_t *buf, char *err, size_t errlen);
