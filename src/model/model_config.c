// model_config.c: the model's hyper-parameters (its own ModelConfig, filled from the YAML configs
// by src/train/model_from_config.c or from a model file by src/infer/model_io.c), checked once,
// so the rest of the model code can trust them.
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "model/model.h"
#include "model/model_internal.h"


// PyTorch's ModuleDict refuses keys containing '.', and our state-dict keys rely on it too.
static bool valid_name(const char *s) { return s[0] != '\0' && strchr(s, '.') == NULL; }

int model_config_finish(ModelConfig *mc, char *err, size_t errlen) {
    if (mc->n_inputs < 1 || mc->n_inputs > MODEL_MAX_INPUTS)
        return err_fail(err, errlen, "model: %d inputs (supported: 1..%d)", mc->n_inputs, MODEL_MAX_INPUTS);
    mc->fusion_in = 0;
    for (int i = 0; i < mc->n_inputs; i++) {
        ModelInputSpec *s = &mc->inputs[i];
        if (!valid_name(s->name)) return err_fail(err, errlen, "model: input name '%s' is empty or contains '.'", s->name);
        for (int j = 0; j < i; j++)
            if (strcmp(mc->inputs[j].name, s->name) == 0) return err_fail(err, errlen, "model: duplicate input name '%s'", s->name);
        if (s->vocab < 1 || s->max_length < 1 || s->d < 1 || s->ffn < 1)
            return err_fail(err, errlen, "model: input '%s': vocab, max_length, embedding_dim and dim_feedforward must be >= 1",
                        s->name);
        if (s->heads < 1 || s->d % s->heads != 0)
            return err_fail(err, errlen, "model: input '%s': embedding_dim %d is not divisible by num_heads %d", s->name, s->d,
                        s->heads);
        int dh = s->d / s->heads;
        if (dh % 2 != 0 || dh > 64)
            return err_fail(err, errlen, "model: input '%s': head dimension %d must be even and <= 64 (RoPE pairs)", s->name,
                        dh);
        if (s->layers < 1 || s->layers > MODEL_SITE_MAX_LAYERS)
            return err_fail(err, errlen, "model: input '%s': num_layers %d outside 1..%d", s->name, s->layers,
                        MODEL_SITE_MAX_LAYERS);
        if (s->window < 0) return err_fail(err, errlen, "model: input '%s': window_size %d < 0", s->name, s->window);
        if (s->position_dropout < 0 || s->position_dropout > 1 || s->dropout < 0 || s->dropout > 1)
            return err_fail(err, errlen, "model: input '%s': dropout outside [0, 1]", s->name);
        if (s->global_layers < 0 || s->global_layers > MODEL_SITE_MAX_LAYERS)
            return err_fail(err, errlen, "model: input '%s': global_layers %d outside 0..%d", s->name, s->global_layers,
                            MODEL_SITE_MAX_LAYERS);
        if (s->global_layers > 0) {
            if (s->window <= 0)
                return err_fail(err, errlen,
                                "model: input '%s': global_layers %d needs window_size > 0 (the global stage runs "
                                "across the windows)", s->name, s->global_layers);
            if (s->global_d < 1 || s->global_heads < 1 || s->global_d % s->global_heads != 0)
                return err_fail(err, errlen,
                                "model: input '%s': global_embedding_dim %d is not divisible by global_heads %d",
                                s->name, s->global_d, s->global_heads);
            if (s->global_d / s->global_heads > 64)
                return err_fail(err, errlen, "model: input '%s': global head dimension %d > 64 (not supported)", s->name,
                                s->global_d / s->global_heads);
            if (s->global_d > INT_MAX / 8)
                return err_fail(err, errlen, "model: input '%s': global_embedding_dim %d too large", s->name, s->global_d);
            s->global_ffn = 4 * s->global_d;
        } else {
            s->global_heads = s->global_d = s->global_ffn = 0;  // off: nothing of it is kept or compared
        }
        s->win = s->window > 0 ? s->window : s->max_length;
        // sizes in 64 bits first: the derived counts are int and must stay so
        int64_t n_windows = ((int64_t)s->max_length + s->win - 1) / s->win, padded = n_windows * s->win;
        int64_t out_features = s->pool == POOL_NONE ? padded * s->d : n_windows * s->d;
        if (padded > INT_MAX || out_features > INT_MAX || mc->fusion_in + out_features > INT_MAX)
            return err_fail(err, errlen,
                            "model: input '%s': max_length %d padded to windows of %d gives %lld positions and %lld "
                            "features for the fusion (embedding_dim %d, pool %s): more than the %d a model can index",
                            s->name, s->max_length, s->win, (long long)padded, (long long)out_features, s->d,
                            s->pool == POOL_NONE ? "none" : s->pool == POOL_AVG ? "avg" : "max", INT_MAX);
        s->n_windows = (int)n_windows;
        s->padded_length = (int)padded;
        s->out_features = (int)out_features;
        mc->fusion_in += s->out_features;
    }
    if (mc->fusion_layers < 1 || mc->fusion_layers > MODEL_SITE_MAX_BLOCKS || mc->fusion_dim < 1)
        return err_fail(err, errlen, "model: fusion layers %d (1..%d) / fc_task_dim %d invalid", mc->fusion_layers,
                    MODEL_SITE_MAX_BLOCKS, mc->fusion_dim);
    if (mc->fusion_rb_do < 0 || mc->fusion_rb_do > 1 || mc->fusion_sd_p < 0 || mc->fusion_sd_p > 1)
        return err_fail(err, errlen, "model: fusion rb_do / stochastic_depth_p outside [0, 1]");
    if (mc->n_targets < 1 || mc->n_targets > MODEL_MAX_TARGETS)
        return err_fail(err, errlen, "model: %d targets (supported: 1..%d)", mc->n_targets, MODEL_MAX_TARGETS);
    for (int t = 0; t < mc->n_targets; t++) {
        ModelTargetSpec *s = &mc->targets[t];
        if (!valid_name(s->output_name) || !valid_name(s->column))
            return err_fail(err, errlen, "model: output '%s' column '%s': names must be non-empty without '.'", s->output_name,
                        s->column);
        for (int j = 0; j < t; j++)
            if (strcmp(mc->targets[j].output_name, s->output_name) == 0 && strcmp(mc->targets[j].column, s->column) == 0)
                return err_fail(err, errlen, "model: duplicate target %s.%s", s->output_name, s->column);
        if (s->continuous) s->n_classes = 1;
        if (s->n_classes < 1) return err_fail(err, errlen, "model: target '%s' has %d classes", s->column, s->n_classes);
        if (s->layers < 1 || s->layers > MODEL_SITE_MAX_HEAD_BLOCKS || s->dim < 1)
            return err_fail(err, errlen, "model: output '%s': layers %d (1..%d) / fc_task_dim %d invalid", s->output_name,
                        s->layers, MODEL_SITE_MAX_HEAD_BLOCKS, s->dim);
        if (s->rb_do < 0 || s->rb_do > 1 || s->fc_do < 0 || s->fc_do > 1 || s->sd_p < 0 || s->sd_p > 1 ||
            s->label_smoothing < 0 || s->label_smoothing > 1)
            return err_fail(err, errlen, "model: output '%s': a probability is outside [0, 1]", s->output_name);
    }
    return 0;
}
