// config.c: YAML node trees -> the typed configs of config.h, with EIR's defaults (spec §1) and
// one precise message for the first problem found: "<file>:<line>:<col>: <dotted.key>: expected
// <what>, found <what>". Files are parsed by yaml_tree.c; command-line overrides are injected into
// the file whose stem they name before several files of one kind are merged (EIR's order). What
// each key is (type, default, bounds, choices) is in the tables of config_schema.c; this file reads
// a tree by its table (load_by_schema), with the typed getters below and the few hooks the tables
// name.
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
#include "config/config.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "config/cli_args.h"
#include "config/config_schema.h"
#include "config/yaml_tree.h"

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

typedef struct ConfigLoader {
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

typedef struct ConfigSec {
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

// ---------------------------------------------------------------- the schema tables (config_schema.c)

// The keys whose reading is more than a type and bounds (hooks named in the tables).

// valid_size: float -> fraction of the IDs; int -> a count; float > 1.0 -> int() of it (EIR
// modify_global_config). 1.0 as a float is refused, as sklearn's test_size refuses it.
void config_load_valid_size(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    BasicExperimentConfig *be = &((GlobalConfig *)base)->basic_experiment;
    be->valid_size = k->def_num;
    be->valid_size_is_count = false;
    const YamlNode *v = sec_get(s, k->key);
    if (L->failed || !v) return;
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

// device: deprecated in EIR (accelerator.hardware decides); read as cpu|cuda|auto, "cuda:N"
// taken as cuda since eir-dist gives each MPI rank its own device.
void config_load_device(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    char **out = CK_FIELD(char *, base, k);
    const YamlNode *v = sec_get(s, k->key);
    if (!L->failed && v && v->kind == YNODE_SCALAR && strncmp(v->text, "cuda:", 5) == 0 && v->text[5]) {
        free(*out);
        *out = strdup_check("cuda");
        return;
    }
    Choices ch = {k->choices, k->eir_only, k->why};
    get_choice_str(L, s, k->key, &ch, k->def_index, out);
}

void config_load_lr_schedule(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    const YamlNode *v = sec_get(s, k->key);
    if (!L->failed && v && v->kind == YNODE_SCALAR && strcmp(v->text, "same") == 0)
        fail_at(L, v, "lr_schedule.lr_schedule",
                "'same' is declared by EIR but every EIR run with it fails (its guard compares the "
                "schedule config object to the string 'same', so it raises ValueError); expected one of "
                "'plateau', 'cosine', 'cycle'");
    Choices ch = {k->choices, NULL, NULL};
    *CK_FIELD(int, base, k) = get_choice(L, s, k->key, &ch, k->def_index, NO_NULL);
}

// warmup_steps: "auto" (= round(2 / (1 - b2)), Python's round: half to even) or an int >= 0
void config_load_warmup(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    GlobalConfig *g = base;
    LRScheduleConfig *lr = &g->lr_schedule;
    lr->warmup_auto = true;
    const YamlNode *v = sec_get(s, k->key);
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
    if (lr->warmup_auto) lr->warmup_steps = (int)nearbyint(2.0 / (1.0 - g->optimization.b2));
}

// evaluation_crops: an integer >= 1 or "all" (stored as 0, CROPS_ALL of infer/crops.h)
void config_load_evaluation_crops(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    int *out = CK_FIELD(int, base, k);
    *out = (int)k->def_int;
    const YamlNode *v = sec_get(s, k->key);
    if (L->failed || !v) return;
    if (v->kind == YNODE_SCALAR && v->type == YSCALAR_STR && strcmp(v->text, "all") == 0) {
        *out = 0;
    } else if (v->kind == YNODE_SCALAR && v->type == YSCALAR_INT && v->ival >= 1 && v->ival <= INT_MAX) {
        *out = (int)v->ival;
    } else {
        char found[128];
        ytree_describe(v, found, sizeof found);
        fail_at(L, v, "evaluation_checkpoint.evaluation_crops", "expected an integer >= 1 or \"all\", got %s", found);
    }
}

void config_load_checkpoint_interval(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    EvaluationCheckpointConfig *ec = &((GlobalConfig *)base)->evaluation_checkpoint;
    read_int(L, s, k->key, (int)k->def_int, k->lo, k->hi, true, (int)k->null_int, &ec->checkpoint_interval);
    if (!L->failed && ec->checkpoint_interval > 0 && ec->checkpoint_interval % ec->sample_interval != 0)
        fail_at(L, sec_get(s, k->key), "evaluation_checkpoint.checkpoint_interval",
                "%d is not a multiple of sample_interval %d (EIR raises ValueError: a checkpoint is "
                "scored with the latest validation, which runs every sample_interval iterations)",
                ec->checkpoint_interval, ec->sample_interval);
}

// An input's model_type: null (or absent) means the default model, as in EIR ("if not model_type").
void config_load_input_model_type(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    const YamlNode *v = sec_get(s, k->key);
    if (!L->failed && v && v->kind == YNODE_SCALAR && !is_null(v) && strcmp(v->text, "sequence-default") != 0)
        fail_at(L, v, "model_config.model_type", "'%s' is not supported: EIR reads any model_type other than "
                "'sequence-default' as a HuggingFace model name, and eir-dist implements only EIR's own "
                "transformer; use 'sequence-default'", v->text);
    Choices ch = {k->choices, NULL, NULL};
    char **out = CK_FIELD(char *, base, k);
    free(*out);
    *out = strdup_check(k->choices[get_choice(L, s, k->key, &ch, 0, 0)]);
}

// pool: null (the default) or avg / max
void config_load_pool(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    Choices ch = {k->choices, NULL, NULL};
    *CK_FIELD(int, base, k) = get_choice(L, s, k->key, &ch, -1, -1) + 1;  // InputPool: none = 0
}

// dim_feedforward: "auto" (= 4 * embedding_dim, resolved in config_finish_input) or an int >= 1
void config_load_dim_feedforward(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    InputConfig *in = base;
    in->dim_feedforward_auto = true;
    const YamlNode *v = sec_get(s, k->key);
    if (L->failed || !v || (v->kind == YNODE_SCALAR && v->type == YSCALAR_STR && strcmp(v->text, "auto") == 0)) return;
    in->dim_feedforward_auto = false;
    if (v->kind == YNODE_SCALAR && v->type == YSCALAR_INT && v->ival >= 1 && v->ival <= INT_MAX)
        in->dim_feedforward = (int)v->ival;
    else
        fail_expected(L, v, "model_config.model_init_config.dim_feedforward", "'auto' or an integer >= 1");
}

// Derived values and cross-field rules of an input (spec §1.2, §3.1).
void config_finish_input(Loader *L, const Sec *root, void *base) {
    InputConfig *in = base;
    Sec mc = sec_child(L, root, "model_config");
    Sec ic = sec_child(L, &mc, "model_init_config");
    in->embedding_dim_auto = in->embedding_dim == -1;
    // blame embedding_dim where it is written, else num_heads, else the model_config section
    const YamlNode *blame = sec_get(&mc, "embedding_dim");
    if (!blame) blame = sec_get(&ic, "num_heads");
    if (!blame) blame = mc.at;
    if (in->embedding_dim_auto) {
        // EIR: ceil(int(V ** 0.25) / num_heads) * num_heads
        int vocab_root = (int)pow((double)BYTES_VOCAB_SIZE, 0.25);
        in->embedding_dim = (int)ceil((double)vocab_root / in->num_heads) * in->num_heads;
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
    if (in->global_embedding_dim == -1) in->global_embedding_dim = in->embedding_dim;
    if (in->global_layers > 0) {
        if (in->window_size == 0) {
            fail_at(L, sec_get(&ic, "global_layers"), "model_config.model_init_config.global_layers",
                    "%d needs model_config.window_size > 0 (the global stage runs across the windows; "
                    "window_size 0 makes one window)", in->global_layers);
            return;
        }
        if (in->global_embedding_dim % in->global_heads != 0 || in->global_embedding_dim / in->global_heads > 64) {
            const YamlNode *gb = sec_get(&ic, "global_embedding_dim");
            fail_at(L, gb ? gb : sec_get(&ic, "global_layers"), "model_config.model_init_config.global_embedding_dim",
                    "%d is not divisible by global_heads = %d into heads of at most 64 dimensions",
                    in->global_embedding_dim, in->global_heads);
            return;
        }
    }
    if (in->window_size > in->max_length)
        fail_at(L, sec_get(&mc, "window_size"), "model_config.window_size",
                "%d is larger than input_type_info.max_length = %d (expected 0 for no windowing, or an "
                "integer in [1, max_length])", in->window_size, in->max_length);
}

// An output needs a target column, and a column is categorical or continuous, not both.
void config_finish_output(Loader *L, const Sec *root, void *base) {
    OutputConfig *out = base;
    Sec ti = sec_child(L, root, "output_type_info");
    if (out->target_cat_columns.n + out->target_con_columns.n == 0) {
        fail_at(L, ti.at, "output_type_info", "no target columns: expected at least one column name in "
                "target_cat_columns or target_con_columns");
        return;
    }
    for (int i = 0; !L->failed && i < out->target_con_columns.n; i++) {
        if (!strlist_contains(&out->target_cat_columns, out->target_con_columns.items[i])) continue;
        fail_at(L, sec_get(&ti, "target_con_columns")->items[i], "output_type_info.target_con_columns",
                "'%s' is also listed in target_cat_columns (a column is either categorical or continuous)",
                out->target_con_columns.items[i]);
    }
}

// Keys that accept one value only: the message says where the value really comes from.
static void load_fixed(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    const YamlNode *v = sec_get(s, k->key);
    bool ok;
    char shown[64];
    if (k->def_str) {
        char **out = CK_FIELD(char *, base, k);
        free(*out);
        *out = strdup_check(k->def_str);
        ok = !v || (v->kind == YNODE_SCALAR && strcmp(v->text, k->def_str) == 0);
        snprintf(shown, sizeof shown, "'%s'", k->def_str);
    } else {
        *CK_FIELD(int, base, k) = (int)k->def_int;
        ok = !v || (v->kind == YNODE_SCALAR && v->type == YSCALAR_INT && v->ival == k->def_int);
        snprintf(shown, sizeof shown, "%lld", k->def_int);
    }
    if (L->failed || ok) return;
    char path[256];
    key_path(s, k->key, path, sizeof path);
    fail_at(L, v, path, "only %s is supported: %s", shown, k->why);
}

// One key of a table: its default, or its value read and checked.
static void load_key(Loader *L, const Sec *s, const ConfigKey *k, void *base) {
    if (k->load) {
        k->load(L, s, k, base);
        return;
    }
    Choices ch = {k->choices, k->eir_only, k->why};
    static const char *const empty[] = {NULL};
    switch (k->kind) {
    case CK_INT:
        read_int(L, s, k->key, (int)k->def_int, k->lo, k->hi, k->nullable, (int)k->null_int, CK_FIELD(int, base, k));
        break;
    case CK_NUM:
        read_num(L, s, k->key, k->def_num, k->nlo, k->nlo_open, k->nhi, k->nhi_open, k->nullable, k->null_num,
                 CK_FIELD(double, base, k));
        break;
    case CK_BOOL: get_bool(L, s, k->key, k->def_int != 0, CK_FIELD(bool, base, k)); break;
    case CK_FALSE_ONLY: {
        bool unused;
        refuse_if_true(L, s, k->key, k->why, k->off == CK_NO_FIELD ? &unused : CK_FIELD(bool, base, k));
        break;
    }
    case CK_STR: {
        bool required = k->required && !(L->flags & CONFIG_NO_PATH_CHECKS && k->stripped_null);
        if (required) require_key(L, s, k->key, k->doc);
        get_str(L, s, k->key, k->def_str, required, !k->required || k->stripped_null, CK_FIELD(char *, base, k));
        break;
    }
    case CK_PATH: get_path(L, s, k->key, k->required, k->path_kind, k->doc, CK_FIELD(char *, base, k)); break;
    case CK_CHOICE: {
        if (k->required) require_key(L, s, k->key, k->doc);
        char **out = CK_FIELD(char *, base, k);
        int i = get_choice(L, s, k->key, &ch, k->def_index, k->nullable ? k->def_index : NO_NULL);
        free(*out);
        *out = strdup_check(k->choices[i]);
        break;
    }
    case CK_ENUM: *CK_FIELD(int, base, k) = get_choice(L, s, k->key, &ch, k->def_index, NO_NULL); break;
    case CK_METRICS: {
        StrList *out = CK_FIELD(StrList, base, k);
        const YamlNode *v = sec_get(s, k->key);
        if (k->nullable && v && is_null(v)) strlist_set(out, k->def_list);  // null: EIR's default set
        else get_metric_list(L, s, k->key, k->def_list, &ch, out);
        break;
    }
    case CK_STRLIST: get_strlist(L, s, k->key, empty, true, CK_FIELD(StrList, base, k)); break;
    case CK_LAYERS: get_layers(L, s, CK_FIELD(int, base, k)); break;
    case CK_NULL_ONLY: refuse_if_set(L, s, k->key, k->why); break;
    case CK_KEYS_ONLY: {
        Sec sub = sec_child(L, s, k->key);
        check_keys(L, &sub, k->choices, k->doc);
        break;
    }
    case CK_FIXED: load_fixed(L, s, k, base); break;
    case CK_CUSTOM: eir_die("config schema: %s.%s has no reader", k->section, k->key);
    }
}

// Appends name to list (n < cap) unless it is there.
static void add_name(const char **list, int *n, int cap, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], name)) return;
    if (*n < cap) list[(*n)++] = name;
}

// The names a section may hold: its keys and its direct sub-sections, in the table's order.
// Sub-section names point into a static buffer pool owned by the caller (names).
static void section_names(const ConfigSchema *sc, const char *section, const char **known, int cap,
                          char names[][64]) {
    int n = 0, nn = 0;
    size_t sl = strlen(section);
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        if (!strcmp(k->section, section)) {
            add_name(known, &n, cap - 1, k->key);
            continue;
        }
        // a section below this one: its first component after "section."
        const char *rest = NULL;
        if (!sl) rest = k->section;
        else if (!strncmp(k->section, section, sl) && k->section[sl] == '.') rest = k->section + sl + 1;
        if (!rest || !*rest || nn >= 16) continue;
        size_t cl = strcspn(rest, ".");
        snprintf(names[nn], 64, "%.*s", (int)cl, rest);
        bool seen = false;
        for (int j = 0; j < n; j++) seen = seen || !strcmp(known[j], names[nn]);
        if (!seen) add_name(known, &n, cap - 1, names[nn++]);
    }
    known[n] = NULL;
}

static const char *section_what(const ConfigSchema *sc, const char *section) {
    for (int i = 0; sc->sections && sc->sections[i].section; i++)
        if (!strcmp(sc->sections[i].section, section)) return sc->sections[i].what;
    return section;
}

// The section `dotted` of the file (checked for unknown keys once: a table's rows of one section
// are contiguous).
static Sec open_section(Loader *L, const Sec *root, const ConfigSchema *sc, const char *dotted) {
    Sec s = *root;
    const char *p = dotted;
    while (*p) {
        char comp[64];
        size_t cl = strcspn(p, ".");
        snprintf(comp, sizeof comp, "%.*s", (int)cl, p);
        s = sec_child(L, &s, comp);
        p += cl;
        if (*p == '.') p++;
    }
    const char *known[64];
    char names[16][64];
    section_names(sc, dotted, known, 64, names);
    check_keys(L, &s, known, section_what(sc, dotted));
    return s;
}

// One config file (tree may be NULL: every default) into base, by its table.
static void load_by_schema(Loader *L, const ConfigSchema *sc, const YamlNode *tree, void *base) {
    Sec root = sec_root(tree);
    if (tree && sc == &CONFIG_GLOBAL_SCHEMA) {
        // unknown sections: EIR ignores them silently; here they are errors (a typo must be seen)
        for (int i = 0; !L->failed && i < tree->n; i++) {
            const YamlNode *k = tree->keys[i];
            bool ok = false;
            for (int j = 0; CONFIG_GLOBAL_SECTIONS[j] && !ok; j++) ok = strcmp(k->text, CONFIG_GLOBAL_SECTIONS[j]) == 0;
            if (ok) continue;
            char names[1024], dym[160] = "";
            join_names(CONFIG_GLOBAL_SECTIONS, names, sizeof names);
            const char *near = closest_name(k->text, CONFIG_GLOBAL_SECTIONS);
            if (near) snprintf(dym, sizeof dym, "; did you mean '%s'?", near);
            fail_at(L, k, k->text, "unknown global config section%s (known sections: %s; EIR would silently "
                    "ignore it, eir-dist refuses it so a typo cannot go unnoticed)", dym, names);
        }
    } else if (tree) {
        const char *known[64];
        char names[16][64];
        section_names(sc, "", known, 64, names);
        check_keys(L, &root, known, sc->file_what);
    }
    for (int i = 0; tree && sc->sections && sc->sections[i].section; i++)
        if (sc->sections[i].required && !L->failed && !sec_get(&root, sc->sections[i].section))
            fail_at(L, tree, sc->sections[i].section, "required section is missing (%s)", sc->sections[i].required);
    const char *cur = NULL;
    Sec s = root;
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        if (!cur || strcmp(cur, k->section)) {
            cur = k->section;
            s = *cur ? open_section(L, &root, sc, cur) : root;
        }
        load_key(L, &s, k, base);
    }
    if (!L->failed && sc->finish) sc->finish(L, &root, base);
}

// Frees the strings and lists a table's fields hold.
static void free_by_schema(const ConfigSchema *sc, void *base) {
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        if (k->off == CK_NO_FIELD) continue;
        if (k->kind == CK_METRICS || k->kind == CK_STRLIST) strlist_free(CK_FIELD(StrList, base, k));
        else if (k->kind == CK_STR || k->kind == CK_PATH || k->kind == CK_CHOICE || (k->kind == CK_FIXED && k->def_str))
            free(*CK_FIELD(char *, base, k));
    }
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
    load_by_schema(L, &CONFIG_GLOBAL_SCHEMA, cfg->global_tree, &cfg->global);
    cfg->inputs = calloc_check((size_t)(cfg->n_inputs > 0 ? cfg->n_inputs : 1), sizeof(InputConfig));
    for (int i = 0; i < cfg->n_inputs && !L->failed; i++) {
        cfg->inputs[i].source_file = strdup_check(cfg->input_trees[i]->file);
        load_by_schema(L, &CONFIG_INPUT_SCHEMA, cfg->input_trees[i], &cfg->inputs[i]);
    }
    load_by_schema(L, &CONFIG_FUSION_SCHEMA, cfg->fusion_tree, &cfg->fusion);
    cfg->outputs = calloc_check((size_t)(cfg->n_outputs > 0 ? cfg->n_outputs : 1), sizeof(OutputConfig));
    for (int i = 0; i < cfg->n_outputs && !L->failed; i++) {
        cfg->outputs[i].source_file = strdup_check(cfg->output_trees[i]->file);
        load_by_schema(L, &CONFIG_OUTPUT_SCHEMA, cfg->output_trees[i], &cfg->outputs[i]);
    }
    if (!L->failed && cfg->n_inputs == 0)
        fail_at(L, NULL, NULL, "no input configs: eir-dist needs at least one (--input_configs I.yaml)");
    if (!L->failed && cfg->n_outputs == 0)
        fail_at(L, NULL, NULL, "no output configs: eir-dist needs at least one (--output_configs O.yaml)");
    check_names(L, cfg);
}

void config_free(ExperimentConfig *cfg) {
    free_by_schema(&CONFIG_GLOBAL_SCHEMA, &cfg->global);
    for (int i = 0; cfg->inputs && i < cfg->n_inputs; i++) {
        free_by_schema(&CONFIG_INPUT_SCHEMA, &cfg->inputs[i]);
        free(cfg->inputs[i].source_file);
    }
    free(cfg->inputs);
    for (int i = 0; cfg->outputs && i < cfg->n_outputs; i++) {
        free_by_schema(&CONFIG_OUTPUT_SCHEMA, &cfg->outputs[i]);
        free(cfg->outputs[i].source_file);
    }
    free(cfg->outputs);
    free_by_schema(&CONFIG_FUSION_SCHEMA, &cfg->fusion);
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

// Every field of a table, in its order; the first difference is noted.
static void diff_by_schema(Diff *d, const ConfigSchema *sc, const void *a, const void *b, const char *prefix) {
    for (int i = 0; i < sc->n_keys && !d->differ; i++) {
        const ConfigKey *k = &sc->keys[i];
        char path[300];
        snprintf(path, sizeof path, "%s%s%s%s", prefix, k->section, *k->section ? "." : "", k->key);
        if (k->equal) {
            if (!k->equal(a, b)) diff_note(d, path, "values differ");
            continue;
        }
        if (k->off == CK_NO_FIELD) continue;
        switch (k->kind) {
        case CK_INT: case CK_ENUM: case CK_LAYERS:
            cmp_int(d, path, *CK_CFIELD(int, a, k), *CK_CFIELD(int, b, k));
            break;
        case CK_NUM: cmp_dbl(d, path, *CK_CFIELD(double, a, k), *CK_CFIELD(double, b, k)); break;
        case CK_BOOL: case CK_FALSE_ONLY: cmp_int(d, path, *CK_CFIELD(bool, a, k), *CK_CFIELD(bool, b, k)); break;
        case CK_STR: case CK_PATH: case CK_CHOICE:
            cmp_str(d, path, *CK_CFIELD(char *, a, k), *CK_CFIELD(char *, b, k));
            break;
        case CK_FIXED:
            if (k->def_str) cmp_str(d, path, *CK_CFIELD(char *, a, k), *CK_CFIELD(char *, b, k));
            else cmp_int(d, path, *CK_CFIELD(int, a, k), *CK_CFIELD(int, b, k));
            break;
        case CK_METRICS: case CK_STRLIST: cmp_list(d, path, CK_CFIELD(StrList, a, k), CK_CFIELD(StrList, b, k)); break;
        case CK_NULL_ONLY: case CK_KEYS_ONLY: case CK_CUSTOM: break;
        }
    }
}

bool config_equal(const ExperimentConfig *a, const ExperimentConfig *b, char *diff, size_t difflen) {
    Diff d = {diff, difflen, false};
    if (difflen) diff[0] = 0;
    diff_by_schema(&d, &CONFIG_GLOBAL_SCHEMA, &a->global, &b->global, "");
    cmp_int(&d, "number of inputs", a->n_inputs, b->n_inputs);
    for (int i = 0; !d.differ && i < a->n_inputs; i++)
        diff_by_schema(&d, &CONFIG_INPUT_SCHEMA, &a->inputs[i], &b->inputs[i], "");
    cmp_int(&d, "number of outputs", a->n_outputs, b->n_outputs);
    for (int i = 0; !d.differ && i < a->n_outputs; i++)
        diff_by_schema(&d, &CONFIG_OUTPUT_SCHEMA, &a->outputs[i], &b->outputs[i], "");
    diff_by_schema(&d, &CONFIG_FUSION_SCHEMA, &a->fusion, &b->fusion, "fusion.");
    return !d.differ;
}
