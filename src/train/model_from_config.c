// model_from_config.c: the model's own ModelConfig from the parsed experiment config (spec §1):
// the one place that knows both, so model code never sees the YAML's structs.
#include "train/model_from_config.h"

#include <stdbool.h>
#include <string.h>

#include "common/util.h"
#include "data/batch.h"  // EIR_BYTE_VOCAB

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
        s->vocab = EIR_BYTE_VOCAB;
        s->max_length = ic->max_length;
        s->d = ic->embedding_dim;
        s->heads = ic->num_heads;
        s->layers = ic->num_layers;
        s->ffn = ic->dim_feedforward > 0 ? ic->dim_feedforward : 4 * ic->embedding_dim;
        s->window = ic->window_size;
        s->position = ic->position == INPUT_POS_EMBED ? POS_EMBED : POS_ENCODE;
        s->pool = ic->pool == INPUT_POOL_AVG ? POOL_AVG : ic->pool == INPUT_POOL_MAX ? POOL_MAX : POOL_NONE;
        s->masked = ic->masked;
        s->position_dropout = (float)ic->position_dropout;
        s->dropout = (float)ic->dropout;
        s->global_layers = ic->global_layers;
        s->global_heads = ic->global_heads;
        s->global_d = ic->global_embedding_dim > 0 ? ic->global_embedding_dim : ic->embedding_dim;
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
