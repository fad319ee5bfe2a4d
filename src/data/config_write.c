// config_write.c: the effective (fully defaulted) configs as YAML, in EIR's run-folder layout
// (spec §5): configs/{global_config,input_configs,fusion_config,output_configs}.yaml, and the
// "stripped" copies without paths that serve/predict read. Every key EIR has is written, in EIR's
// dataclass order, so the files read back into an identical config (config_equal) and look like
// EIR's own. Resolved values are written as numbers (dim_feedforward, embedding_dim), except
// warmup_steps "auto", which stays "auto" so that the round trip keeps warmup_auto.
// Emission goes through libyaml's emitter, which chooses quoting; strings that would read back as
// another type (e.g. "true", "123", "") are forced into quotes.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/util.h"
#include "data/config.h"
#include "data/yaml_tree.h"

typedef struct {
    yaml_emitter_t em;
    StrBuf out;
} Emit;

static int emit_write(void *data, unsigned char *buf, size_t size) {
    sb_append((StrBuf *)data, (const char *)buf, size);
    return 1;
}

static void emit(Emit *e, yaml_event_t *ev) {
    if (!yaml_emitter_emit(&e->em, ev))
        eir_die("YAML emitter failed: %s", e->em.problem ? e->em.problem : "unknown error");
}

static void emit_begin(Emit *e) {
    memset(e, 0, sizeof *e);
    if (!yaml_emitter_initialize(&e->em)) eir_die("cannot initialise the YAML emitter");
    yaml_emitter_set_output(&e->em, emit_write, &e->out);
    yaml_emitter_set_unicode(&e->em, 1);
    yaml_emitter_set_indent(&e->em, 2);
    yaml_emitter_set_width(&e->em, 1 << 16);  // never fold long paths
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    emit(e, &ev);
}

// Ends the document and returns the text (malloc'd, owned by the caller).
static char *emit_end(Emit *e) {
    yaml_event_t ev;
    yaml_document_end_event_initialize(&ev, 1);
    emit(e, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit(e, &ev);
    yaml_emitter_delete(&e->em);
    if (!e->out.data) sb_append(&e->out, "", 0);
    return e->out.data;
}

static void emit_scalar(Emit *e, const char *text, bool plain_ok) {
    yaml_event_t ev;
    // plain_implicit = 0 with quoted_implicit = 1 makes libyaml quote the value
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), plain_ok ? 1 : 0, 1,
                                 YAML_ANY_SCALAR_STYLE);
    emit(e, &ev);
}

static void emit_str(Emit *e, const char *s) {
    if (!s) emit_scalar(e, "null", true);
    else emit_scalar(e, s, !ytree_plain_text_is_not_string(s));
}

static void map_begin(Emit *e) {
    yaml_event_t ev;
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    emit(e, &ev);
}

static void map_end(Emit *e) {
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    emit(e, &ev);
}

static void seq_begin(Emit *e) {
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
    emit(e, &ev);
}

static void seq_end(Emit *e) {
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    emit(e, &ev);
}

static void key(Emit *e, const char *k) { emit_str(e, k); }

static void kv_str(Emit *e, const char *k, const char *v) { key(e, k); emit_str(e, v); }
static void kv_null(Emit *e, const char *k) { key(e, k); emit_scalar(e, "null", true); }
static void kv_bool(Emit *e, const char *k, bool v) { key(e, k); emit_scalar(e, v ? "true" : "false", true); }

static void kv_int(Emit *e, const char *k, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    key(e, k);
    emit_scalar(e, buf, true);
}

// 0 stands for YAML null in these keys (None in EIR).
static void kv_int_or_null(Emit *e, const char *k, int v) {
    if (v == 0) kv_null(e, k);
    else kv_int(e, k, v);
}

// Shortest text that reads back as the same double, always spelled as a float ("2.0", "1.0e-05")
// so that YAML readers, PyYAML included, see a float.
static void format_double(double v, char *buf, size_t len) {
    if (isnan(v)) { snprintf(buf, len, ".nan"); return; }
    if (isinf(v)) { snprintf(buf, len, v > 0 ? ".inf" : "-.inf"); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    char *e = strchr(buf, 'e');
    if (!strchr(buf, '.')) {
        if (e) {
            char tail[32];
            snprintf(tail, sizeof tail, "%s", e);
            snprintf(e, len - (size_t)(e - buf), ".0%s", tail);
        } else {
            strncat(buf, ".0", len - strlen(buf) - 1);
        }
    }
}

static void kv_double(Emit *e, const char *k, double v) {
    char buf[64];
    format_double(v, buf, sizeof buf);
    key(e, k);
    emit_scalar(e, buf, true);
}

static void kv_list(Emit *e, const char *k, const StrList *l) {
    key(e, k);
    yaml_event_t ev;
    // short name lists read best inline: [mcc, acc]
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
    emit(e, &ev);
    for (int i = 0; i < l->n; i++) emit_str(e, l->items[i]);
    seq_end(e);
}

static void kv_layers(Emit *e, int layers) {
    key(e, "layers");
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
    emit(e, &ev);
    char buf[32];
    snprintf(buf, sizeof buf, "%d", layers);
    emit_scalar(e, buf, true);
    seq_end(e);
}

static void section(Emit *e, const char *name) {
    key(e, name);
    map_begin(e);
}

// ---------------------------------------------------------------- the four files

static const char *const k_lr_schedules[] = {"plateau", "cosine", "cycle"};
static const char *const k_strategies[] = {"uniform", "from_start"};
static const char *const k_positions[] = {"encode", "embed"};

static void write_global(Emit *e, const GlobalConfig *g, bool stripped) {
    map_begin(e);
    const BasicExperimentConfig *be = &g->basic_experiment;
    section(e, "basic_experiment");
    kv_str(e, "output_folder", stripped ? NULL : be->output_folder);
    kv_int(e, "n_epochs", be->n_epochs);
    kv_int(e, "batch_size", be->batch_size);
    if (be->valid_size_is_count) kv_int(e, "valid_size", (long long)be->valid_size);
    else kv_double(e, "valid_size", be->valid_size);
    kv_str(e, "manual_valid_ids_file", stripped ? NULL : be->manual_valid_ids_file);
    kv_int(e, "dataloader_workers", be->dataloader_workers);
    kv_str(e, "device", be->device);
    kv_bool(e, "memory_dataset", be->memory_dataset);
    map_end(e);

    section(e, "model");
    kv_bool(e, "compile_model", g->model.compile_model);
    kv_int_or_null(e, "n_iter_before_swa", g->model.n_iter_before_swa);
    kv_str(e, "pretrained_checkpoint", g->model.pretrained_checkpoint);
    kv_bool(e, "strict_pretrained_loading", g->model.strict_pretrained_loading);
    map_end(e);

    const OptimizationConfig *o = &g->optimization;
    section(e, "optimization");
    kv_str(e, "optimizer", o->optimizer);
    kv_double(e, "lr", o->lr);
    kv_double(e, "lr_lb", o->lr_lb);
    kv_double(e, "b1", o->b1);
    kv_double(e, "b2", o->b2);
    kv_double(e, "wd", o->wd);
    kv_double(e, "gradient_clipping", o->gradient_clipping);
    kv_int(e, "gradient_accumulation_steps", o->gradient_accumulation_steps);
    kv_double(e, "gradient_noise", o->gradient_noise);
    map_end(e);

    const LRScheduleConfig *lr = &g->lr_schedule;
    section(e, "lr_schedule");
    kv_str(e, "lr_schedule", k_lr_schedules[lr->lr_schedule]);
    kv_int(e, "lr_plateau_patience", lr->lr_plateau_patience);
    kv_double(e, "lr_plateau_factor", lr->lr_plateau_factor);
    if (lr->warmup_auto) kv_str(e, "warmup_steps", "auto");
    else kv_int(e, "warmup_steps", lr->warmup_steps);
    kv_bool(e, "plot_lr_schedule", lr->plot_lr_schedule);
    map_end(e);

    const TrainingControlConfig *tc = &g->training_control;
    section(e, "training_control");
    kv_int(e, "early_stopping_patience", tc->early_stopping_patience);
    kv_int_or_null(e, "early_stopping_buffer", tc->early_stopping_buffer);
    kv_null(e, "weighted_sampling_columns");
    kv_double(e, "mixing_alpha", tc->mixing_alpha);
    map_end(e);

    const EvaluationCheckpointConfig *ec = &g->evaluation_checkpoint;
    section(e, "evaluation_checkpoint");
    kv_int(e, "sample_interval", ec->sample_interval);
    kv_int(e, "saved_result_detail_level", ec->saved_result_detail_level);
    kv_int_or_null(e, "checkpoint_interval", ec->checkpoint_interval);
    kv_int(e, "n_saved_models", ec->n_saved_models);
    map_end(e);

    const AttributionAnalysisConfig *aa = &g->attribution_analysis;
    section(e, "attribution_analysis");
    kv_bool(e, "compute_attributions", aa->compute_attributions);
    kv_int_or_null(e, "max_attributions_per_class", aa->max_attributions_per_class);
    kv_int(e, "attributions_every_sample_factor", aa->attributions_every_sample_factor);
    kv_int(e, "attribution_background_samples", aa->attribution_background_samples);
    map_end(e);

    section(e, "metrics");
    kv_list(e, "cat_metrics", &g->metrics.cat_metrics);
    kv_list(e, "con_metrics", &g->metrics.con_metrics);
    kv_list(e, "cat_averaging_metrics", &g->metrics.cat_averaging_metrics);
    kv_list(e, "con_averaging_metrics", &g->metrics.con_averaging_metrics);
    map_end(e);

    const VisualizationLoggingConfig *vl = &g->visualization_logging;
    section(e, "visualization_logging");
    kv_int(e, "plot_skip_steps", vl->plot_skip_steps);
    kv_bool(e, "no_pbar", vl->no_pbar);
    kv_str(e, "log_level", vl->log_level);
    kv_bool(e, "save_model_diagram", vl->save_model_diagram);
    map_end(e);

    kv_null(e, "latent_sampling");

    section(e, "data_preparation");
    kv_int_or_null(e, "streaming_setup_samples", g->data_preparation.streaming_setup_samples);
    kv_int_or_null(e, "streaming_batch_size", g->data_preparation.streaming_batch_size);
    map_end(e);

    const AcceleratorConfig *ac = &g->accelerator;
    section(e, "accelerator");
    kv_str(e, "hardware", ac->hardware);
    kv_str(e, "precision", ac->precision);
    kv_str(e, "strategy", ac->strategy);
    kv_str(e, "devices", ac->devices);
    kv_int(e, "num_nodes", ac->num_nodes);
    map_end(e);
    map_end(e);
}

static void write_input(Emit *e, const InputConfig *in, bool stripped) {
    map_begin(e);
    section(e, "input_info");
    kv_str(e, "input_source", stripped ? NULL : in->input_source);
    kv_str(e, "input_name", in->input_name);
    kv_str(e, "input_type", in->input_type);
    map_end(e);

    section(e, "input_type_info");
    kv_int(e, "max_length", in->max_length);
    kv_str(e, "byte_encoding", in->byte_encoding);
    kv_str(e, "sampling_strategy_if_longer", k_strategies[in->sampling_strategy]);
    kv_str(e, "mixing_subtype", in->mixing_subtype);
    kv_double(e, "modality_dropout_rate", in->modality_dropout_rate);
    map_end(e);

    section(e, "model_config");
    section(e, "model_init_config");
    kv_int(e, "num_heads", in->num_heads);
    kv_int(e, "num_layers", in->num_layers);
    kv_int(e, "dim_feedforward", in->dim_feedforward);
    kv_double(e, "dropout", in->dropout);
    map_end(e);
    kv_str(e, "model_type", in->model_type);
    kv_int(e, "embedding_dim", in->embedding_dim);
    kv_str(e, "position", k_positions[in->position]);
    kv_double(e, "position_dropout", in->position_dropout);
    kv_int(e, "window_size", in->window_size);
    if (in->pool == POOL_AVG) kv_str(e, "pool", "avg");
    else if (in->pool == POOL_MAX) kv_str(e, "pool", "max");
    else kv_null(e, "pool");
    kv_bool(e, "masked", in->masked);
    kv_bool(e, "pretrained_model", false);
    kv_bool(e, "freeze_pretrained_model", in->freeze_pretrained_model);
    map_end(e);

    kv_null(e, "pretrained_config");
    kv_null(e, "interpretation_config");  // EIR drops it for bytes inputs too
    kv_null(e, "tensor_broker_config");
    map_end(e);
}

static void write_output(Emit *e, const OutputConfig *o, bool stripped) {
    map_begin(e);
    section(e, "output_info");
    kv_str(e, "output_source", stripped ? NULL : o->output_source);
    kv_str(e, "output_name", o->output_name);
    kv_str(e, "output_type", o->output_type);
    map_end(e);

    section(e, "output_type_info");
    kv_list(e, "target_cat_columns", &o->target_cat_columns);
    kv_list(e, "target_con_columns", &o->target_con_columns);
    kv_int_or_null(e, "label_parsing_chunk_size", o->label_parsing_chunk_size);
    kv_double(e, "cat_label_smoothing", o->cat_label_smoothing);
    kv_str(e, "cat_loss_name", o->cat_loss_name);
    kv_str(e, "con_loss_name", o->con_loss_name);
    kv_bool(e, "uncertainty_weighted_mt_loss", o->uncertainty_weighted_mt_loss);
    map_end(e);

    section(e, "model_config");
    section(e, "model_init_config");
    kv_layers(e, o->layers);
    kv_int(e, "fc_task_dim", o->fc_task_dim);
    kv_double(e, "rb_do", o->rb_do);
    kv_double(e, "fc_do", o->fc_do);
    kv_double(e, "stochastic_depth_p", o->stochastic_depth_p);
    kv_str(e, "final_layer_type", o->final_layer_type);
    map_end(e);
    kv_str(e, "model_type", o->model_type);
    map_end(e);

    kv_null(e, "sampling_config");
    kv_null(e, "tensor_broker_config");
    map_end(e);
}

static void write_fusion(Emit *e, const FusionConfig *f) {
    map_begin(e);
    kv_str(e, "model_type", f->model_type);
    section(e, "model_config");
    kv_layers(e, f->layers);
    kv_int(e, "fc_task_dim", f->fc_task_dim);
    kv_double(e, "rb_do", f->rb_do);
    kv_double(e, "fc_do", f->fc_do);
    kv_double(e, "stochastic_depth_p", f->stochastic_depth_p);
    map_end(e);
    kv_null(e, "tensor_broker_config");
    map_end(e);
}

char *config_effective_yaml(const ExperimentConfig *cfg, const char *which, bool stripped) {
    Emit e;
    if (strcmp(which, "global_config") == 0) {
        emit_begin(&e);
        write_global(&e, &cfg->global, stripped);
    } else if (strcmp(which, "input_configs") == 0) {
        emit_begin(&e);
        seq_begin(&e);
        for (int i = 0; i < cfg->n_inputs; i++) write_input(&e, &cfg->inputs[i], stripped);
        seq_end(&e);
    } else if (strcmp(which, "fusion_config") == 0) {
        emit_begin(&e);
        write_fusion(&e, &cfg->fusion);
    } else if (strcmp(which, "output_configs") == 0) {
        emit_begin(&e);
        seq_begin(&e);
        for (int i = 0; i < cfg->n_outputs; i++) write_output(&e, &cfg->outputs[i], stripped);
        seq_end(&e);
    } else {
        return NULL;
    }
    return emit_end(&e);
}

static void write_all(const ExperimentConfig *cfg, const char *dir, bool stripped) {
    static const char *const names[] = {"global_config", "input_configs", "fusion_config", "output_configs"};
    if (mkdir_p(dir) != 0) eir_die("cannot create folder %s: %s", dir, strerror(errno));
    for (int i = 0; i < 4; i++) {
        char *text = config_effective_yaml(cfg, names[i], stripped);
        char file[64];
        snprintf(file, sizeof file, "%s.yaml", names[i]);
        char *path = path_join(dir, file);
        if (write_file_atomic(path, text, strlen(text)) != 0) eir_die("cannot write %s: %s", path, strerror(errno));
        free(path);
        free(text);
    }
}

void config_write_effective(const ExperimentConfig *cfg, const char *dir) { write_all(cfg, dir, false); }

void config_write_stripped(const ExperimentConfig *cfg, const char *dir) { write_all(cfg, dir, true); }
