// model_io.c: model files as safetensors with EIR state-dict keys and self-describing metadata.
#include "infer/model_io.h"
#include "infer/memory_check.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/safetensors.h"
#include "common/util.h"

#define MODEL_FORMAT_VERSION "1"


static const char *pos_name(PositionKind p) { return p == POS_EMBED ? "embed" : "encode"; }
static const char *pool_name(PoolKind p) { return p == POOL_AVG ? "avg" : p == POOL_MAX ? "max" : "none"; }

char *model_config_to_json(const ModelConfig *mc) {
    json_t *root = json_object(), *inputs = json_array(), *targets = json_array();
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        json_t *in = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:b, s:f, s:f}",
            "name", s->name, "vocab", s->vocab, "max_length", s->max_length, "embedding_dim", s->d,
            "num_heads", s->heads, "num_layers", s->layers, "dim_feedforward", s->ffn, "window_size", s->window,
            "position", pos_name(s->position), "pool", pool_name(s->pool), "masked", s->masked,
            "position_dropout", (double)s->position_dropout, "dropout", (double)s->dropout);
        if (s->global_layers > 0) {  // beyond EIR; absent keys read back as 0 (an EIR model's file is unchanged)
            json_object_set_new(in, "global_layers", json_integer(s->global_layers));
            json_object_set_new(in, "global_heads", json_integer(s->global_heads));
            json_object_set_new(in, "global_embedding_dim", json_integer(s->global_d));
        }
        json_array_append_new(inputs, in);
    }
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        json_array_append_new(targets, json_pack("{s:s, s:s, s:b, s:i, s:f, s:i, s:i, s:f, s:f, s:f}",
            "output_name", s->output_name, "column", s->column, "continuous", s->continuous,
            "n_classes", s->n_classes, "label_smoothing", (double)s->label_smoothing, "layers", s->layers,
            "fc_task_dim", s->dim, "rb_do", (double)s->rb_do, "fc_do", (double)s->fc_do,
            "stochastic_depth_p", (double)s->sd_p));
    }
    json_object_set_new(root, "inputs", inputs);
    json_object_set_new(root, "fusion", json_pack("{s:i, s:i, s:f, s:f}", "layers", mc->fusion_layers,
        "fc_task_dim", mc->fusion_dim, "rb_do", (double)mc->fusion_rb_do, "stochastic_depth_p", (double)mc->fusion_sd_p));
    json_object_set_new(root, "targets", targets);
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) eir_die("out of memory serialising the model config");
    return s;
}

static int copy_name(char *dst, const char *src, const char *what, char *err, size_t errlen) {
    if (strlen(src) >= MODEL_NAME_LEN) return err_fail(err, errlen, "%s '%s' is too long", what, src);
    strcpy(dst, src);
    return 0;
}

int model_config_from_json(ModelConfig *mc, const char *json, char *err, size_t errlen) {
    memset(mc, 0, sizeof *mc);
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!root) return err_fail(err, errlen, "model_config is not valid JSON: %s (line %d)", je.text, je.line);
    json_t *inputs, *fusion, *targets;
    int rc = -1;
    if (json_unpack_ex(root, &je, 0, "{s:o, s:o, s:o}", "inputs", &inputs, "fusion", &fusion, "targets", &targets) != 0) {
        err_fail(err, errlen, "model_config: %s", je.text);
        goto done;
    }
    if (!json_is_array(inputs) || json_array_size(inputs) < 1 || json_array_size(inputs) > MODEL_MAX_INPUTS ||
        !json_is_array(targets) || json_array_size(targets) < 1 || json_array_size(targets) > MODEL_MAX_TARGETS) {
        err_fail(err, errlen, "model_config: inputs/targets must be non-empty arrays within the limits");
        goto done;
    }
    mc->n_inputs = (int)json_array_size(inputs);
    for (int i = 0; i < mc->n_inputs; i++) {
        ModelInputSpec *s = &mc->inputs[i];
        const char *name, *pos, *pool;
        int masked;
        double pd, d;
        if (json_unpack_ex(json_array_get(inputs, (size_t)i), &je, 0,
                           "{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:b, s:F, s:F, s?i, s?i, s?i}",
                           "name", &name, "vocab", &s->vocab, "max_length", &s->max_length, "embedding_dim", &s->d,
                           "num_heads", &s->heads, "num_layers", &s->layers, "dim_feedforward", &s->ffn,
                           "window_size", &s->window, "position", &pos, "pool", &pool, "masked", &masked,
                           "position_dropout", &pd, "dropout", &d, "global_layers", &s->global_layers,
                           "global_heads", &s->global_heads, "global_embedding_dim", &s->global_d) != 0) {
            err_fail(err, errlen, "model_config input %d: %s", i, je.text);
            goto done;
        }
        if (copy_name(s->name, name, "input name", err, errlen)) goto done;
        s->position = !strcmp(pos, "embed") ? POS_EMBED : POS_ENCODE;
        s->pool = !strcmp(pool, "avg") ? POOL_AVG : !strcmp(pool, "max") ? POOL_MAX : POOL_NONE;
        s->masked = masked;
        s->position_dropout = (float)pd;
        s->dropout = (float)d;
    }
    double rb, sd;
    if (json_unpack_ex(fusion, &je, 0, "{s:i, s:i, s:F, s:F}", "layers", &mc->fusion_layers,
                       "fc_task_dim", &mc->fusion_dim, "rb_do", &rb, "stochastic_depth_p", &sd) != 0) {
        err_fail(err, errlen, "model_config fusion: %s", je.text);
        goto done;
    }
    mc->fusion_rb_do = (float)rb;
    mc->fusion_sd_p = (float)sd;
    mc->n_targets = (int)json_array_size(targets);
    for (int t = 0; t < mc->n_targets; t++) {
        ModelTargetSpec *s = &mc->targets[t];
        const char *out, *col;
        int cont;
        double ls, trb, tfc, tsd;
        if (json_unpack_ex(json_array_get(targets, (size_t)t), &je, 0, "{s:s, s:s, s:b, s:i, s:F, s:i, s:i, s:F, s:F, s:F}",
                           "output_name", &out, "column", &col, "continuous", &cont, "n_classes", &s->n_classes,
                           "label_smoothing", &ls, "layers", &s->layers, "fc_task_dim", &s->dim, "rb_do", &trb,
                           "fc_do", &tfc, "stochastic_depth_p", &tsd) != 0) {
            err_fail(err, errlen, "model_config target %d: %s", t, je.text);
            goto done;
        }
        if (copy_name(s->output_name, out, "output name", err, errlen) || copy_name(s->column, col, "column", err, errlen))
            goto done;
        s->continuous = cont;
        s->label_smoothing = (float)ls;
        s->rb_do = (float)trb;
        s->fc_do = (float)tfc;
        s->sd_p = (float)tsd;
    }
    char cerr[512];
    if (model_config_finish(mc, cerr, sizeof cerr) != 0) {
        err_fail(err, errlen, "model_config: %s", cerr);
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static char *targets_to_json(const ModelMeta *meta) {
    json_t *arr = json_array();
    for (int t = 0; t < meta->n_targets; t++) {
        const TargetInfo *ti = &meta->targets[t];
        json_t *o = json_pack("{s:s, s:s, s:s}", "output", ti->output_name, "column", ti->column, "kind",
                              ti->continuous ? "continuous" : "categorical");
        if (ti->continuous) {
            json_object_set_new(o, "mean", json_real(ti->mean));
            json_object_set_new(o, "scale", json_real(ti->scale));
        } else {
            json_t *cl = json_array();
            for (int k = 0; k < ti->n_classes; k++) json_array_append_new(cl, json_string(ti->classes[k]));
            json_object_set_new(o, "classes", cl);
        }
        json_array_append_new(arr, o);
    }
    char *s = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(arr);
    return s;
}

static int targets_from_json(ModelMeta *meta, const char *json, char *err, size_t errlen) {
    json_error_t je;
    json_t *arr = json_loads(json, 0, &je);
    if (!arr || !json_is_array(arr)) {
        json_decref(arr);
        return err_fail(err, errlen, "metadata 'targets' is not a JSON array");
    }
    meta->n_targets = (int)json_array_size(arr);
    meta->targets = calloc_check((size_t)meta->n_targets, sizeof(TargetInfo));
    for (int t = 0; t < meta->n_targets; t++) {
        TargetInfo *ti = &meta->targets[t];
        json_t *o = json_array_get(arr, (size_t)t);
        const char *out, *col, *kind;
        if (json_unpack_ex(o, &je, 0, "{s:s, s:s, s:s}", "output", &out, "column", &col, "kind", &kind) != 0) {
            json_decref(arr);
            return err_fail(err, errlen, "metadata 'targets'[%d]: %s", t, je.text);
        }
        ti->output_name = strdup_check(out);
        ti->column = strdup_check(col);
        ti->continuous = !strcmp(kind, "continuous");
        if (ti->continuous) {
            if (json_unpack_ex(o, &je, 0, "{s:F, s:F}", "mean", &ti->mean, "scale", &ti->scale) != 0) {
                json_decref(arr);
                return err_fail(err, errlen, "metadata 'targets'[%d]: %s", t, je.text);
            }
            ti->n_classes = 1;
        } else {
            json_t *cl = json_object_get(o, "classes");
            if (!json_is_array(cl) || json_array_size(cl) < 1) {
                json_decref(arr);
                return err_fail(err, errlen, "metadata 'targets'[%d]: classes missing", t);
            }
            ti->n_classes = (int)json_array_size(cl);
            ti->classes = calloc_check((size_t)ti->n_classes, sizeof(char *));
            for (int k = 0; k < ti->n_classes; k++) {
                const char *c = json_string_value(json_array_get(cl, (size_t)k));
                ti->classes[k] = strdup_check(c ? c : "");
            }
        }
    }
    json_decref(arr);
    return 0;
}

int model_io_save(const char *path, const Model *m, const ModelMeta *meta, char *err, size_t errlen) {
    SafeTensorsWriter *w = safetensors_writer_new();
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *p = &m->params[i];
        safetensors_writer_add(w, p->name, ST_F32, p->ndim, p->shape, m->params_memory + p->offset);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        const BufferTensor *b = &m->buffers[i];
        safetensors_writer_add(w, b->name, ST_F32, b->ndim, b->shape, b->data);
    }
    char *mc = model_config_to_json(&m->config), *tj = targets_to_json(meta);
    char num[64];
    safetensors_writer_set_metadata(w, "eir_dist_format", "model");
    safetensors_writer_set_metadata(w, "format_version", MODEL_FORMAT_VERSION);
    safetensors_writer_set_metadata(w, "eir_dist_version", EIR_VERSION);
    safetensors_writer_set_metadata(w, "model_config", mc);
    safetensors_writer_set_metadata(w, "targets", tj);
    if (meta->effective_config_json) safetensors_writer_set_metadata(w, "effective_config", meta->effective_config_json);
    snprintf(num, sizeof num, "%ld", meta->iteration);
    safetensors_writer_set_metadata(w, "iteration", num);
    snprintf(num, sizeof num, "%.17g", meta->perf_average);
    safetensors_writer_set_metadata(w, "perf_average", num);
    int rc = safetensors_write(w, path, true, err, errlen);
    safetensors_writer_free(w);
    free(mc);
    free(tj);
    return rc;
}

int model_io_load(const char *path, Model *m, ModelMeta *meta, char *err, size_t errlen) {
    memset(meta, 0, sizeof *meta);
    SafeTensors *st = safetensors_open(path, ST_OPEN_REQUIRE_CHECKSUM, err, errlen);
    if (!st) return -1;
    int rc = -1;
    const char *fmt = safetensors_metadata(st, "eir_dist_format");
    const char *ver = safetensors_metadata(st, "format_version");
    const char *mcj = safetensors_metadata(st, "model_config");
    const char *tj = safetensors_metadata(st, "targets");
    char sub[1024];
    ModelConfig mc;
    if (!fmt || strcmp(fmt, "model") != 0) {
        err_fail(err, errlen, "'%s' is not an eir-dist model file (metadata eir_dist_format is %s%s%s)", path,
             fmt ? "'" : "", fmt ? fmt : "missing", fmt ? "'" : "");
        goto done;
    }
    if (!ver || strcmp(ver, MODEL_FORMAT_VERSION) != 0) {
        err_fail(err, errlen, "'%s': model format version %s is not supported (this eir-dist reads version %s)", path,
             ver ? ver : "(missing)", MODEL_FORMAT_VERSION);
        goto done;
    }
    if (!mcj || !tj) {
        err_fail(err, errlen, "'%s': metadata model_config or targets missing", path);
        goto done;
    }
    if (model_config_from_json(&mc, mcj, sub, sizeof sub) != 0 || targets_from_json(meta, tj, sub, sizeof sub) != 0) {
        err_fail(err, errlen, "'%s': %s", path, sub);
        goto done;
    }
    if (meta->n_targets != mc.n_targets) {
        err_fail(err, errlen, "'%s': metadata lists %d targets but the model has %d", path, meta->n_targets, mc.n_targets);
        goto done;
    }
    // before allocating: the file must hold the parameters its configuration claims, and the model
    // (with its buffers, such as a max_length x embedding_dim position table) must fit
    ModelFootprint fp;
    if (model_footprint(&mc, 0, &fp, sub, sizeof sub) != 0) {
        err_fail(err, errlen, "'%s': %s", path, sub);
        goto done;
    }
    if ((double)fp.parameters * 4 > (double)safetensors_data_size(st)) {
        err_fail(err, errlen, "'%s': its model_config needs %zu parameters (%.0f bytes) but the file holds %zu bytes of tensors",
                 path, fp.parameters, (double)fp.parameters * 4, safetensors_data_size(st));
        goto done;
    }
    MemoryNeed need = {.what = "loading the model", .rows = 0, .rows_key = "the batch size", .copies = 1, .param_copies = 1,
                       .procs_per_node = 1};
    if (memory_check(&mc, &need, sub, sizeof sub) != 0) {
        err_fail(err, errlen, "'%s': %s", path, sub);
        goto done;
    }
    model_build(m, &mc);
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *p = &m->params[i];
        if (safetensors_copy_shaped(st, p->name, ST_F32, m->params_memory + p->offset, p->ndim, p->shape, sub,
                                    sizeof sub) != 0) {
            err_fail(err, errlen, "%s", sub);
            model_free(m);
            goto done;
        }
    }
    const char *s;
    meta->iteration = (s = safetensors_metadata(st, "iteration")) ? atol(s) : 0;
    meta->perf_average = (s = safetensors_metadata(st, "perf_average")) ? strtod(s, NULL) : 0;
    if ((s = safetensors_metadata(st, "effective_config"))) meta->effective_config_json = strdup_check(s);
    if ((s = safetensors_metadata(st, ST_CHECKSUM_KEY))) meta->checksum = strdup_check(s);
    rc = 0;
done:
    if (rc != 0) model_meta_free(meta);
    safetensors_close(st);
    return rc;
}

void model_meta_free(ModelMeta *meta) {
    for (int t = 0; t < meta->n_targets; t++) {
        TargetInfo *ti = &meta->targets[t];
        free(ti->output_name);
        free(ti->column);
        for (int k = 0; k < ti->n_classes && ti->classes; k++) free(ti->classes[k]);
        free(ti->classes);
    }
    free(meta->targets);
    free(meta->effective_config_json);
    free(meta->checksum);
    memset(meta, 0, sizeof *meta);
}
