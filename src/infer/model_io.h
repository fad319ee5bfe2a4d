// model_io.h: the model file, <run>/saved_models/<name>_checkpoint_<iter>_perf-average=<x>.safetensors
// (spec §5, §10). Tensors = EIR's state-dict keys with PyTorch shapes (parameters and buffers),
// so safetensors.torch.load_file + load_state_dict works in PyTorch. The metadata carries all
// that prediction and serving need, so the file alone is enough to serve:
//   eir_dist_format      "model"          format_version  "1"
//   model_config         JSON of ModelConfig (inputs, fusion, targets)
//   targets              JSON [{output, column, kind, classes | mean+scale}]
//   effective_config     JSON {global, inputs, outputs, fusion} YAML texts of the run's configs
//   iteration, perf_average, eir_dist_version
// and a SHA-256 of the data that loading verifies.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct {
    char *output_name, *column;
    bool continuous;
    int n_classes;
    char **classes;        // categorical: class names in code order
    double mean, scale;    // continuous: value = standardised * scale + mean
} TargetInfo;

typedef struct {
    int n_targets;
    TargetInfo *targets;
    char *effective_config_json;  // may be NULL
    long iteration;
    double perf_average;
    char *checksum;               // SHA-256 hex of the data section (filled by load)
} ModelMeta;

// Writes the model file atomically. Returns 0 or -1 with a message in err.
int model_io_save(const char *path, const Model *m, const ModelMeta *meta, char *err, size_t errlen);
// Reads and verifies a model file, builds the model (parameters loaded, no activations yet) and
// its metadata. Returns 0 or -1 with a message naming the file and the problem.
int model_io_load(const char *path, Model *m, ModelMeta *meta, char *err, size_t errlen);
void model_meta_free(ModelMeta *meta);

// JSON of a ModelConfig and back (used by the model file and the training state).
char *model_config_to_json(const ModelConfig *mc);
int model_config_from_json(ModelConfig *mc, const char *json, char *err, size_t errlen);
