// config.c: YAML node trees -> the typed configs of config.h, with EIR's defaults (spec §1) and
// one precise message for the first problem found: "<file>:<line>:<col>: <dotted.key>: expected
// <what>, found <what>". Files are parsed by yaml_tree.c; command-line overrides are injected into
// the file whose stem they name before several files of one kind are merged (EIR's order).
//
// Policy (spec §10 and the loader issue):
// - Every key EIR knows is accepted. Keys for EIR features eir-dist does not implement are
//   accepted at their default and refused BY NAME otherwise, saying why.
// - Unknown keys are errors everywhere, with a "did you mean" - including unknown top-level
//   global sections, which EIR silently ignores (a typo there must not go unnoticed).
// - Deliberate differences from EIR: several global (or fusion) files are merged deeply, key by
//   key (EIR replaces a whole section when two files both have it); "3e-4" is a float (PyYAML
//   gives EIR the string "3e-4"); `model_config.masked: true` is accepted (it is a causal mask);
//   `accelerator`/`device` values that only select hardware are read as eir-dist's own.
#include "data/config.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "data/cli_args.h"
#include "data/yaml_tree.h"

// Number of token ids of the bytes vocabulary: 256 byte values + 5 specials (spec §2.2). Needed to
// resolve embedding_dim: null (spec §1.2).
#define BYTES_VOCAB_SIZE 261

// ---------------------------------------------------------------- StrList

void strlist_push(StrList *l, const char *s) {
    l->items = realloc_check(l->items, (size_t)(l->n + 1) * sizeof(char *));
    l->items[l->n++] = strdup_check(s);
}

void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

bool strlist_contains(const StrList *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0) return true;
    return false;
}

void config_sources_free(ConfigSources *src) {
    strlist_free(&src->global_files);
    strlist_free(&src->input_files);
    strlist_free(&src->output_files);
    strlist_free(&src->fusion_files);
    strlist_free(&src->overrides);
}

static void strlist_set(StrList *l, const char *const *items) {
    strlist_free(l);
    for (int i = 0; items[i]; i++) strlist_push(l, items[i]);
}

// ---------------------------------------------------------------- errors

typedef struct {
    char *err;
    size_t errlen;
    bool failed;  // sticky: the first problem is the one reported; later calls do nothing
    int flags;
} Loader;

static void fail_at(Loader *L, const YamlNode *at, const char *path, const char *fmt, ...) EIR_PRINTF(4, 5);
static void fail_at(Loader *L, const YamlNode *at, const char *path, const char *fmt, ...) {
    if (L->failed) return;
    L->failed = true;
    char mark[1024] = "";
    if (at) ytree_mark(at, mark, sizeof mark);
    int off = snprintf(L->err, L->errlen, "%s%s%s%s", mark, at ? ": " : "", path && *path ? path : "",
                       path && *path ? ": " : "");
    if (off < 0 || (size_t)off >= L->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + off, L->errlen - (size_t)off, fmt, ap);
    va_end(ap);
}

static void fail_expected(Loader *L, const YamlNode *v, const char *path, const char *expected) {
    char found[128];
    ytree_describe(v, found, sizeof found);
    const char *hint = "";
    // Command-line values follow Python's literal rules, where booleans are True/False.
    if (v && v->line == 0 && v->kind == YNODE_SCALAR && v->type == YSCALAR_STR &&
        (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0))
        hint = " (on the command line, write True or False)";
    fail_at(L, v, path, "expected %s, found %s%s", expected, found, hint);
}

// The closest known name when it is plausibly a typo of it, else NULL.
static const char *closest_name(const char *word, const char *const *known) {
    const char *best = NULL;
    int best_d = 1000;
    for (int i = 0; known[i]; i++) {
        int d = cli_edit_distance(word, known[i]);
        if (d < best_d) best_d = d, best = known[i];
    }
    int len = (int)strlen(word);
    if (best && (best_d <= 2 || best_d * 3 <= len)) return best;
    return NULL;
}

static void join_names(const char *const *names, char *buf, size_t len) {
    buf[0] = 0;
    size_t off = 0;
    for (int i = 0; names[i] && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
}

// ---------------------------------------------------------------- sections and typed getters

typedef struct {
    const YamlNode *map;  // the section's mapping; NULL when absent or null (all defaults)
    const YamlNode *at;   // where to point when a key is missing: the mapping, or its parent
    char path[192];       // dotted path of the section; "" at the top of a file
} Sec;

// Paths only label messages: an overlong one is cut, which is fine.
static void key_path(const Sec *s, const char *key, char *buf, size_t len) {
    size_t off = 0, room = len - 1;
    size_t pl = strlen(s->path), kl = strlen(key);
    if (pl) {
        off = pl < room ? pl : room;
        memcpy(buf, s->path, off);
        if (off < room) buf[off++] = '.';
    }
    size_t c = kl < room - off ? kl : room - off;
    memcpy(buf + off, key, c);
    buf[off + c] = 0;
}

static const YamlNode *sec_get(const Sec *s, const char *key) { return ytree_map_get(s->map, key); }

static bool is_null(const YamlNode *v) { return v && v->kind == YNODE_SCALAR && v->type == YSCALAR_NULL; }

static Sec sec_root(const YamlNode *map) {
    Sec s;
    memset(&s, 0, sizeof s);
    s.map = map;
    s.at = map;
    return s;
}

// The sub-section parent.key; a missing or null one gives all defaults.
static Sec sec_child(Loader *L, const Sec *parent, const char *key) {
    Sec s;
    memset(&s, 0, sizeof s);
    key_path(parent, key, s.path, sizeof s.path);
    s.at = parent->map ? parent->map : parent->at;
    const YamlNode *v = sec_get(parent, key);
    if (!v) return s;
    s.at = v;
    if (is_null(v)) return s;
    if (v->kind != YNODE_MAP) {
        fail_expected(L, v, s.path, "a mapping of settings");
        return s;
    }
    s.map = v;
    return s;
}

// Unknown keys are checked before values, so a typo is reported as a typo and not as the missing
// key it was meant to be.
static void check_keys(Loader *L, const Sec *s, const char *const *known, const char *what) {
    if (L->failed || !s->map) return;
    for (int i = 0; i < s->map->n; i++) {
        const YamlNode *k = s->map->keys[i];
        bool ok = false;
        for (int j = 0; known[j] && !ok; j++) ok = strcmp(k->text, known[j]) == 0;
        if (ok) continue;
        char path[256], names[1024];
        key_path(s, k->text, path, sizeof path);
        join_names(known, names, sizeof names);
        const char *near = closest_name(k->text, known);
        char dym[160] = "";
        if (near) snprintf(dym, sizeof dym, "; did you mean '%s'?", near);
        fail_at(L, k, path, "unknown key%s (known keys of %s: %s)", dym, what, names);
        return;
    }
}

static void range_text(char *buf, size_t len, const char *kind, double lo, bool lo_open, double hi,
                       bool hi_open) {
    bool has_lo = isfinite(lo), has_hi = isfinite(hi);
    if (has_lo && has_hi)
        snprintf(buf, len, "%s in %c%g, %g%c", kind, lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
    else if (has_lo)
        snprintf(buf, len, "%s %s %g", kind, lo_open ? ">" : ">=", lo);
    else if (has_hi)
        snprintf(buf, len, "%s %s %g", kind, hi_open ? "<" : "<=", hi);
    else
        snprintf(buf, len, "%s", kind);
}

// Integer key. nullable: YAML null gives null_value. Floats are refused even when integral (EIR
// would pass 64.0 on and fail later); booleans are not integers here.
static void read_int(Loader *L, const Sec *s, const char *key, int def, long long lo, long long hi,
                     bool nullable, int null_value, int *out) {
    *out = def;
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    if (!v) return;
    char path[256], expect[128];
    key_path(s, key, path, sizeof path);
    range_text(expect, sizeof expect, "an integer", (double)lo, false,
               hi >= INT_MAX ? INFINITY : (double)hi, false);
    if (nullable) strncat(expect, " or null", sizeof expect - strlen(expect) - 1);
    if (nullable && is_null(v)) {
        *out = null_value;
        return;
    }
    if (v->kind != YNODE_SCALAR || v->type != YSCALAR_INT || v->ival < lo || v->ival > hi) {
        fail_expected(L, v, path, expect);
        return;
    }
    *out = (int)v->ival;
}

static void get_int(Loader *L, const Sec *s, const char *key, int def, long long lo, long long hi, int *out) {
    read_int(L, s, key, def, lo, hi, false, 0, out);
}

static void get_int_or_null(Loader *L, const Sec *s, const char *key, int def, int null_value,
                            long long lo, long long hi, int *out) {
    read_int(L, s, key, def, lo, hi, true, null_value, out);
}

// Number key (ints are fine where floats are expected, as in Python). Bounds: lo/hi may be
// -INFINITY/INFINITY; *_open makes the bound exclusive. NaN and infinities are refused.
static void read_num(Loader *L, const Sec *s, const char *key, double def, double lo, bool lo_open,
                     double hi, bool hi_open, bool nullable, double null_value, double *out) {
    *out = def;
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    if (!v) return;
    char path[256], expect[128];
    key_path(s, key, path, sizeof path);
    range_text(expect, sizeof expect, "a number", lo, lo_open, hi, hi_open);
    if (nullable) strncat(expect, " or null", sizeof expect - strlen(expect) - 1);
    if (nullable && is_null(v)) {
        *out = null_value;
        return;
    }
    if (v->kind != YNODE_SCALAR || (v->type != YSCALAR_INT && v->type != YSCALAR_FLOAT)) {
        fail_expected(L, v, path, expect);
        return;
    }
    double x = v->fval;
    bool ok = isfinite(x);
    if (ok && isfinite(lo)) ok = lo_open ? x > lo : x >= lo;
    if (ok && isfinite(hi)) ok = hi_open ? x < hi : x <= hi;
    if (!ok) {
        fail_expected(L, v, path, expect);
        return;
    }
    *out = x;
}

static void get_num(Loader *L, const Sec *s, const char *key, double def, double lo, bool lo_open,
                    double hi, bool hi_open, double *out) {
    read_num(L, s, key, def, lo, lo_open, hi, hi_open, false, 0.0, out);
}

// A probability-like rate: [0, 1).
static void get_rate(Loader *L, const Sec *s, const char *key, double def, double *out) {
    get_num(L, s, key, def, 0.0, false, 1.0, true, out);
}

static void get_bool(Loader *L, const Sec *s, const char *key, bool def, bool *out) {
    *out = def;
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    if (!v) return;
    if (v->kind != YNODE_SCALAR || v->type != YSCALAR_BOOL) {
        char path[256];
        key_path(s, key, path, sizeof path);
        fail_expected(L, v, path, "true or false");
        return;
    }
    *out = v->bval;
}

// A key without a default: absent is an error saying what it is for.
static void require_key(Loader *L, const Sec *s, const char *key, const char *what) {
    if (L->failed || sec_get(s, key)) return;
    char path[256];
    key_path(s, key, path, sizeof path);
    fail_at(L, s->at, path, "required key is missing (expected %s)", what);
}

// String key: any non-null scalar is taken by its text (a folder named 2024 is fine).
// required: absent or null is an error. Otherwise absent gives def (strdup'd; def may be NULL)
// and null gives NULL only when null_ok.
static void get_str(Loader *L, const Sec *s, const char *key, const char *def, bool required,
                    bool null_ok, char **out) {
    free(*out);
    *out = def ? strdup_check(def) : NULL;
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    char path[256];
    key_path(s, key, path, sizeof path);
    if (!v) {
        if (required) require_key(L, s, key, "a string");
        return;
    }
    if (is_null(v)) {
        if (required || !null_ok) fail_expected(L, v, path, "a string");
        else {
            free(*out);
            *out = NULL;
        }
        return;
    }
    if (v->kind != YNODE_SCALAR) {
        fail_expected(L, v, path, "a string");
        return;
    }
    if (required && v->text[0] == 0) {
        fail_expected(L, v, path, "a non-empty string");
        return;
    }
    free(*out);
    *out = strdup_check(v->text);
}

// Allowed values of an enumerated key. eir_only: values EIR accepts that eir-dist does not
// implement; they are refused by name with why_not.
typedef struct {
    const char *const *accepted;
    const char *const *eir_only;
    const char *why_not;
} Choices;

static const char *const k_none[] = {NULL};
#define NO_NULL INT_MIN  // get_choice: YAML null is not allowed

// Returns the index in ch->accepted (def_index when absent); null gives null_index unless that is
// NO_NULL. Compares the scalar's text, so `precision: 32` matches "32".
static int get_choice(Loader *L, const Sec *s, const char *key, const Choices *ch, int def_index,
                      int null_index) {
    if (L->failed) return def_index;
    const YamlNode *v = sec_get(s, key);
    if (!v) return def_index;
    if (null_index != NO_NULL && is_null(v)) return null_index;
    char path[256], names[512], expect[640];
    key_path(s, key, path, sizeof path);
    names[0] = 0;
    size_t off = 0;
    for (int i = 0; ch->accepted[i]; i++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s'%s'", i ? ", " : "", ch->accepted[i]);
    snprintf(expect, sizeof expect, "%s%s", ch->accepted[1] ? "one of " : "", names);
    if (null_index != NO_NULL) strncat(expect, " or null", sizeof expect - strlen(expect) - 1);
    if (v->kind != YNODE_SCALAR || is_null(v)) {
        fail_expected(L, v, path, expect);
        return def_index;
    }
    for (int i = 0; ch->accepted[i]; i++)
        if (strcmp(v->text, ch->accepted[i]) == 0) return i;
    const char *const *eir_only = ch->eir_only ? ch->eir_only : k_none;
    for (int i = 0; eir_only[i]; i++) {
        if (strcmp(v->text, eir_only[i]) == 0) {
            fail_at(L, v, path, "'%s' is valid in EIR but not implemented by eir-dist (%s); use %s",
                    v->text, ch->why_not ? ch->why_not : "not implemented", expect);
            return def_index;
        }
    }
    // a case slip ("Avg", "AdamW") is worth naming
    const char *near = closest_name(v->text, ch->accepted);
    char dym[160] = "";
    if (near) snprintf(dym, sizeof dym, " (did you mean '%s'?)", near);
    else if (null_index != NO_NULL && (!strcmp(v->text, "None") || !strcmp(v->text, "none")))
        snprintf(dym, sizeof dym, " (YAML's null is written null or ~)");
    char found[128];
    ytree_describe(v, found, sizeof found);
    fail_at(L, v, path, "expected %s, found %s%s", expect, found, dym);
    return def_index;
}

// Same, storing the accepted text (malloc'd) in *out.
static void get_choice_str(Loader *L, const Sec *s, const char *key, const Choices *ch, int def_index,
                           char **out) {
    int i = get_choice(L, s, key, ch, def_index, NO_NULL);
    free(*out);
    *out = strdup_check(ch->accepted[i]);
}

// A key of an unimplemented EIR feature whose default is null (or an empty mapping): any other
// value is refused by name.
static void refuse_if_set(Loader *L, const Sec *s, const char *key, const char *why) {
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    if (!v || is_null(v) || (v->kind == YNODE_MAP && v->n == 0)) return;
    char path[256], found[128];
    key_path(s, key, path, sizeof path);
    ytree_describe(v, found, sizeof found);
    fail_at(L, v, path, "found %s, but eir-dist supports only null here (%s); remove the key or set it to null",
            found, why);
}

// A boolean key of an unimplemented EIR feature whose default is false.
static void refuse_if_true(Loader *L, const Sec *s, const char *key, const char *why, bool *out) {
    get_bool(L, s, key, false, out);
    if (L->failed || !*out) return;
    char path[256];
    key_path(s, key, path, sizeof path);
    fail_at(L, sec_get(s, key), path, "true is not supported by eir-dist (%s); set it to false or remove it", why);
}

// A list of strings. Each item must be a non-empty scalar; duplicates are refused when asked.
static void get_strlist(Loader *L, const Sec *s, const char *key, const char *const *def, bool no_dups,
                        StrList *out) {
    strlist_set(out, def);
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    if (!v) return;
    char path[256];
    key_path(s, key, path, sizeof path);
    if (v->kind != YNODE_SEQ) {
        fail_expected(L, v, path, "a list of names");
        return;
    }
    strlist_free(out);
    for (int i = 0; i < v->n; i++) {
        const YamlNode *it = v->items[i];
        if (it->kind != YNODE_SCALAR || is_null(it) || it->text[0] == 0) {
            char ipath[300];
            snprintf(ipath, sizeof ipath, "%s[%d]", path, i);
            fail_expected(L, it, ipath, "a non-empty name");
            return;
        }
        if (no_dups && strlist_contains(out, it->text)) {
            fail_at(L, it, path, "'%s' is listed twice", it->text);
            return;
        }
        strlist_push(out, it->text);
    }
}

// Metric names: each must be one eir-dist computes; EIR-only names are refused by name.
static void get_metric_list(Loader *L, const Sec *s, const char *key, const char *const *def,
                            const Choices *ch, StrList *out) {
    get_strlist(L, s, key, def, false, out);
    if (L->failed) return;
    const YamlNode *v = sec_get(s, key);
    for (int i = 0; v && i < v->n; i++) {
        const YamlNode *it = v->items[i];
        bool ok = false;
        for (int j = 0; ch->accepted[j] && !ok; j++) ok = strcmp(it->text, ch->accepted[j]) == 0;
        if (ok) continue;
        char path[300], names[256];
        key_path(s, key, path, sizeof path);
        join_names(ch->accepted, names, sizeof names);
        bool eir = false;
        for (int j = 0; ch->eir_only[j] && !eir; j++) eir = strcmp(it->text, ch->eir_only[j]) == 0;
        if (eir)
            fail_at(L, it, path, "metric '%s' is valid in EIR but not implemented by eir-dist; use any of: %s",
                    it->text, names);
        else
            fail_at(L, it, path, "unknown metric '%s'; expected any of: %s", it->text, names);
        return;
    }
}

// `layers: [2]` of EIR's residual MLPs: only layers[0] (the number of blocks) is used by EIR.
static void get_layers(Loader *L, const Sec *s, int *out) {
    *out = 2;
    if (L->failed) return;
    const YamlNode *v = sec_get(s, "layers");
    if (!v) return;
    char path[256];
    key_path(s, "layers", path, sizeof path);
    if (v->kind != YNODE_SEQ || v->n < 1) {
        fail_expected(L, v, path, "a list whose first item is the number of residual blocks, e.g. [2]");
        return;
    }
    for (int i = 0; i < v->n; i++) {
        const YamlNode *it = v->items[i];
        if (it->kind != YNODE_SCALAR || it->type != YSCALAR_INT || it->ival < 1 || it->ival > 1000) {
            char ipath[300];
            snprintf(ipath, sizeof ipath, "%s[%d]", path, i);
            fail_expected(L, it, ipath, "an integer in [1, 1000]");
            return;
        }
    }
    *out = (int)v->items[0]->ival;
}

static bool path_is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

// Path keys: required (unless CONFIG_NO_PATH_CHECKS) and must exist on disk.
// kind: 0 = file or folder, 1 = regular file.
static void get_path(Loader *L, const Sec *s, const char *key, bool required, int kind, const char *what,
                     char **out) {
    bool lax = L->flags & CONFIG_NO_PATH_CHECKS;
    if (required && !lax) require_key(L, s, key, what);
    get_str(L, s, key, NULL, required && !lax, true, out);
    if (L->failed || !*out || lax) return;
    char path[256];
    key_path(s, key, path, sizeof path);
    const YamlNode *v = sec_get(s, key);
    if (!path_exists(*out))
        fail_at(L, v, path, "'%s' does not exist (expected %s; relative paths are read from the "
                "current directory)", *out, what);
    else if (kind == 1 && !path_is_file(*out))
        fail_at(L, v, path, "'%s' is not a regular file (expected %s)", *out, what);
}

// ---------------------------------------------------------------- global config

static const char *const k_global_sections[] = {
    "basic_experiment", "model", "optimization", "lr_schedule", "training_control",
    "evaluation_checkpoint", "attribution_analysis", "metrics", "visualization_logging",
    "data_preparation", "accelerator", "latent_sampling", NULL};

static void load_basic_experiment(Loader *L, const Sec *root, BasicExperimentConfig *be) {
    static const char *const keys[] = {"output_folder", "n_epochs", "batch_size", "valid_size",
        "manual_valid_ids_file", "dataloader_workers", "device", "memory_dataset", NULL};
    Sec s = sec_child(L, root, "basic_experiment");
    check_keys(L, &s, keys, "basic_experiment");
    if (!(L->flags & CONFIG_NO_PATH_CHECKS))
        require_key(L, &s, "output_folder", "the run folder to create, e.g. runs/imdb_bytes");
    get_str(L, &s, "output_folder", NULL, !(L->flags & CONFIG_NO_PATH_CHECKS), true, &be->output_folder);
    get_int(L, &s, "n_epochs", 10, 1, INT_MAX, &be->n_epochs);
    get_int(L, &s, "batch_size", 64, 1, INT_MAX, &be->batch_size);

    // valid_size: float -> fraction of the IDs; int -> a count; float > 1.0 -> int() of it (EIR
    // modify_global_config). 1.0 as a float is refused, as sklearn's test_size refuses it.
    be->valid_size = 0.1;
    be->valid_size_is_count = false;
    const YamlNode *v = sec_get(&s, "valid_size");
    if (!L->failed && v) {
        const char *expect = "a fraction in (0, 1) or a count >= 1";
        if (v->kind != YNODE_SCALAR || (v->type != YSCALAR_INT && v->type != YSCALAR_FLOAT))
            fail_expected(L, v, "basic_experiment.valid_size", expect);
        else if (v->type == YSCALAR_INT) {
            if (v->ival < 1 || v->ival > INT_MAX) fail_expected(L, v, "basic_experiment.valid_size", expect);
            be->valid_size = (double)v->ival;
            be->valid_size_is_count = true;
        } else if (!(v->fval > 0.0) || v->fval == 1.0 || !isfinite(v->fval) || v->fval >= (double)INT_MAX) {
            fail_expected(L, v, "basic_experiment.valid_size", expect);
        } else if (v->fval > 1.0) {
            be->valid_size = floor(v->fval);
            be->valid_size_is_count = true;
        } else {
            be->valid_size = v->fval;
        }
    }
    get_path(L, &s, "manual_valid_ids_file", false, 1, "a text file with one validation ID per line",
             &be->manual_valid_ids_file);
    get_int(L, &s, "dataloader_workers", 0, 0, INT_MAX, &be->dataloader_workers);

    // device: deprecated in EIR (accelerator.hardware decides); read as cpu|cuda|auto, "cuda:N"
    // taken as cuda since eir-dist gives each MPI rank its own device.
    free(be->device);
    be->device = strdup_check("cpu");
    v = sec_get(&s, "device");
    if (!L->failed && v) {
        if (v->kind == YNODE_SCALAR && strncmp(v->text, "cuda:", 5) == 0 && v->text[5]) {
            free(be->device);
            be->device = strdup_check("cuda");
        } else {
            static const char *const acc[] = {"cpu", "cuda", "auto", NULL};
            static const char *const eir[] = {"mps", NULL};
            Choices ch = {acc, eir, "eir-dist has CPU and CUDA backends only"};
            get_choice_str(L, &s, "device", &ch, 0, &be->device);
        }
    }
    get_bool(L, &s, "memory_dataset", false, &be->memory_dataset);
}

static void load_global_model(Loader *L, const Sec *root, GlobalModelConfig *m) {
    static const char *const keys[] = {"compile_model", "n_iter_before_swa", "pretrained_checkpoint",
        "strict_pretrained_loading", NULL};
    Sec s = sec_child(L, root, "model");
    check_keys(L, &s, keys, "model");
    refuse_if_true(L, &s, "compile_model", "there is no torch.compile here; the kernels are already compiled C/CUDA",
                   &m->compile_model);
    refuse_if_set(L, &s, "n_iter_before_swa", "stochastic weight averaging is not implemented");
    m->n_iter_before_swa = 0;
    refuse_if_set(L, &s, "pretrained_checkpoint", "starting from a pretrained EIR checkpoint is not implemented; "
                  "use --resume RUN_FOLDER to continue an eir-dist run");
    free(m->pretrained_checkpoint);
    m->pretrained_checkpoint = NULL;
    get_bool(L, &s, "strict_pretrained_loading", true, &m->strict_pretrained_loading);
}

static void load_optimization(Loader *L, const Sec *root, OptimizationConfig *o) {
    static const char *const keys[] = {"optimizer", "lr", "lr_lb", "b1", "b2", "wd", "gradient_clipping",
        "gradient_accumulation_steps", "gradient_noise", NULL};
    static const char *const acc[] = {"adamw", NULL};
    static const char *const eir[] = {"sgdm", "adam", "adahessian", "adabelief", "adabeliefw", NULL};
    Choices opt = {acc, eir, "only AdamW is implemented"};
    Sec s = sec_child(L, root, "optimization");
    check_keys(L, &s, keys, "optimization");
    get_choice_str(L, &s, "optimizer", &opt, 0, &o->optimizer);
    get_num(L, &s, "lr", 3e-4, 0.0, false, INFINITY, false, &o->lr);
    get_num(L, &s, "lr_lb", 0.0, 0.0, false, INFINITY, false, &o->lr_lb);
    get_num(L, &s, "b1", 0.9, 0.0, false, 1.0, true, &o->b1);
    get_num(L, &s, "b2", 0.999, 0.0, false, 1.0, true, &o->b2);
    get_num(L, &s, "wd", 1e-4, 0.0, false, INFINITY, false, &o->wd);
    read_num(L, &s, "gradient_clipping", 1.0, 0.0, false, INFINITY, false, true, 0.0, &o->gradient_clipping);
    get_int_or_null(L, &s, "gradient_accumulation_steps", 1, 1, 1, INT_MAX, &o->gradient_accumulation_steps);
    get_num(L, &s, "gradient_noise", 0.0, 0.0, false, INFINITY, false, &o->gradient_noise);
}

static void load_lr_schedule(Loader *L, const Sec *root, LRScheduleConfig *lr, double b2) {
    static const char *const keys[] = {"lr_schedule", "lr_plateau_patience", "lr_plateau_factor",
        "warmup_steps", "plot_lr_schedule", NULL};
    static const char *const acc[] = {"plateau", "cosine", "cycle", NULL};  // order = LRScheduleKind
    Sec s = sec_child(L, root, "lr_schedule");
    check_keys(L, &s, keys, "lr_schedule");
    const YamlNode *v = sec_get(&s, "lr_schedule");
    if (!L->failed && v && v->kind == YNODE_SCALAR && strcmp(v->text, "same") == 0)
        fail_at(L, v, "lr_schedule.lr_schedule",
                "'same' is declared by EIR but every EIR run with it fails (its guard compares the "
                "schedule config object to the string 'same', so it raises ValueError); expected one of "
                "'plateau', 'cosine', 'cycle'");
    Choices ch = {acc, NULL, NULL};
    lr->lr_schedule = (LRScheduleKind)get_choice(L, &s, "lr_schedule", &ch, 0, NO_NULL);
    get_int(L, &s, "lr_plateau_patience", 10, 1, INT_MAX, &lr->lr_plateau_patience);
    get_num(L, &s, "lr_plateau_factor", 0.2, 0.0, true, 1.0, true, &lr->lr_plateau_factor);

    // warmup_steps: "auto" (= round(2 / (1 - b2)), Python's round: half to even) or an int >= 0
    lr->warmup_auto = true;
    v = sec_get(&s, "warmup_steps");
    if (!L->failed && v) {
        if (v->kind == YNODE_SCALAR && v->type == YSCALAR_STR && strcmp(v->text, "auto") == 0) {
            lr->warmup_auto = true;
        } else if (v->kind == YNODE_SCALAR && v->type == YSCALAR_INT && v->ival >= 0 && v->ival <= INT_MAX) {
            lr->warmup_auto = false;
            lr->warmup_steps = (int)v->ival;
        } else {
            fail_expected(L, v, "lr_schedule.warmup_steps", "'auto' or an integer >= 0");
        }
    }
    if (lr->warmup_auto) lr->warmup_steps = (int)nearbyint(2.0 / (1.0 - b2));
    get_bool(L, &s, "plot_lr_schedule", false, &lr->plot_lr_schedule);
}

static void load_training_control(Loader *L, const Sec *root, TrainingControlConfig *tc) {
    static const char *const keys[] = {"early_stopping_patience", "early_stopping_buffer",
        "weighted_sampling_columns", "mixing_alpha", NULL};
    Sec s = sec_child(L, root, "training_control");
    check_keys(L, &s, keys, "training_control");
    get_int_or_null(L, &s, "early_stopping_patience", 10, 0, 0, INT_MAX, &tc->early_stopping_patience);
    get_int_or_null(L, &s, "early_stopping_buffer", 0, 0, 0, INT_MAX, &tc->early_stopping_buffer);
    refuse_if_set(L, &s, "weighted_sampling_columns", "weighted sampling is not implemented");
    get_num(L, &s, "mixing_alpha", 0.0, 0.0, false, INFINITY, false, &tc->mixing_alpha);
}

static void load_evaluation_checkpoint(Loader *L, const Sec *root, EvaluationCheckpointConfig *ec) {
    static const char *const keys[] = {"sample_interval", "saved_result_detail_level",
        "checkpoint_interval", "n_saved_models", NULL};
    Sec s = sec_child(L, root, "evaluation_checkpoint");
    check_keys(L, &s, keys, "evaluation_checkpoint");
    get_int(L, &s, "sample_interval", 200, 1, INT_MAX, &ec->sample_interval);
    get_int(L, &s, "saved_result_detail_level", 5, 0, INT_MAX, &ec->saved_result_detail_level);
    get_int_or_null(L, &s, "checkpoint_interval", 0, 0, 1, INT_MAX, &ec->checkpoint_interval);
    get_int(L, &s, "n_saved_models", 1, 1, INT_MAX, &ec->n_saved_models);
    if (!L->failed && ec->checkpoint_interval > 0 && ec->checkpoint_interval % ec->sample_interval != 0)
        fail_at(L, sec_get(&s, "checkpoint_interval"), "evaluation_checkpoint.checkpoint_interval",
                "%d is not a multiple of sample_interval %d (EIR raises ValueError: a checkpoint is "
                "scored with the latest validation, which runs every sample_interval iterations)",
                ec->checkpoint_interval, ec->sample_interval);
}

static void load_attribution_analysis(Loader *L, const Sec *root, AttributionAnalysisConfig *aa) {
    static const char *const keys[] = {"compute_attributions", "max_attributions_per_class",
        "attributions_every_sample_factor", "attribution_background_samples", NULL};
    Sec s = sec_child(L, root, "attribution_analysis");
    check_keys(L, &s, keys, "attribution_analysis");
    refuse_if_true(L, &s, "compute_attributions",
                   "integrated-gradients attributions are not implemented; EIR skips them for bytes inputs anyway",
                   &aa->compute_attributions);
    get_int_or_null(L, &s, "max_attributions_per_class", 0, 0, 1, INT_MAX, &aa->max_attributions_per_class);
    get_int(L, &s, "attributions_every_sample_factor", 1, 1, INT_MAX, &aa->attributions_every_sample_factor);
    get_int(L, &s, "attribution_background_samples", 256, 1, INT_MAX, &aa->attribution_background_samples);
}

// Metric names eir-dist computes (spec §4.5) and the ones only EIR has.
static const char *const k_cat_metrics[] = {"mcc", "acc", "roc-auc-macro", "ap-macro", NULL};
static const char *const k_cat_metrics_eir[] = {"f1-macro", "precision-macro", "recall-macro", "cohen-kappa", NULL};
static const char *const k_con_metrics[] = {"r2", "pcc", "loss", NULL};
static const char *const k_con_metrics_eir[] = {"rmse", "mae", "mape", "explained-variance", NULL};

static void load_metrics(Loader *L, const Sec *root, MetricsConfig *m) {
    static const char *const keys[] = {"cat_metrics", "con_metrics", "cat_averaging_metrics",
        "con_averaging_metrics", NULL};
    static const char *const cat_avg_def[] = {"mcc", "roc-auc-macro", "ap-macro", NULL};
    static const char *const con_avg_def[] = {"loss", "pcc", "r2", NULL};
    Choices cat = {k_cat_metrics, k_cat_metrics_eir, NULL};
    Choices con = {k_con_metrics, k_con_metrics_eir, NULL};
    Sec s = sec_child(L, root, "metrics");
    check_keys(L, &s, keys, "metrics");
    get_metric_list(L, &s, "cat_metrics", k_cat_metrics, &cat, &m->cat_metrics);
    get_metric_list(L, &s, "con_metrics", k_con_metrics, &con, &m->con_metrics);
    // null means EIR's default averaging set
    const YamlNode *v = sec_get(&s, "cat_averaging_metrics");
    if (v && is_null(v)) strlist_set(&m->cat_averaging_metrics, cat_avg_def);
    else get_metric_list(L, &s, "cat_averaging_metrics", cat_avg_def, &cat, &m->cat_averaging_metrics);
    v = sec_get(&s, "con_averaging_metrics");
    if (v && is_null(v)) strlist_set(&m->con_averaging_metrics, con_avg_def);
    else get_metric_list(L, &s, "con_averaging_metrics", con_avg_def, &con, &m->con_averaging_metrics);
}

static void load_visualization_logging(Loader *L, const Sec *root, VisualizationLoggingConfig *vl) {
    static const char *const keys[] = {"plot_skip_steps", "no_pbar", "log_level", "save_model_diagram", NULL};
    static const char *const levels[] = {"info", "debug", "warning", "error", "critical", NULL};
    Choices ch = {levels, NULL, NULL};
    Sec s = sec_child(L, root, "visualization_logging");
    check_keys(L, &s, keys, "visualization_logging");
    get_int(L, &s, "plot_skip_steps", 200, 0, INT_MAX, &vl->plot_skip_steps);
    get_bool(L, &s, "no_pbar", false, &vl->no_pbar);
    get_choice_str(L, &s, "log_level", &ch, 0, &vl->log_level);
    refuse_if_true(L, &s, "save_model_diagram", "model diagrams (torchview) are not drawn",
                   &vl->save_model_diagram);
}

static void load_data_preparation(Loader *L, const Sec *root, DataPreparationConfig *dp) {
    static const char *const keys[] = {"streaming_setup_samples", "streaming_batch_size", NULL};
    Sec s = sec_child(L, root, "data_preparation");
    check_keys(L, &s, keys, "data_preparation");
    get_int_or_null(L, &s, "streaming_setup_samples", 10000, 0, 1, INT_MAX, &dp->streaming_setup_samples);
    get_int_or_null(L, &s, "streaming_batch_size", 0, 0, 1, INT_MAX, &dp->streaming_batch_size);
}

static void load_accelerator(Loader *L, const Sec *root, AcceleratorConfig *ac) {
    static const char *const keys[] = {"hardware", "precision", "strategy", "devices", "num_nodes", NULL};
    static const char *const hw[] = {"auto", "cpu", "cuda", "gpu", NULL};
    static const char *const hw_eir[] = {"mps", "tpu", "hpu", NULL};
    // "tf32" is eir-dist's own (Lightning has no name for it); on the CPU every mode computes in fp32
    static const char *const prec[] = {"32-true", "32", "tf32", "bf16-mixed", NULL};
    static const char *const prec_eir[] = {"64", "16", "bf16", "64-true", "16-true", "bf16-true", "16-mixed",
        "transformer-engine", "transformer-engine-float16", NULL};
    static const char *const strat[] = {"auto", "ddp", NULL};
    static const char *const strat_eir[] = {"dp", "ddp_spawn", "ddp_fork", "ddp_notebook", "deepspeed", "fsdp",
        "single_device", NULL};
    Choices ch_hw = {hw, hw_eir, "eir-dist has CPU and CUDA backends only"};
    Choices ch_prec = {prec, prec_eir, "GPU matrix products run in fp32, tf32 or bf16 with fp32 master weights "
                       "(bf16-mixed); everything else in fp32"};
    Choices ch_strat = {strat, strat_eir, "eir-dist always trains data-parallel over MPI ranks"};
    Sec s = sec_child(L, root, "accelerator");
    check_keys(L, &s, keys, "accelerator");
    get_choice_str(L, &s, "hardware", &ch_hw, 0, &ac->hardware);
    get_choice_str(L, &s, "precision", &ch_prec, 0, &ac->precision);
    get_choice_str(L, &s, "strategy", &ch_strat, 0, &ac->strategy);
    free(ac->devices);
    ac->devices = strdup_check("auto");
    const YamlNode *v = sec_get(&s, "devices");
    if (!L->failed && v && !(v->kind == YNODE_SCALAR && strcmp(v->text, "auto") == 0))
        fail_at(L, v, "accelerator.devices", "only 'auto' is supported: eir-dist uses one device per MPI rank, "
                "so choose the number of devices with the launcher (mpirun -np N)");
    ac->num_nodes = 1;
    v = sec_get(&s, "num_nodes");
    if (!L->failed && v && !(v->kind == YNODE_SCALAR && v->type == YSCALAR_INT && v->ival == 1))
        fail_at(L, v, "accelerator.num_nodes", "only 1 is supported: nodes come from the MPI launch "
                "(mpirun's host list), not from the config");
}

static void load_global(Loader *L, const YamlNode *tree, GlobalConfig *g) {
    Sec root = sec_root(tree);
    // unknown sections: EIR ignores them silently; here they are errors (a typo must be seen)
    for (int i = 0; !L->failed && i < tree->n; i++) {
        const YamlNode *k = tree->keys[i];
        bool ok = false;
        for (int j = 0; k_global_sections[j] && !ok; j++) ok = strcmp(k->text, k_global_sections[j]) == 0;
        if (ok) continue;
        char names[1024], dym[160] = "";
        join_names(k_global_sections, names, sizeof names);
        const char *near = closest_name(k->text, k_global_sections);
        if (near) snprintf(dym, sizeof dym, "; did you mean '%s'?", near);
        fail_at(L, k, k->text, "unknown global config section%s (known sections: %s; EIR would silently "
                "ignore it, eir-dist refuses it so a typo cannot go unnoticed)", dym, names);
    }
    load_basic_experiment(L, &root, &g->basic_experiment);
    load_global_model(L, &root, &g->model);
    load_optimization(L, &root, &g->optimization);
    load_lr_schedule(L, &root, &g->lr_schedule, g->optimization.b2);
    load_training_control(L, &root, &g->training_control);
    load_evaluation_checkpoint(L, &root, &g->evaluation_checkpoint);
    load_attribution_analysis(L, &root, &g->attribution_analysis);
    load_metrics(L, &root, &g->metrics);
    load_visualization_logging(L, &root, &g->visualization_logging);
    load_data_preparation(L, &root, &g->data_preparation);
    load_accelerator(L, &root, &g->accelerator);
    refuse_if_set(L, &root, "latent_sampling", "latent sampling is not implemented");
}

// ---------------------------------------------------------------- input config

static void load_input(Loader *L, const YamlNode *tree, InputConfig *in) {
    static const char *const top[] = {"input_info", "input_type_info", "model_config", "pretrained_config",
        "interpretation_config", "tensor_broker_config", NULL};
    static const char *const info_keys[] = {"input_source", "input_name", "input_type", NULL};
    static const char *const type_keys[] = {"max_length", "byte_encoding", "sampling_strategy_if_longer",
        "mixing_subtype", "modality_dropout_rate", NULL};
    static const char *const model_keys[] = {"model_type", "model_init_config", "embedding_dim", "position",
        "position_dropout", "window_size", "pool", "masked", "pretrained_model", "freeze_pretrained_model", NULL};
    static const char *const init_keys[] = {"num_heads", "num_layers", "dim_feedforward", "dropout", NULL};
    static const char *const interp_keys[] = {"interpretation_sampling_strategy", "num_samples_to_interpret",
        "manual_samples_to_interpret", NULL};
    static const char *const types[] = {"bytes", NULL};
    static const char *const types_eir[] = {"omics", "tabular", "sequence", "image", "array", NULL};
    static const char *const enc[] = {"uint8", NULL};
    static const char *const strategies[] = {"uniform", "from_start", NULL};  // order = SamplingStrategy
    static const char *const mix[] = {"mixup", NULL};
    static const char *const mix_eir[] = {"cutmix", "cutmix-block", "cutmix-uniform", NULL};
    static const char *const models[] = {"sequence-default", NULL};
    static const char *const positions[] = {"encode", "embed", NULL};  // order = PositionKind
    static const char *const pools[] = {"avg", "max", NULL};  // PoolKind - 1; null is POOL_NONE

    Sec root = sec_root(tree);
    check_keys(L, &root, top, "an input config");
    if (!L->failed && !sec_get(&root, "input_info"))
        fail_at(L, tree, "input_info", "required section is missing (it gives input_source, input_name, input_type)");
    Sec info = sec_child(L, &root, "input_info");
    check_keys(L, &info, info_keys, "input_info");
    Choices ch_type = {types, types_eir, "eir-dist implements the raw-bytes workflow only"};
    require_key(L, &info, "input_type", "'bytes'");
    get_choice_str(L, &info, "input_type", &ch_type, 0, &in->input_type);
    require_key(L, &info, "input_name", "a unique name for this input, e.g. imdb_reviews_bytes");
    get_str(L, &info, "input_name", NULL, true, false, &in->input_name);
    get_path(L, &info, "input_source", true, 0, "a folder of input files, or a text file listing one file per line",
             &in->input_source);

    Sec ti = sec_child(L, &root, "input_type_info");
    check_keys(L, &ti, type_keys, "input_type_info (bytes)");
    get_int(L, &ti, "max_length", 256, 1, INT_MAX, &in->max_length);
    Choices ch_enc = {enc, NULL, NULL};
    get_choice_str(L, &ti, "byte_encoding", &ch_enc, 0, &in->byte_encoding);
    Choices ch_strat = {strategies, NULL, NULL};
    in->sampling_strategy = (SamplingStrategy)get_choice(L, &ti, "sampling_strategy_if_longer", &ch_strat, 0, NO_NULL);
    Choices ch_mix = {mix, mix_eir, "EIR offers only mixup for bytes inputs too"};
    get_choice_str(L, &ti, "mixing_subtype", &ch_mix, 0, &in->mixing_subtype);
    get_rate(L, &ti, "modality_dropout_rate", 0.0, &in->modality_dropout_rate);

    Sec mc = sec_child(L, &root, "model_config");
    check_keys(L, &mc, model_keys, "model_config (sequence model)");
    const YamlNode *v = sec_get(&mc, "model_type");
    if (!L->failed && v && v->kind == YNODE_SCALAR && !is_null(v) && strcmp(v->text, "sequence-default") != 0)
        fail_at(L, v, "model_config.model_type", "'%s' is not supported: EIR reads any model_type other than "
                "'sequence-default' as a HuggingFace model name, and eir-dist implements only EIR's own "
                "transformer; use 'sequence-default'", v->text);
    Choices ch_model = {models, NULL, NULL};
    // null (or absent) means the default model, as in EIR ("if not model_type")
    free(in->model_type);
    in->model_type = strdup_check(models[get_choice(L, &mc, "model_type", &ch_model, 0, 0)]);
    get_int_or_null(L, &mc, "embedding_dim", 64, -1, 1, INT_MAX, &in->embedding_dim);
    in->embedding_dim_auto = (in->embedding_dim == -1);
    Choices ch_pos = {positions, NULL, NULL};
    in->position = (PositionKind)get_choice(L, &mc, "position", &ch_pos, 0, NO_NULL);
    get_rate(L, &mc, "position_dropout", 0.10, &in->position_dropout);
    get_int(L, &mc, "window_size", 0, 0, INT_MAX, &in->window_size);
    Choices ch_pool = {pools, NULL, NULL};
    in->pool = (PoolKind)(get_choice(L, &mc, "pool", &ch_pool, -1, -1) + 1);
    get_bool(L, &mc, "masked", false, &in->masked);
    bool pretrained = false;
    refuse_if_true(L, &mc, "pretrained_model", "pretrained HuggingFace models are not available", &pretrained);
    get_bool(L, &mc, "freeze_pretrained_model", false, &in->freeze_pretrained_model);

    Sec ic = sec_child(L, &mc, "model_init_config");
    check_keys(L, &ic, init_keys, "model_init_config (transformer)");
    get_int(L, &ic, "num_heads", 8, 1, INT_MAX, &in->num_heads);
    get_int(L, &ic, "num_layers", 2, 1, INT_MAX, &in->num_layers);
    // dim_feedforward: "auto" (= 4 * embedding_dim, resolved below) or an int >= 1
    in->dim_feedforward_auto = true;
    v = sec_get(&ic, "dim_feedforward");
    if (!L->failed && v && !(v->kind == YNODE_SCALAR && v->type == YSCALAR_STR && strcmp(v->text, "auto") == 0)) {
        in->dim_feedforward_auto = false;
        if (v->kind == YNODE_SCALAR && v->type == YSCALAR_INT && v->ival >= 1 && v->ival <= INT_MAX)
            in->dim_feedforward = (int)v->ival;
        else
            fail_expected(L, v, "model_config.model_init_config.dim_feedforward", "'auto' or an integer >= 1");
    }
    get_rate(L, &ic, "dropout", 0.10, &in->dropout);

    refuse_if_set(L, &root, "pretrained_config", "loading pretrained input modules is not implemented");
    refuse_if_set(L, &root, "tensor_broker_config", "the tensor broker is not implemented");
    // interpretation_config: EIR drops it for bytes inputs; only its key names are checked
    Sec interp = sec_child(L, &root, "interpretation_config");
    check_keys(L, &interp, interp_keys, "interpretation_config");
    if (L->failed) return;

    // derived values and cross-field rules (spec §1.2, §3.1)
    // blame embedding_dim where it is written, else num_heads, else the model_config section
    const YamlNode *blame = sec_get(&mc, "embedding_dim");
    if (!blame) blame = sec_get(&ic, "num_heads");
    if (!blame) blame = mc.at;
    if (in->embedding_dim_auto) {
        // EIR: ceil(int(V ** 0.25) / num_heads) * num_heads
        int base = (int)pow((double)BYTES_VOCAB_SIZE, 0.25);
        in->embedding_dim = (int)ceil((double)base / in->num_heads) * in->num_heads;
    }
    const char *ed_how = in->embedding_dim_auto ? " (computed from embedding_dim: null)" : "";
    if (in->embedding_dim % in->num_heads != 0) {
        fail_at(L, blame, "model_config.embedding_dim",
                "%d%s is not divisible by model_init_config.num_heads = %d (each attention head gets "
                "embedding_dim / num_heads dimensions)", in->embedding_dim, ed_how, in->num_heads);
        return;
    }
    int head_dim = in->embedding_dim / in->num_heads;
    if (head_dim % 2 != 0) {
        fail_at(L, blame, "model_config.embedding_dim",
                "embedding_dim / num_heads = %d%s / %d = %d must be even: the rotary position embedding "
                "(RoPE) rotates pairs of dimensions in each head", in->embedding_dim, ed_how, in->num_heads, head_dim);
        return;
    }
    if (in->dim_feedforward_auto) in->dim_feedforward = 4 * in->embedding_dim;
    if (in->window_size > in->max_length) {
        fail_at(L, sec_get(&mc, "window_size"), "model_config.window_size",
                "%d is larger than input_type_info.max_length = %d (expected 0 for no windowing, or an "
                "integer in [1, max_length])", in->window_size, in->max_length);
        return;
    }
}

// ---------------------------------------------------------------- output config

static void load_output(Loader *L, const YamlNode *tree, OutputConfig *out) {
    static const char *const top[] = {"output_info", "output_type_info", "model_config", "sampling_config",
        "tensor_broker_config", NULL};
    static const char *const info_keys[] = {"output_source", "output_name", "output_type", NULL};
    static const char *const type_keys[] = {"target_cat_columns", "target_con_columns", "label_parsing_chunk_size",
        "cat_label_smoothing", "cat_loss_name", "con_loss_name", "uncertainty_weighted_mt_loss", NULL};
    static const char *const model_keys[] = {"model_type", "model_init_config", NULL};
    static const char *const init_keys[] = {"layers", "fc_task_dim", "rb_do", "fc_do", "stochastic_depth_p",
        "final_layer_type", NULL};
    static const char *const types[] = {"tabular", NULL};
    static const char *const types_eir[] = {"sequence", "array", "image", "survival", NULL};
    static const char *const cat_loss[] = {"CrossEntropyLoss", NULL};
    static const char *const cat_loss_eir[] = {"BCEWithLogitsLoss", NULL};
    static const char *const con_loss[] = {"MSELoss", NULL};
    static const char *const con_loss_eir[] = {"L1Loss", "SmoothL1Loss", "PoissonNLLLoss", "HuberLoss", NULL};
    static const char *const models[] = {"mlp_residual", NULL};
    static const char *const models_eir[] = {"linear", "shared_mlp_residual", NULL};
    static const char *const finals[] = {"linear", NULL};
    static const char *const finals_eir[] = {"mlp_residual", NULL};

    Sec root = sec_root(tree);
    check_keys(L, &root, top, "an output config");
    if (!L->failed && !sec_get(&root, "output_info"))
        fail_at(L, tree, "output_info", "required section is missing (it gives output_source, output_name, output_type)");
    Sec info = sec_child(L, &root, "output_info");
    check_keys(L, &info, info_keys, "output_info");
    Choices ch_type = {types, types_eir, "eir-dist implements tabular outputs only"};
    require_key(L, &info, "output_type", "'tabular'");
    get_choice_str(L, &info, "output_type", &ch_type, 0, &out->output_type);
    require_key(L, &info, "output_name", "a unique name for this output, e.g. imdb_output");
    get_str(L, &info, "output_name", NULL, true, false, &out->output_name);
    get_path(L, &info, "output_source", true, 1, "a CSV file of labels with an ID column", &out->output_source);

    Sec ti = sec_child(L, &root, "output_type_info");
    check_keys(L, &ti, type_keys, "output_type_info (tabular)");
    static const char *const empty[] = {NULL};
    get_strlist(L, &ti, "target_cat_columns", empty, true, &out->target_cat_columns);
    get_strlist(L, &ti, "target_con_columns", empty, true, &out->target_con_columns);
    get_int_or_null(L, &ti, "label_parsing_chunk_size", 0, 0, 1, INT_MAX, &out->label_parsing_chunk_size);
    get_rate(L, &ti, "cat_label_smoothing", 0.0, &out->cat_label_smoothing);
    Choices ch_cat = {cat_loss, cat_loss_eir, "categorical targets use softmax cross-entropy only"};
    get_choice_str(L, &ti, "cat_loss_name", &ch_cat, 0, &out->cat_loss_name);
    Choices ch_con = {con_loss, con_loss_eir, "continuous targets use mean squared error only"};
    get_choice_str(L, &ti, "con_loss_name", &ch_con, 0, &out->con_loss_name);
    refuse_if_true(L, &ti, "uncertainty_weighted_mt_loss", "uncertainty-weighted multi-task loss is not implemented",
                   &out->uncertainty_weighted_mt_loss);
    if (!L->failed && out->target_cat_columns.n + out->target_con_columns.n == 0)
        fail_at(L, ti.at, "output_type_info", "no target columns: expected at least one column name in "
                "target_cat_columns or target_con_columns");
    for (int i = 0; !L->failed && i < out->target_con_columns.n; i++) {
        if (!strlist_contains(&out->target_cat_columns, out->target_con_columns.items[i])) continue;
        fail_at(L, sec_get(&ti, "target_con_columns")->items[i], "output_type_info.target_con_columns",
                "'%s' is also listed in target_cat_columns (a column is either categorical or continuous)",
                out->target_con_columns.items[i]);
    }

    Sec mc = sec_child(L, &root, "model_config");
    check_keys(L, &mc, model_keys, "model_config (tabular output)");
    Choices ch_model = {models, models_eir, "only EIR's default residual MLP head is implemented"};
    free(out->model_type);
    out->model_type = strdup_check(models[get_choice(L, &mc, "model_type", &ch_model, 0, 0)]);
    Sec ic = sec_child(L, &mc, "model_init_config");
    check_keys(L, &ic, init_keys, "model_init_config (residual MLP head)");
    get_layers(L, &ic, &out->layers);
    get_int(L, &ic, "fc_task_dim", 256, 1, INT_MAX, &out->fc_task_dim);
    get_rate(L, &ic, "rb_do", 0.10, &out->rb_do);
    get_rate(L, &ic, "fc_do", 0.10, &out->fc_do);
    get_rate(L, &ic, "stochastic_depth_p", 0.10, &out->stochastic_depth_p);
    Choices ch_final = {finals, finals_eir, "the head ends in one linear layer"};
    get_choice_str(L, &ic, "final_layer_type", &ch_final, 0, &out->final_layer_type);

    refuse_if_set(L, &root, "sampling_config", "sampling settings do not apply to tabular outputs");
    refuse_if_set(L, &root, "tensor_broker_config", "the tensor broker is not implemented");
}

// ---------------------------------------------------------------- fusion config

static void fusion_defaults(FusionConfig *f) {
    free(f->model_type);
    f->model_type = strdup_check("mlp-residual");
    f->layers = 2;
    f->fc_task_dim = 256;
    f->rb_do = 0.10;
    f->fc_do = 0.10;
    f->stochastic_depth_p = 0.10;
}

static void load_fusion(Loader *L, const YamlNode *tree, FusionConfig *f) {
    static const char *const top[] = {"model_type", "model_config", "tensor_broker_config", NULL};
    static const char *const model_keys[] = {"layers", "fc_task_dim", "rb_do", "fc_do", "stochastic_depth_p", NULL};
    static const char *const models[] = {"mlp-residual", NULL};
    static const char *const models_eir[] = {"identity", "pass-through", "mgmoe", "attention", "linear", NULL};
    fusion_defaults(f);
    if (!tree) return;
    Sec root = sec_root(tree);
    check_keys(L, &root, top, "the fusion config");
    Choices ch = {models, models_eir, "only EIR's default residual MLP fusion is implemented"};
    get_choice_str(L, &root, "model_type", &ch, 0, &f->model_type);
    Sec mc = sec_child(L, &root, "model_config");
    check_keys(L, &mc, model_keys, "model_config (residual MLP fusion)");
    get_layers(L, &mc, &f->layers);
    get_int(L, &mc, "fc_task_dim", 256, 1, INT_MAX, &f->fc_task_dim);
    get_rate(L, &mc, "rb_do", 0.10, &f->rb_do);
    get_rate(L, &mc, "fc_do", 0.10, &f->fc_do);
    get_rate(L, &mc, "stochastic_depth_p", 0.10, &f->stochastic_depth_p);
    refuse_if_set(L, &root, "tensor_broker_config", "the tensor broker is not implemented");
}

// ---------------------------------------------------------------- whole experiment

static const YamlNode *node_at(const YamlNode *tree, const char *section, const char *key) {
    const YamlNode *s = ytree_map_get(tree, section);
    const YamlNode *k = ytree_map_get(s, key);
    return k ? k : (s ? s : tree);
}

// Names must be unique across inputs and across outputs, and (for tabular outputs) an input and
// an output may not share one (EIR raises ValueError for all three).
static void check_names(Loader *L, ExperimentConfig *cfg) {
    for (int i = 0; !L->failed && i < cfg->n_inputs; i++)
        for (int j = 0; j < i && !L->failed; j++)
            if (strcmp(cfg->inputs[i].input_name, cfg->inputs[j].input_name) == 0)
                fail_at(L, node_at(cfg->input_trees[i], "input_info", "input_name"), "input_info.input_name",
                        "'%s' is already the name of the input from %s (each input needs a unique input_name)",
                        cfg->inputs[i].input_name, cfg->inputs[j].source_file);
    for (int i = 0; !L->failed && i < cfg->n_outputs; i++)
        for (int j = 0; j < i && !L->failed; j++)
            if (strcmp(cfg->outputs[i].output_name, cfg->outputs[j].output_name) == 0)
                fail_at(L, node_at(cfg->output_trees[i], "output_info", "output_name"), "output_info.output_name",
                        "'%s' is already the name of the output from %s (each output needs a unique output_name)",
                        cfg->outputs[i].output_name, cfg->outputs[j].source_file);
    for (int i = 0; !L->failed && i < cfg->n_outputs; i++)
        for (int j = 0; j < cfg->n_inputs && !L->failed; j++)
            if (strcmp(cfg->outputs[i].output_name, cfg->inputs[j].input_name) == 0)
                fail_at(L, node_at(cfg->output_trees[i], "output_info", "output_name"), "output_info.output_name",
                        "'%s' is also the input_name of the input from %s (inputs and outputs need different names)",
                        cfg->outputs[i].output_name, cfg->inputs[j].source_file);
}

// Trees -> typed config. The trees already sit in cfg (global_tree, input_trees, ...).
static void build_config(Loader *L, ExperimentConfig *cfg) {
    load_global(L, cfg->global_tree, &cfg->global);
    cfg->inputs = calloc_check((size_t)(cfg->n_inputs > 0 ? cfg->n_inputs : 1), sizeof(InputConfig));
    for (int i = 0; i < cfg->n_inputs && !L->failed; i++) {
        cfg->inputs[i].source_file = strdup_check(cfg->input_trees[i]->file);
        load_input(L, cfg->input_trees[i], &cfg->inputs[i]);
    }
    load_fusion(L, cfg->fusion_tree, &cfg->fusion);
    cfg->outputs = calloc_check((size_t)(cfg->n_outputs > 0 ? cfg->n_outputs : 1), sizeof(OutputConfig));
    for (int i = 0; i < cfg->n_outputs && !L->failed; i++) {
        cfg->outputs[i].source_file = strdup_check(cfg->output_trees[i]->file);
        load_output(L, cfg->output_trees[i], &cfg->outputs[i]);
    }
    if (!L->failed && cfg->n_inputs == 0)
        fail_at(L, NULL, NULL, "no input configs: eir-dist needs at least one (--input_configs I.yaml)");
    if (!L->failed && cfg->n_outputs == 0)
        fail_at(L, NULL, NULL, "no output configs: eir-dist needs at least one (--output_configs O.yaml)");
    check_names(L, cfg);
}

static void free_input(InputConfig *in) {
    free(in->input_source);
    free(in->input_name);
    free(in->input_type);
    free(in->byte_encoding);
    free(in->mixing_subtype);
    free(in->model_type);
    free(in->source_file);
}

static void free_output(OutputConfig *o) {
    free(o->output_source);
    free(o->output_name);
    free(o->output_type);
    strlist_free(&o->target_cat_columns);
    strlist_free(&o->target_con_columns);
    free(o->cat_loss_name);
    free(o->con_loss_name);
    free(o->model_type);
    free(o->final_layer_type);
    free(o->source_file);
}

void config_free(ExperimentConfig *cfg) {
    GlobalConfig *g = &cfg->global;
    free(g->basic_experiment.output_folder);
    free(g->basic_experiment.manual_valid_ids_file);
    free(g->basic_experiment.device);
    free(g->accelerator.hardware);
    free(g->accelerator.precision);
    free(g->accelerator.strategy);
    free(g->accelerator.devices);
    free(g->optimization.optimizer);
    strlist_free(&g->metrics.cat_metrics);
    strlist_free(&g->metrics.con_metrics);
    strlist_free(&g->metrics.cat_averaging_metrics);
    strlist_free(&g->metrics.con_averaging_metrics);
    free(g->visualization_logging.log_level);
    free(g->model.pretrained_checkpoint);
    for (int i = 0; cfg->inputs && i < cfg->n_inputs; i++) free_input(&cfg->inputs[i]);
    free(cfg->inputs);
    for (int i = 0; cfg->outputs && i < cfg->n_outputs; i++) free_output(&cfg->outputs[i]);
    free(cfg->outputs);
    free(cfg->fusion.model_type);
    ytree_free(cfg->global_tree);
    for (int i = 0; cfg->input_trees && i < cfg->n_inputs; i++) ytree_free(cfg->input_trees[i]);
    free(cfg->input_trees);
    for (int i = 0; cfg->output_trees && i < cfg->n_outputs; i++) ytree_free(cfg->output_trees[i]);
    free(cfg->output_trees);
    ytree_free(cfg->fusion_tree);
    memset(cfg, 0, sizeof *cfg);
}

// ---------------------------------------------------------------- files and overrides

// "<dir>/<name>.<ext>" -> "<name>" (Python's Path(f).stem: the last suffix only).
static void file_stem(const char *path, char *buf, size_t len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, len, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
}

typedef struct {
    char stem[256];
    char *keys;         // dotted key path (malloc'd)
    const char *value;  // points into the override string
    const char *arg;    // the override as given
} Override;

static const StrList *source_lists(const ConfigSources *src, int i) {
    const StrList *lists[4] = {&src->global_files, &src->input_files, &src->fusion_files, &src->output_files};
    return lists[i];
}

// Splits each override into stem / keys / value. The stem is the longest stem of a given config
// file that the argument starts with (so file stems containing dots work too).
static int parse_overrides(const ConfigSources *src, Override *ovs, char *err, size_t errlen) {
    for (int i = 0; i < src->overrides.n; i++) {
        const char *arg = src->overrides.items[i];
        const char *body = strncmp(arg, "--", 2) == 0 ? arg + 2 : arg;
        const char *eq = strchr(body, '=');
        Override *o = &ovs[i];
        o->arg = arg;
        if (!eq) {
            snprintf(err, errlen, "command line '--%s': an override needs the form --<file_stem>.<dotted.key>=<value>", body);
            return -1;
        }
        o->value = eq + 1;
        size_t best = 0;
        for (int l = 0; l < 4; l++) {
            const StrList *files = source_lists(src, l);
            for (int f = 0; f < files->n; f++) {
                char stem[256];
                file_stem(files->items[f], stem, sizeof stem);
                size_t sl = strlen(stem);
                if (sl > best && sl < (size_t)(eq - body) && strncmp(body, stem, sl) == 0 && body[sl] == '.') {
                    best = sl;
                    snprintf(o->stem, sizeof o->stem, "%s", stem);
                }
            }
        }
        if (!best) {
            StrBuf known = {0};
            for (int l = 0; l < 4; l++) {
                const StrList *files = source_lists(src, l);
                for (int f = 0; f < files->n; f++) {
                    char stem[256];
                    file_stem(files->items[f], stem, sizeof stem);
                    sb_printf(&known, "%s'%s'", known.len ? ", " : "", stem);
                }
            }
            const char *dot = memchr(body, '.', (size_t)(eq - body));
            int stem_len = dot ? (int)(dot - body) : (int)(eq - body);
            snprintf(err, errlen, "command line '--%s': '%.*s' is not the stem of any config file given "
                     "(known stems: %s); overrides are --<file_stem>.<dotted.key>=<value>, e.g. "
                     "--globals.basic_experiment.n_epochs=5 for globals.yaml",
                     body, stem_len, body, known.len ? known.data : "none");
            sb_free(&known);
            return -1;
        }
        size_t klen = (size_t)(eq - body) - best - 1;
        o->keys = malloc_check(klen + 1);
        memcpy(o->keys, body + best + 1, klen);
        o->keys[klen] = 0;
        // every key segment must be non-empty: "a..b" or a trailing "." is a typo
        bool bad = klen == 0 || o->keys[0] == '.' || o->keys[klen - 1] == '.' || strstr(o->keys, "..");
        if (bad) {
            snprintf(err, errlen, "command line '--%s': empty key in '%s' (expected dotted keys like "
                     "basic_experiment.n_epochs)", body, o->keys);
            return -1;
        }
    }
    return 0;
}

// Injects one override into a file's tree: the dotted path becomes nested mappings that are deep
// merged in (EIR's recursive_dict_inject: a non-mapping on the way is replaced).
static void apply_override(YamlNode *tree, const Override *o) {
    char origin[1200];
    snprintf(origin, sizeof origin, "command line '%s%s'", strncmp(o->arg, "--", 2) == 0 ? "" : "--", o->arg);
    YamlNode *value = cli_parse_override_value(o->value, origin);
    // build from the innermost key outwards
    char *keys = strdup_check(o->keys);
    YamlNode *inner = value;
    for (;;) {
        char *dot = strrchr(keys, '.');
        const char *last = dot ? dot + 1 : keys;
        YamlNode *map = ytree_new_map(origin, 0, 0);
        ytree_map_set(map, ytree_new_scalar(origin, 0, 0, last, true), inner);
        inner = map;
        if (!dot) break;
        *dot = 0;
    }
    free(keys);
    ytree_merge(tree, inner);
}

// Parses one config file, applies its overrides, and checks its top level is a mapping.
static YamlNode *load_file(Loader *L, const char *path, const Override *ovs, int n_ovs) {
    YamlNode *tree = NULL;
    if (ytree_parse_file(path, &tree, L->err, L->errlen) != 0) {
        L->failed = true;
        return NULL;
    }
    if (is_null(tree)) {  // an empty file (or only comments) sets nothing
        YamlNode *map = ytree_new_map(path, 1, 1);
        ytree_free(tree);
        tree = map;
    }
    if (tree->kind != YNODE_MAP) {
        char found[128];
        ytree_describe(tree, found, sizeof found);
        fail_at(L, tree, NULL, "expected a mapping of config sections at the top of the file, found %s", found);
        ytree_free(tree);
        return NULL;
    }
    char stem[256];
    file_stem(path, stem, sizeof stem);
    for (int i = 0; i < n_ovs; i++)
        if (strcmp(ovs[i].stem, stem) == 0) apply_override(tree, &ovs[i]);
    return tree;
}

// Several files of one kind merged into one tree (NULL when there are none).
static YamlNode *load_merged(Loader *L, const StrList *files, const Override *ovs, int n_ovs) {
    YamlNode *merged = NULL;
    for (int i = 0; i < files->n && !L->failed; i++) {
        YamlNode *t = load_file(L, files->items[i], ovs, n_ovs);
        if (!t) break;
        if (!merged) merged = t;
        else ytree_merge(merged, t);
    }
    if (L->failed) {
        ytree_free(merged);
        return NULL;
    }
    return merged;
}

static int finish(Loader *L, ExperimentConfig *cfg) {
    if (!L->failed) return 0;
    config_free(cfg);
    return -1;
}

int config_try_load_flags(ExperimentConfig *cfg, const ConfigSources *src, int flags, char *err,
                          size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    Loader L = {err, errlen, false, flags};
    if (errlen) err[0] = 0;
    int n_ovs = src->overrides.n;
    Override *ovs = calloc_check((size_t)(n_ovs > 0 ? n_ovs : 1), sizeof(Override));
    if (parse_overrides(src, ovs, err, errlen) != 0) L.failed = true;

    if (!L.failed && src->global_files.n == 0)
        fail_at(&L, NULL, NULL, "no global config files (--global_configs G.yaml...)");
    if (!L.failed) cfg->global_tree = load_merged(&L, &src->global_files, ovs, n_ovs);
    if (!L.failed) {
        cfg->input_trees = calloc_check((size_t)(src->input_files.n + 1), sizeof(YamlNode *));
        for (int i = 0; i < src->input_files.n && !L.failed; i++) {
            cfg->input_trees[i] = load_file(&L, src->input_files.items[i], ovs, n_ovs);
            if (cfg->input_trees[i]) cfg->n_inputs = i + 1;
        }
    }
    if (!L.failed) cfg->fusion_tree = load_merged(&L, &src->fusion_files, ovs, n_ovs);
    if (!L.failed) {
        cfg->output_trees = calloc_check((size_t)(src->output_files.n + 1), sizeof(YamlNode *));
        for (int i = 0; i < src->output_files.n && !L.failed; i++) {
            cfg->output_trees[i] = load_file(&L, src->output_files.items[i], ovs, n_ovs);
            if (cfg->output_trees[i]) cfg->n_outputs = i + 1;
        }
    }
    for (int i = 0; i < n_ovs; i++) free(ovs[i].keys);
    free(ovs);
    if (!L.failed) build_config(&L, cfg);
    return finish(&L, cfg);
}

int config_try_load(ExperimentConfig *cfg, const ConfigSources *src, char *err, size_t errlen) {
    return config_try_load_flags(cfg, src, 0, err, errlen);
}

void config_load(ExperimentConfig *cfg, const ConfigSources *src) {
    char err[4096];
    if (config_try_load(cfg, src, err, sizeof err) != 0) eir_die_user("%s", err);
}

// A file of the effective config: parsed, top level checked. want_list: a list of mappings.
static YamlNode *load_effective_file(Loader *L, const char *dir, const char *name, bool want_list,
                                     bool optional) {
    char *path = path_join(dir, name);
    YamlNode *tree = NULL;
    if (optional && !path_exists(path)) {
        free(path);
        return NULL;
    }
    if (ytree_parse_file(path, &tree, L->err, L->errlen) != 0) {
        L->failed = true;
        free(path);
        return NULL;
    }
    free(path);
    if (is_null(tree) && !want_list) {
        YamlNode *map = ytree_new_map(tree->file, 1, 1);
        ytree_free(tree);
        return map;
    }
    bool ok = want_list ? tree->kind == YNODE_SEQ : tree->kind == YNODE_MAP;
    for (int i = 0; ok && want_list && i < tree->n; i++) ok = tree->items[i]->kind == YNODE_MAP;
    if (!ok) {
        fail_at(L, tree, NULL, "expected %s at the top of the file",
                want_list ? "a list of config mappings" : "a mapping of config sections");
        ytree_free(tree);
        return NULL;
    }
    return tree;
}

// Moves the items of a list tree out into an array of trees.
static YamlNode **take_items(YamlNode *list, int *n) {
    *n = list ? list->n : 0;
    YamlNode **items = calloc_check((size_t)(*n + 1), sizeof(YamlNode *));
    for (int i = 0; i < *n; i++) items[i] = list->items[i];
    if (list) {
        list->n = 0;
        ytree_free(list);
    }
    return items;
}

int config_try_load_effective(ExperimentConfig *cfg, const char *dir, int flags, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    Loader L = {err, errlen, false, flags};
    if (errlen) err[0] = 0;
    cfg->global_tree = load_effective_file(&L, dir, "global_config.yaml", false, false);
    YamlNode *inputs = L.failed ? NULL : load_effective_file(&L, dir, "input_configs.yaml", true, false);
    cfg->input_trees = take_items(inputs, &cfg->n_inputs);
    if (!L.failed) cfg->fusion_tree = load_effective_file(&L, dir, "fusion_config.yaml", false, true);
    YamlNode *outputs = L.failed ? NULL : load_effective_file(&L, dir, "output_configs.yaml", true, false);
    cfg->output_trees = take_items(outputs, &cfg->n_outputs);
    if (!L.failed) build_config(&L, cfg);
    return finish(&L, cfg);
}

void config_load_effective(ExperimentConfig *cfg, const char *dir, int flags) {
    char err[4096];
    if (config_try_load_effective(cfg, dir, flags, err, sizeof err) != 0) eir_die_user("%s", err);
}

// ---------------------------------------------------------------- marks and comparison

ConfigMark config_mark_of(const struct YamlNode *tree, const char *dotted_path) {
    ConfigMark m = {"", 0, 0};
    const YamlNode *n = tree;
    if (!n) return m;
    char *path = strdup_check(dotted_path ? dotted_path : "");
    char *save = NULL;
    for (char *seg = strtok_r(path, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
        const YamlNode *next = NULL;
        if (n->kind == YNODE_MAP) next = ytree_map_get(n, seg);
        else if (n->kind == YNODE_SEQ) {
            char *end;
            long idx = strtol(seg, &end, 10);
            if (*end == 0 && idx >= 0 && idx < n->n) next = n->items[idx];
        }
        if (!next) break;
        n = next;
    }
    free(path);
    m.file = n->file;
    m.line = n->line;
    m.col = n->col;
    return m;
}

typedef struct {
    char *buf;
    size_t len;
    bool differ;
} Diff;

static void diff_note(Diff *d, const char *path, const char *fmt, ...) EIR_PRINTF(3, 4);
static void diff_note(Diff *d, const char *path, const char *fmt, ...) {
    if (d->differ) return;
    d->differ = true;
    if (!d->len) return;
    int off = snprintf(d->buf, d->len, "%s: ", path);
    if (off < 0 || (size_t)off >= d->len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->buf + off, d->len - (size_t)off, fmt, ap);
    va_end(ap);
}

static void cmp_int(Diff *d, const char *path, long long a, long long b) {
    if (a != b) diff_note(d, path, "%lld vs %lld", a, b);
}
static void cmp_dbl(Diff *d, const char *path, double a, double b) {
    if (a != b && !(isnan(a) && isnan(b))) diff_note(d, path, "%.17g vs %.17g", a, b);
}
static void cmp_str(Diff *d, const char *path, const char *a, const char *b) {
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        diff_note(d, path, "'%s' vs '%s'", a ? a : "(null)", b ? b : "(null)");
}
static void cmp_list(Diff *d, const char *path, const StrList *a, const StrList *b) {
    bool same = a->n == b->n;
    for (int i = 0; same && i < a->n; i++) same = strcmp(a->items[i], b->items[i]) == 0;
    if (!same) diff_note(d, path, "lists differ (%d vs %d items)", a->n, b->n);
}

static void diff_global(Diff *d, const GlobalConfig *a, const GlobalConfig *b) {
    const BasicExperimentConfig *x = &a->basic_experiment, *y = &b->basic_experiment;
    cmp_str(d, "basic_experiment.output_folder", x->output_folder, y->output_folder);
    cmp_int(d, "basic_experiment.n_epochs", x->n_epochs, y->n_epochs);
    cmp_int(d, "basic_experiment.batch_size", x->batch_size, y->batch_size);
    cmp_dbl(d, "basic_experiment.valid_size", x->valid_size, y->valid_size);
    cmp_int(d, "basic_experiment.valid_size_is_count", x->valid_size_is_count, y->valid_size_is_count);
    cmp_str(d, "basic_experiment.manual_valid_ids_file", x->manual_valid_ids_file, y->manual_valid_ids_file);
    cmp_int(d, "basic_experiment.dataloader_workers", x->dataloader_workers, y->dataloader_workers);
    cmp_int(d, "basic_experiment.memory_dataset", x->memory_dataset, y->memory_dataset);
    cmp_str(d, "basic_experiment.device", x->device, y->device);
    const AcceleratorConfig *ac = &a->accelerator, *bc = &b->accelerator;
    cmp_str(d, "accelerator.hardware", ac->hardware, bc->hardware);
    cmp_str(d, "accelerator.precision", ac->precision, bc->precision);
    cmp_str(d, "accelerator.strategy", ac->strategy, bc->strategy);
    cmp_str(d, "accelerator.devices", ac->devices, bc->devices);
    cmp_int(d, "accelerator.num_nodes", ac->num_nodes, bc->num_nodes);
    const OptimizationConfig *o = &a->optimization, *p = &b->optimization;
    cmp_str(d, "optimization.optimizer", o->optimizer, p->optimizer);
    cmp_dbl(d, "optimization.lr", o->lr, p->lr);
    cmp_dbl(d, "optimization.lr_lb", o->lr_lb, p->lr_lb);
    cmp_dbl(d, "optimization.b1", o->b1, p->b1);
    cmp_dbl(d, "optimization.b2", o->b2, p->b2);
    cmp_dbl(d, "optimization.wd", o->wd, p->wd);
    cmp_dbl(d, "optimization.gradient_clipping", o->gradient_clipping, p->gradient_clipping);
    cmp_int(d, "optimization.gradient_accumulation_steps", o->gradient_accumulation_steps, p->gradient_accumulation_steps);
    cmp_dbl(d, "optimization.gradient_noise", o->gradient_noise, p->gradient_noise);
    const LRScheduleConfig *l = &a->lr_schedule, *m = &b->lr_schedule;
    cmp_int(d, "lr_schedule.lr_schedule", l->lr_schedule, m->lr_schedule);
    cmp_int(d, "lr_schedule.lr_plateau_patience", l->lr_plateau_patience, m->lr_plateau_patience);
    cmp_dbl(d, "lr_schedule.lr_plateau_factor", l->lr_plateau_factor, m->lr_plateau_factor);
    cmp_int(d, "lr_schedule.warmup_auto", l->warmup_auto, m->warmup_auto);
    cmp_int(d, "lr_schedule.warmup_steps", l->warmup_steps, m->warmup_steps);
    cmp_int(d, "lr_schedule.plot_lr_schedule", l->plot_lr_schedule, m->plot_lr_schedule);
    const TrainingControlConfig *t = &a->training_control, *u = &b->training_control;
    cmp_int(d, "training_control.early_stopping_patience", t->early_stopping_patience, u->early_stopping_patience);
    cmp_int(d, "training_control.early_stopping_buffer", t->early_stopping_buffer, u->early_stopping_buffer);
    cmp_dbl(d, "training_control.mixing_alpha", t->mixing_alpha, u->mixing_alpha);
    const EvaluationCheckpointConfig *e = &a->evaluation_checkpoint, *f = &b->evaluation_checkpoint;
    cmp_int(d, "evaluation_checkpoint.sample_interval", e->sample_interval, f->sample_interval);
    cmp_int(d, "evaluation_checkpoint.saved_result_detail_level", e->saved_result_detail_level, f->saved_result_detail_level);
    cmp_int(d, "evaluation_checkpoint.checkpoint_interval", e->checkpoint_interval, f->checkpoint_interval);
    cmp_int(d, "evaluation_checkpoint.n_saved_models", e->n_saved_models, f->n_saved_models);
    cmp_list(d, "metrics.cat_metrics", &a->metrics.cat_metrics, &b->metrics.cat_metrics);
    cmp_list(d, "metrics.con_metrics", &a->metrics.con_metrics, &b->metrics.con_metrics);
    cmp_list(d, "metrics.cat_averaging_metrics", &a->metrics.cat_averaging_metrics, &b->metrics.cat_averaging_metrics);
    cmp_list(d, "metrics.con_averaging_metrics", &a->metrics.con_averaging_metrics, &b->metrics.con_averaging_metrics);
    const VisualizationLoggingConfig *v = &a->visualization_logging, *w = &b->visualization_logging;
    cmp_int(d, "visualization_logging.plot_skip_steps", v->plot_skip_steps, w->plot_skip_steps);
    cmp_int(d, "visualization_logging.no_pbar", v->no_pbar, w->no_pbar);
    cmp_str(d, "visualization_logging.log_level", v->log_level, w->log_level);
    cmp_int(d, "visualization_logging.save_model_diagram", v->save_model_diagram, w->save_model_diagram);
    cmp_int(d, "model.compile_model", a->model.compile_model, b->model.compile_model);
    cmp_int(d, "model.n_iter_before_swa", a->model.n_iter_before_swa, b->model.n_iter_before_swa);
    cmp_str(d, "model.pretrained_checkpoint", a->model.pretrained_checkpoint, b->model.pretrained_checkpoint);
    cmp_int(d, "model.strict_pretrained_loading", a->model.strict_pretrained_loading, b->model.strict_pretrained_loading);
    const AttributionAnalysisConfig *aa = &a->attribution_analysis, *ba = &b->attribution_analysis;
    cmp_int(d, "attribution_analysis.compute_attributions", aa->compute_attributions, ba->compute_attributions);
    cmp_int(d, "attribution_analysis.max_attributions_per_class", aa->max_attributions_per_class, ba->max_attributions_per_class);
    cmp_int(d, "attribution_analysis.attributions_every_sample_factor", aa->attributions_every_sample_factor,
            ba->attributions_every_sample_factor);
    cmp_int(d, "attribution_analysis.attribution_background_samples", aa->attribution_background_samples,
            ba->attribution_background_samples);
    cmp_int(d, "data_preparation.streaming_setup_samples", a->data_preparation.streaming_setup_samples,
            b->data_preparation.streaming_setup_samples);
    cmp_int(d, "data_preparation.streaming_batch_size", a->data_preparation.streaming_batch_size,
            b->data_preparation.streaming_batch_size);
}

static void diff_input(Diff *d, const InputConfig *a, const InputConfig *b) {
    cmp_str(d, "input_info.input_source", a->input_source, b->input_source);
    cmp_str(d, "input_info.input_name", a->input_name, b->input_name);
    cmp_str(d, "input_info.input_type", a->input_type, b->input_type);
    cmp_int(d, "input_type_info.max_length", a->max_length, b->max_length);
    cmp_str(d, "input_type_info.byte_encoding", a->byte_encoding, b->byte_encoding);
    cmp_int(d, "input_type_info.sampling_strategy_if_longer", a->sampling_strategy, b->sampling_strategy);
    cmp_str(d, "input_type_info.mixing_subtype", a->mixing_subtype, b->mixing_subtype);
    cmp_dbl(d, "input_type_info.modality_dropout_rate", a->modality_dropout_rate, b->modality_dropout_rate);
    cmp_str(d, "model_config.model_type", a->model_type, b->model_type);
    cmp_int(d, "model_config.embedding_dim", a->embedding_dim, b->embedding_dim);
    cmp_int(d, "model_config.position", a->position, b->position);
    cmp_dbl(d, "model_config.position_dropout", a->position_dropout, b->position_dropout);
    cmp_int(d, "model_config.window_size", a->window_size, b->window_size);
    cmp_int(d, "model_config.pool", a->pool, b->pool);
    cmp_int(d, "model_config.masked", a->masked, b->masked);
    cmp_int(d, "model_config.freeze_pretrained_model", a->freeze_pretrained_model, b->freeze_pretrained_model);
    cmp_int(d, "model_config.model_init_config.num_heads", a->num_heads, b->num_heads);
    cmp_int(d, "model_config.model_init_config.num_layers", a->num_layers, b->num_layers);
    cmp_int(d, "model_config.model_init_config.dim_feedforward", a->dim_feedforward, b->dim_feedforward);
    cmp_dbl(d, "model_config.model_init_config.dropout", a->dropout, b->dropout);
}

static void diff_output(Diff *d, const OutputConfig *a, const OutputConfig *b) {
    cmp_str(d, "output_info.output_source", a->output_source, b->output_source);
    cmp_str(d, "output_info.output_name", a->output_name, b->output_name);
    cmp_str(d, "output_info.output_type", a->output_type, b->output_type);
    cmp_list(d, "output_type_info.target_cat_columns", &a->target_cat_columns, &b->target_cat_columns);
    cmp_list(d, "output_type_info.target_con_columns", &a->target_con_columns, &b->target_con_columns);
    cmp_int(d, "output_type_info.label_parsing_chunk_size", a->label_parsing_chunk_size, b->label_parsing_chunk_size);
    cmp_dbl(d, "output_type_info.cat_label_smoothing", a->cat_label_smoothing, b->cat_label_smoothing);
    cmp_str(d, "output_type_info.cat_loss_name", a->cat_loss_name, b->cat_loss_name);
    cmp_str(d, "output_type_info.con_loss_name", a->con_loss_name, b->con_loss_name);
    cmp_int(d, "output_type_info.uncertainty_weighted_mt_loss", a->uncertainty_weighted_mt_loss,
            b->uncertainty_weighted_mt_loss);
    cmp_str(d, "model_config.model_type", a->model_type, b->model_type);
    cmp_int(d, "model_config.model_init_config.layers", a->layers, b->layers);
    cmp_int(d, "model_config.model_init_config.fc_task_dim", a->fc_task_dim, b->fc_task_dim);
    cmp_dbl(d, "model_config.model_init_config.rb_do", a->rb_do, b->rb_do);
    cmp_dbl(d, "model_config.model_init_config.fc_do", a->fc_do, b->fc_do);
    cmp_dbl(d, "model_config.model_init_config.stochastic_depth_p", a->stochastic_depth_p, b->stochastic_depth_p);
    cmp_str(d, "model_config.model_init_config.final_layer_type", a->final_layer_type, b->final_layer_type);
}

bool config_equal(const ExperimentConfig *a, const ExperimentConfig *b, char *diff, size_t difflen) {
    Diff d = {diff, difflen, false};
    if (difflen) diff[0] = 0;
    diff_global(&d, &a->global, &b->global);
    cmp_int(&d, "number of inputs", a->n_inputs, b->n_inputs);
    for (int i = 0; !d.differ && i < a->n_inputs; i++) diff_input(&d, &a->inputs[i], &b->inputs[i]);
    cmp_int(&d, "number of outputs", a->n_outputs, b->n_outputs);
    for (int i = 0; !d.differ && i < a->n_outputs; i++) diff_output(&d, &a->outputs[i], &b->outputs[i]);
    const FusionConfig *f = &a->fusion, *g = &b->fusion;
    cmp_str(&d, "fusion.model_type", f->model_type, g->model_type);
    cmp_int(&d, "fusion.model_config.layers", f->layers, g->layers);
    cmp_int(&d, "fusion.model_config.fc_task_dim", f->fc_task_dim, g->fc_task_dim);
    cmp_dbl(&d, "fusion.model_config.rb_do", f->rb_do, g->rb_do);
    cmp_dbl(&d, "fusion.model_config.fc_do", f->fc_do, g->fc_do);
    cmp_dbl(&d, "fusion.model_config.stochastic_depth_p", f->stochastic_depth_p, g->stochastic_depth_p);
    return !d.differ;
}
