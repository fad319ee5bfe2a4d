// inference.h: prediction from a model file, shared by eir-predict and eir-serve: raw bytes per
// input -> "from_start" tokens (spec §2.2) -> eval-mode forward -> per-target outputs.
// Categorical outputs are softmax probabilities computed in float32 (spec §6; K = 1 -> sigmoid);
// continuous outputs are inverse-standardised values.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "infer/model_io.h"

typedef struct {
    Model model;
    ModelMeta meta;
    char *path;
    int max_batch;
    int32_t **tokens;  // [n_inputs][max_batch x L]
    void *gpu;         // ModelCuda (model_cuda.h) when the forward pass runs on a GPU, else NULL
    float **logits;    // GPU: [n_targets][max_batch x K] host copies of the last run's logits
} Predictor;

// Loads and verifies the model file; activations for batches of up to max_batch rows.
int predictor_open(Predictor *p, const char *model_path, int max_batch, char *err, size_t errlen);
// The same, with the forward pass on CUDA device cuda_device (-1: the CPU). A model file is the
// same for both; GPU logits equal the CPU's to fp32 rounding (not bit for bit: cuBLAS sums in
// its own order). Fails (-1, err) when the build has no CUDA backend or the device is absent.
int predictor_open_device(Predictor *p, const char *model_path, int max_batch, int cuda_device, char *err,
                          size_t errlen);
void predictor_close(Predictor *p);
// Runs n <= max_batch samples. bytes[i * n_inputs + k] / lens[...] = sample i's bytes of input k
// (NULL/0 = absent: L zero tokens, as a dropped modality). Results are read with
// predictor_logits / predictor_outputs until the next call.
void predictor_run(Predictor *p, const uint8_t *const *bytes, const size_t *lens, int n);
const float *predictor_logits(Predictor *p, int target);
// Output values of target t for row i: K probabilities (categorical) or 1 value (continuous).
void predictor_outputs(Predictor *p, int target, int row, float *out);
// Index of input called name, or -1.
int predictor_input_index(const Predictor *p, const char *name);
