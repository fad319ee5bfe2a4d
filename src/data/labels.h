// labels.h: target labels from the output configs' CSV files (spec §2.1).
// The ID universe is the union of the ID columns of every output CSV, sorted byte-wise (what
// Python's sorted() gives for str). Categorical targets are read as strings and encoded as
// LabelEncoder does: classes = sorted unique non-missing values, code = index. Continuous
// targets are parsed as float and standardised with the train split's mean and population std
// (StandardScaler; a constant column keeps scale 1). Missing: categorical -1, continuous NaN.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "data/split.h"

typedef struct {
    char *column;       // CSV column name
    char *source;       // the CSV it comes from (for messages)
    int output_index;   // which output config it belongs to
    bool categorical;
    int n_classes;      // categorical: classes in code order
    char **classes;
    double mean, var, scale;  // continuous, after labels_fit (before: 0, 1, 1)
    int64_t n_present;  // non-missing values in the whole CSV
} LabelTarget;

typedef struct {
    int64_t n_ids;
    char **ids;          // the ID universe, sorted, unique (pointers into id_text)
    char *id_text;
    int n_outputs;
    int n_targets;       // over all outputs: per output, cat columns then con columns, config order
    LabelTarget *targets;
    int *output_first_target;  // [n_outputs + 1]: targets of output k are [first[k], first[k+1])
    float *values;       // [n_ids x n_targets]: class code or -1; value (standardised after labels_fit) or NaN
    bool fitted;
} LabelSet;

// Reads every output's CSV. Returns 0, or -1 with a message naming the file and line or column:
// unreadable/malformed CSV, no data rows, no ID column, missing target column (lists the columns
// present), empty or duplicate ID (both lines), unparsable continuous value, all-missing column.
int labels_load(LabelSet *ls, const OutputConfig *outs, int n_outs, char *err, size_t errlen);
// After the split: checks that no target column is all-missing in the train or the valid split,
// then fits the continuous scalers on train and standardises every value. -1 with a message.
int labels_fit(LabelSet *ls, const Split *split, char *err, size_t errlen);
// Both of the above plus the split, dying with exit code 2 on bad input.
void labels_load_or_die(LabelSet *ls, const OutputConfig *outs, int n_outs);
void labels_fit_or_die(LabelSet *ls, const Split *split);
// Index of id in the universe or -1.
int64_t labels_find(const LabelSet *ls, const char *id);
// True if ID row i has at least one non-missing target (samples without any are dropped).
bool labels_row_has_target(const LabelSet *ls, int64_t i);
// Missing value test for target t: categorical -1, continuous NaN.
static inline bool label_missing(const LabelTarget *t, float v) { return t->categorical ? v < 0.0f : v != v; }
void labels_free(LabelSet *ls);
