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
#include "config/config.h"
#include "config/config_schema.h"
#include "config/yaml_tree.h"

typedef struct ConfigEmit {
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

// The keys whose writing is more than their type (hooks named in config_schema.c's tables).
void config_write_valid_size(Emit *e, const ConfigKey *k, const void *base) {
    const BasicExperimentConfig *be = &((const GlobalConfig *)base)->basic_experiment;
    if (be->valid_size_is_count) kv_int(e, k->key, (long long)be->valid_size);
    else kv_double(e, k->key, be->valid_size);
}

// "auto" stays "auto", so that the round trip keeps warmup_auto
void config_write_warmup(Emit *e, const ConfigKey *k, const void *base) {
    const LRScheduleConfig *lr = &((const GlobalConfig *)base)->lr_schedule;
    if (lr->warmup_auto) kv_str(e, k->key, "auto");
    else kv_int(e, k->key, lr->warmup_steps);
}

void config_write_pool(Emit *e, const ConfigKey *k, const void *base) {
    int pool = *CK_CFIELD(int, base, k);  // InputPool: none = 0, then choices[pool - 1]
    if (pool == 0) kv_null(e, k->key);
    else kv_str(e, k->key, k->choices[pool - 1]);
}

void config_write_global_key(Emit *e, const ConfigKey *k, const void *base) {
    if (((const InputConfig *)base)->global_layers == 0) return;  // EIR's model: EIR's keys only
    kv_int(e, k->key, *CK_CFIELD(int, base, k));
}

// Only when set: a run that does not use it has EIR's configs, byte for byte.
void config_write_evaluation_crops(Emit *e, const ConfigKey *k, const void *base) {
    int v = *CK_CFIELD(int, base, k);
    if (v == (int)k->def_int) return;
    if (v == 0) kv_str(e, k->key, "all");
    else kv_int(e, k->key, v);
}

static void write_key(Emit *e, const ConfigKey *k, const void *base, bool stripped) {
    if (k->write) {
        k->write(e, k, base);
        return;
    }
    switch (k->kind) {
    case CK_INT: {
        int v = *CK_CFIELD(int, base, k);
        if (k->write_null && v == k->null_int) kv_null(e, k->key);
        else kv_int(e, k->key, v);
        break;
    }
    case CK_NUM: kv_double(e, k->key, *CK_CFIELD(double, base, k)); break;
    case CK_BOOL: kv_bool(e, k->key, *CK_CFIELD(bool, base, k)); break;
    case CK_FALSE_ONLY: kv_bool(e, k->key, k->off == CK_NO_FIELD ? false : *CK_CFIELD(bool, base, k)); break;
    case CK_STR: case CK_PATH: case CK_CHOICE:
        kv_str(e, k->key, stripped && k->stripped_null ? NULL : *CK_CFIELD(char *, base, k));
        break;
    case CK_ENUM: kv_str(e, k->key, k->choices[*CK_CFIELD(int, base, k)]); break;
    case CK_METRICS: case CK_STRLIST: kv_list(e, k->key, CK_CFIELD(StrList, base, k)); break;
    case CK_LAYERS: kv_layers(e, *CK_CFIELD(int, base, k)); break;
    case CK_NULL_ONLY: case CK_KEYS_ONLY: kv_null(e, k->key); break;
    case CK_FIXED:
        if (k->def_str) kv_str(e, k->key, *CK_CFIELD(char *, base, k));
        else kv_int(e, k->key, *CK_CFIELD(int, base, k));
        break;
    case CK_CUSTOM: eir_die("config schema: %s.%s has no writer", k->section, k->key);
    }
}

// Components of a dotted section shared by a and b ("model_config.model_init_config" and
// "model_config": 1).
static int common_depth(const char *a, const char *b) {
    int depth = 0;
    while (*a && *b) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        if (la != lb || strncmp(a, b, la) != 0) break;
        depth++;
        a += la + (a[la] == '.');
        b += lb + (b[lb] == '.');
    }
    return depth;
}

static int section_depth(const char *s) {
    if (!*s) return 0;
    int d = 1;
    for (; *s; s++) d += *s == '.';
    return d;
}

// One config as a mapping, by its table: sections opened and closed as the rows move between
// them (the rows of one section are contiguous, sub-sections before or after their parent's keys).
static void write_by_schema(Emit *e, const ConfigSchema *sc, const void *base, bool stripped) {
    map_begin(e);
    const char *open = "";  // the section whose mapping is open ("" = the file's)
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        int keep = common_depth(open, k->section);
        for (int d = section_depth(open); d > keep; d--) map_end(e);
        // open the components of k->section below the kept ones
        const char *p = k->section;
        for (int d = 0; *p; d++) {
            size_t cl = strcspn(p, ".");
            if (d >= keep) {
                char comp[64];
                snprintf(comp, sizeof comp, "%.*s", (int)cl, p);
                section(e, comp);
            }
            p += cl + (p[cl] == '.');
        }
        open = k->section;
        write_key(e, k, base, stripped);
    }
    for (int d = section_depth(open); d > 0; d--) map_end(e);
    map_end(e);
}

char *config_effective_yaml(const ExperimentConfig *cfg, const char *which, bool stripped) {
    Emit e;
    if (strcmp(which, "global_config") == 0) {
        emit_begin(&e);
        write_by_schema(&e, &CONFIG_GLOBAL_SCHEMA, &cfg->global, stripped);
    } else if (strcmp(which, "input_configs") == 0) {
        emit_begin(&e);
        seq_begin(&e);
        for (int i = 0; i < cfg->n_inputs; i++) write_by_schema(&e, &CONFIG_INPUT_SCHEMA, &cfg->inputs[i], stripped);
        seq_end(&e);
    } else if (strcmp(which, "fusion_config") == 0) {
        emit_begin(&e);
        write_by_schema(&e, &CONFIG_FUSION_SCHEMA, &cfg->fusion, stripped);
    } else if (strcmp(which, "output_configs") == 0) {
        emit_begin(&e);
        seq_begin(&e);
        for (int i = 0; i < cfg->n_outputs; i++) write_by_schema(&e, &CONFIG_OUTPUT_SCHEMA, &cfg->outputs[i], stripped);
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
