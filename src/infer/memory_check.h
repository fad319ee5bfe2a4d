// memory_check.h: the up-front limit (issue 16): before a run, eir-predict or eir-serve allocates
// a model, it estimates what the model and its batches take and refuses, naming the keys that
// drive the size and the estimate, a model that cannot fit in this machine's available memory
// (shared by the processes on the node) or in --max-memory.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"

typedef struct {
    const char *what;       // "training", "eir-predict", "eir-serve"
    int rows;               // rows of one forward pass (0: no activations on the host)
    const char *rows_key;   // what sets rows: "basic_experiment.batch_size", "--batch-size", "--max-batch"
    int copies;             // model copies in this process (eir-serve: one per worker)
    int param_copies;       // copies of the parameters per model: 1, or 4 in training (+ gradients, AdamW m, v)
    int procs_per_node;     // processes sharing this machine's memory (ranks on the node)
} MemoryNeed;

// Returns 0 when the model fits (or nothing can be measured), else -1 with err: the estimate, the
// limit and where it comes from, and the configuration keys that drive the size.
int memory_check(const ModelConfig *mc, const MemoryNeed *need, char *err, size_t errlen);
