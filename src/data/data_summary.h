// data_summary.h: the dry-run report of what the data set-up found (labels, files, matching,
// split sizes, class balance, bytes, truncation, iterations), as one aligned table.
#pragma once
#include <stdio.h>

#include "config/config.h"
#include "data/dataset.h"

// Prints the summary of a finished data_setup(). n_ranks > 0 adds the per-rank batch split.
void data_summary_print(FILE *f, const DataSetup *s, const ExperimentConfig *cfg, int n_ranks);
