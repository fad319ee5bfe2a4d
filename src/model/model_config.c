// model_config.c: the model's hyper-parameters, derived from the parsed YAML configs (spec §1.2-1.4)
// and checked once, so the rest of the model code can trust them.
#include <stdarg.h>
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
        s->win = s->window > 0 ? s->window : s->max_length;
        s->n_windows = (s->max_length + s->win - 1) / s->win;
        s->padded_length = s->n_windows * s->win;
        s->out_features = s->pool == POOL_NONE ? s->padded_length * s->d : s->n_windows * s->d;
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

static void copy_name(char *dst, const char *src, const char *what) {
    if (!src) eir_die_user("model: %s is missing", what);
    if (strlen(src) >= MODEL_NAME_LEN) eir_die_user("model: %s '%s' is longer than %d characters", what, src, MODEL_NAME_LEN - 1);
    strcpy(dst, src);
}

static bool str_is(const char *s, const char *want) { return s && strcmp(s, want) == 0; }

void model_config_from_experiment(ModelConfig *mc, const InputConfig *inputs, int n_inputs, const FusionConfig *fusion,
                                  const OutputConfig *outputs, int n_outputs, const int *n_classes) {
    memset(mc, 0, sizeof *mc);
    if (n_inputs > MODEL_MAX_INPUTS) eir_die_user("model: %d inputs, at most %d supported", n_inputs, MODEL_MAX_INPUTS);
    mc->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        const InputConfig *ic = &inputs[i];
        ModelInputSpec *s = &mc->inputs[i];
        if (ic->input_type && !str_is(ic->input_type, "bytes"))
            eir_die_user("model: input '%s': input_type '%s' is not supported (only 'bytes')", ic->input_name, ic->input_type);
        if (ic->model_type && !str_is(ic->model_type, "sequence-default"))
            eir_die_user("model: input '%s': model_type '%s' is not supported (only 'sequence-default')", ic->input_name,
                         ic->model_type);
        copy_name(s->name, ic->input_name, "input_name");
        s->vocab = MODEL_BYTE_VOCAB;
        s->max_length = ic->max_length;
        s->d = ic->embedding_dim;
        s->heads = ic->num_heads;
        s->layers = ic->num_layers;
        s->ffn = ic->dim_feedforward > 0 ? ic->dim_feedforward : 4 * ic->embedding_dim;
        s->window = ic->window_size;
        s->position = ic->position;
        s->pool = ic->pool;
        s->masked = ic->masked;
        s->position_dropout = (float)ic->position_dropout;
        s->dropout = (float)ic->dropout;
    }
    if (fusion->model_type && !str_is(fusion->model_type, "mlp-residual"))
        eir_die_user("model: fusion model_type '%s' is not supported (only 'mlp-residual')", fusion->model_type);
    mc->fusion_layers = fusion->layers;
    mc->fusion_dim = fusion->fc_task_dim;
    mc->fusion_rb_do = (float)fusion->rb_do;
    mc->fusion_sd_p = (float)fusion->stochastic_depth_p;
    int t = 0, cat_index = 0;
    for (int o = 0; o < n_outputs; o++) {
        const OutputConfig *oc = &outputs[o];
        if (oc->output_type && !str_is(oc->output_type, "tabular"))
            eir_die_user("model: output '%s': output_type '%s' is not supported", oc->output_name, oc->output_type);
        if (oc->model_type && !str_is(oc->model_type, "mlp_residual"))
            eir_die_user("model: output '%s': model_type '%s' is not supported (only 'mlp_residual')", oc->output_name,
                         oc->model_type);
        if (oc->final_layer_type && !str_is(oc->final_layer_type, "linear"))
            eir_die_user("model: output '%s': final_layer_type '%s' is not supported (only 'linear')", oc->output_name,
                         oc->final_layer_type);
        if (oc->cat_loss_name && !str_is(oc->cat_loss_name, "CrossEntropyLoss"))
            eir_die_user("model: output '%s': cat_loss_name '%s' is not supported (only 'CrossEntropyLoss')",
                         oc->output_name, oc->cat_loss_name);
        if (oc->con_loss_name && !str_is(oc->con_loss_name, "MSELoss"))
            eir_die_user("model: output '%s': con_loss_name '%s' is not supported (only 'MSELoss')", oc->output_name,
                         oc->con_loss_name);
        if (oc->uncertainty_weighted_mt_loss)
            eir_die_user("model: output '%s': uncertainty_weighted_mt_loss is not supported", oc->output_name);
        for (int pass = 0; pass < 2; pass++) {
            const StrList *cols = pass == 0 ? &oc->target_cat_columns : &oc->target_con_columns;
            for (int c = 0; c < cols->n; c++) {
                if (t >= MODEL_MAX_TARGETS) eir_die_user("model: more than %d targets", MODEL_MAX_TARGETS);
                ModelTargetSpec *s = &mc->targets[t++];
                copy_name(s->output_name, oc->output_name, "output_name");
                copy_name(s->column, cols->items[c], "target column");
                s->continuous = pass == 1;
                s->n_classes = pass == 0 ? n_classes[cat_index++] : 1;
                s->label_smoothing = (float)oc->cat_label_smoothing;
                s->layers = oc->layers;
                s->dim = oc->fc_task_dim;
                s->rb_do = (float)oc->rb_do;
                s->fc_do = (float)oc->fc_do;
                s->sd_p = (float)oc->stochastic_depth_p;
            }
        }
    }
    mc->n_targets = t;
    char err[256];
    if (model_config_finish(mc, err, sizeof err) != 0) eir_die_user("%s", err);
}
