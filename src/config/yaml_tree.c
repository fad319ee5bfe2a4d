// yaml_tree.c: libyaml parser events -> YamlNode tree with file/line/column marks.
// EIR loads configs with PyYAML (YAML 1.1 resolution: yes/no/on/off are booleans, 0755 is octal),
// so plain scalars are resolved the same way here; the one deliberate extension is that "3e-4"
// (no dot) is a float, where PyYAML would silently hand EIR the string "3e-4".
// Also handled like PyYAML: anchors/aliases and "<<" merge keys. Unlike PyYAML, a key repeated in
// one mapping is an error (PyYAML silently keeps the last one, which hides typos).
#include "config/yaml_tree.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/util.h"

// Guards against hostile inputs: nesting that would blow the C stack and alias bombs.
#define YTREE_MAX_DEPTH 200
#define YTREE_MAX_NODES 1000000L

// ---------------------------------------------------------------- nodes

static YamlNode *node_new(YamlNodeKind kind, const char *file, int line, int col) {
    YamlNode *n = calloc_check(1, sizeof(YamlNode));
    n->kind = kind;
    n->file = strdup_check(file ? file : "");
    n->line = line;
    n->col = col;
    return n;
}

YamlNode *ytree_new_map(const char *file, int line, int col) { return node_new(YNODE_MAP, file, line, col); }
YamlNode *ytree_new_seq(const char *file, int line, int col) { return node_new(YNODE_SEQ, file, line, col); }

void ytree_free(YamlNode *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        if (n->keys) ytree_free(n->keys[i]);
        ytree_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->text);
    free(n->file);
    free(n);
}

static void node_grow(YamlNode *n) {
    if (n->n < n->cap) return;
    n->cap = n->cap ? 2 * n->cap : 8;
    n->items = realloc_check(n->items, (size_t)n->cap * sizeof(YamlNode *));
    if (n->kind == YNODE_MAP) n->keys = realloc_check(n->keys, (size_t)n->cap * sizeof(YamlNode *));
}

void ytree_seq_push(YamlNode *seq, YamlNode *item) {
    node_grow(seq);
    seq->items[seq->n++] = item;
}

int ytree_map_index(const YamlNode *map, const char *key) {
    if (!map || map->kind != YNODE_MAP) return -1;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->text, key) == 0) return i;
    return -1;
}

YamlNode *ytree_map_get(const YamlNode *map, const char *key) {
    int i = ytree_map_index(map, key);
    return i < 0 ? NULL : map->items[i];
}

static void map_append(YamlNode *map, YamlNode *key, YamlNode *val) {
    node_grow(map);
    map->keys[map->n] = key;
    map->items[map->n] = val;
    map->n++;
}

void ytree_map_set(YamlNode *map, YamlNode *key, YamlNode *val) {
    int i = ytree_map_index(map, key->text);
    if (i < 0) {
        map_append(map, key, val);
        return;
    }
    ytree_free(map->keys[i]);
    ytree_free(map->items[i]);
    map->keys[i] = key;
    map->items[i] = val;
}

YamlNode *ytree_clone(const YamlNode *n) {
    if (!n) return NULL;
    YamlNode *c = node_new(n->kind, n->file, n->line, n->col);
    c->text = n->text ? strdup_check(n->text) : NULL;
    c->quoted = n->quoted;
    c->type = n->type;
    c->ival = n->ival;
    c->fval = n->fval;
    c->bval = n->bval;
    for (int i = 0; i < n->n; i++) {
        if (n->kind == YNODE_MAP) map_append(c, ytree_clone(n->keys[i]), ytree_clone(n->items[i]));
        else ytree_seq_push(c, ytree_clone(n->items[i]));
    }
    return c;
}

void ytree_merge(YamlNode *dst, YamlNode *src) {
    for (int i = 0; i < src->n; i++) {
        YamlNode *k = src->keys[i], *v = src->items[i];
        int j = ytree_map_index(dst, k->text);
        if (j >= 0 && dst->items[j]->kind == YNODE_MAP && v->kind == YNODE_MAP) {
            ytree_merge(dst->items[j], v);
            ytree_free(k);
        } else {
            ytree_map_set(dst, k, v);
        }
    }
    src->n = 0;  // children moved out
    ytree_free(src);
}

// ---------------------------------------------------------------- scalar resolution (YAML 1.1)

static bool in_list(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

static const char *const k_null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const k_true_words[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL};
static const char *const k_false_words[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};

// Copies s without '_' (YAML 1.1 allows digit separators) into buf; false if it does not fit.
static bool strip_underscores(const char *s, char *buf, size_t len) {
    size_t j = 0;
    for (; *s; s++) {
        if (*s == '_') continue;
        if (j + 1 >= len) return false;
        buf[j++] = *s;
    }
    buf[j] = 0;
    return true;
}

static bool all_chars_in(const char *s, const char *set) {
    if (!*s) return false;
    for (; *s; s++)
        if (!strchr(set, *s)) return false;
    return true;
}

// PyYAML's int forms: [-+]? then 0b[01_]+ | 0x[0-9a-fA-F_]+ | 0[0-7_]+ (octal) | 0 | [1-9][0-9_]*.
// (Sexagesimal 1:30 is left a string.)
static bool parse_int_text(const char *text, long long *out, double *fout) {
    const char *s = text;
    int sign = 1;
    if (*s == '+' || *s == '-') sign = (*s++ == '-') ? -1 : 1;
    int base;
    const char *digits;
    if (s[0] == '0' && s[1] == 'b') { base = 2; digits = s + 2; if (!all_chars_in(digits, "01_")) return false; }
    else if (s[0] == '0' && s[1] == 'x') { base = 16; digits = s + 2; if (!all_chars_in(digits, "0123456789abcdefABCDEF_")) return false; }
    else if (s[0] == '0' && s[1]) { base = 8; digits = s + 1; if (!all_chars_in(digits, "01234567_")) return false; }
    else if (s[0] == '0') { base = 10; digits = s; }
    else if (s[0] >= '1' && s[0] <= '9') { base = 10; digits = s; if (!all_chars_in(digits, "0123456789_")) return false; }
    else return false;
    char buf[128];
    if (!strip_underscores(digits, buf, sizeof buf) || !buf[0]) return false;
    errno = 0;
    unsigned long long u = strtoull(buf, NULL, base);
    bool overflow = errno == ERANGE || u > (unsigned long long)LLONG_MAX;
    long long v = overflow ? LLONG_MAX : (long long)u;
    *out = sign * v;
    *fout = (overflow && base == 10) ? sign * strtod(buf, NULL) : (double)*out;
    return true;
}

// PyYAML's float forms ([-+]?digits.digits?(e[-+]digits)?, .5, .inf, .nan) plus the YAML 1.2 form
// with no dot (1e-4, 3E+2) that PyYAML would leave a string.
static bool parse_float_text(const char *text, double *out) {
    const char *s = text;
    int sign = 1;
    if (*s == '+' || *s == '-') sign = (*s++ == '-') ? -1 : 1;
    if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF")) { *out = sign < 0 ? -INFINITY : INFINITY; return true; }
    if (s == text && (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))) { *out = NAN; return true; }
    // mantissa: digits/underscores with at most one dot, at least one digit
    const char *p = s;
    int n_digits = 0, n_dots = 0;
    if (*p == '_') return false;
    for (; *p && *p != 'e' && *p != 'E'; p++) {
        if (*p >= '0' && *p <= '9') n_digits++;
        else if (*p == '.') n_dots++;
        else if (*p != '_') return false;
    }
    if (n_digits == 0 || n_dots > 1) return false;
    bool has_exp = (*p == 'e' || *p == 'E');
    if (has_exp) {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!all_chars_in(p, "0123456789")) return false;
    }
    if (n_dots == 0 && !has_exp) return false;  // that is an int (or a string)
    char buf[128];
    if (!strip_underscores(s, buf, sizeof buf)) return false;
    *out = sign * strtod(buf, NULL);
    return true;
}

static void resolve_plain(YamlNode *n) {
    const char *t = n->text;
    if (in_list(t, k_null_words)) { n->type = YSCALAR_NULL; return; }
    if (in_list(t, k_true_words)) { n->type = YSCALAR_BOOL; n->bval = true; return; }
    if (in_list(t, k_false_words)) { n->type = YSCALAR_BOOL; n->bval = false; return; }
    if (parse_int_text(t, &n->ival, &n->fval)) { n->type = YSCALAR_INT; return; }
    if (parse_float_text(t, &n->fval)) { n->type = YSCALAR_FLOAT; return; }
    n->type = YSCALAR_STR;
}

bool ytree_plain_text_is_not_string(const char *text) {
    YamlNode tmp = {0};
    tmp.text = (char *)text;
    resolve_plain(&tmp);
    return tmp.type != YSCALAR_STR;
}

YamlNode *ytree_new_scalar(const char *file, int line, int col, const char *text, bool quoted) {
    YamlNode *n = node_new(YNODE_SCALAR, file, line, col);
    n->text = strdup_check(text);
    n->quoted = quoted;
    if (quoted) n->type = YSCALAR_STR;
    else resolve_plain(n);
    return n;
}

YamlNode *ytree_new_typed_scalar(const char *file, int line, int col, const char *text,
                                 YamlScalarType type) {
    YamlNode *n = node_new(YNODE_SCALAR, file, line, col);
    n->text = strdup_check(text);
    n->type = type;
    n->quoted = (type == YSCALAR_STR);
    // fill the numeric views from the text (resolution is only used to read the values)
    YamlNode tmp = {0};
    tmp.text = n->text;
    resolve_plain(&tmp);
    n->ival = tmp.ival;
    n->fval = tmp.fval;
    n->bval = tmp.bval;
    if (type == YSCALAR_INT && tmp.type != YSCALAR_INT) n->ival = strtoll(text, NULL, 10), n->fval = strtod(text, NULL);
    if (type == YSCALAR_FLOAT && tmp.type != YSCALAR_FLOAT) n->fval = strtod(text, NULL);
    if (type == YSCALAR_BOOL) n->bval = (strcmp(text, "True") == 0 || strcmp(text, "true") == 0);
    return n;
}

// ---------------------------------------------------------------- messages

void ytree_mark(const YamlNode *n, char *buf, size_t len) {
    if (!n) snprintf(buf, len, "(unknown)");
    else if (n->line > 0) snprintf(buf, len, "%s:%d:%d", n->file, n->line, n->col);
    else snprintf(buf, len, "%s", n->file);
}

void ytree_describe(const YamlNode *n, char *buf, size_t len) {
    if (!n) { snprintf(buf, len, "nothing"); return; }
    if (n->kind == YNODE_MAP) { snprintf(buf, len, "a mapping"); return; }
    if (n->kind == YNODE_SEQ) { snprintf(buf, len, "a list"); return; }
    switch (n->type) {
    case YSCALAR_NULL: snprintf(buf, len, "null"); return;
    case YSCALAR_STR: {
        // keep messages one line: cut long strings
        size_t tl = strlen(n->text);
        if (tl > 60) snprintf(buf, len, "'%.57s...'", n->text);
        else snprintf(buf, len, "'%s'", n->text);
        return;
    }
    default: snprintf(buf, len, "%s", n->text); return;
    }
}

// ---------------------------------------------------------------- parser

typedef struct {
    char *name;
    const YamlNode *node;
} Anchor;

typedef struct {
    yaml_parser_t p;
    const char *file;
    char *err;
    size_t errlen;
    bool failed;
    Anchor *anchors;
    int n_anchors, cap_anchors;
    YamlNode **orphans;  // nodes kept alive only because an anchor may point into them
    int n_orphans, cap_orphans;
    long n_nodes;
} Parser;

static void parse_fail(Parser *ps, const yaml_mark_t *m, const char *fmt, ...) EIR_PRINTF(3, 4);
static void parse_fail(Parser *ps, const yaml_mark_t *m, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    int off = m ? snprintf(ps->err, ps->errlen, "%s:%zu:%zu: ", ps->file, m->line + 1, m->column + 1)
                : snprintf(ps->err, ps->errlen, "%s: ", ps->file);
    if (off < 0 || (size_t)off >= ps->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + off, ps->errlen - (size_t)off, fmt, ap);
    va_end(ap);
}

static void libyaml_fail(Parser *ps) {
    yaml_parser_t *p = &ps->p;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) {
        parse_fail(ps, NULL, "out of memory while parsing YAML");
    } else if (p->error == YAML_READER_ERROR) {
        if (p->problem_value != -1)
            parse_fail(ps, NULL, "malformed YAML: %s: #%X at byte offset %zu", problem,
                       (unsigned)p->problem_value, p->problem_offset);
        else
            parse_fail(ps, NULL, "malformed YAML: %s at byte offset %zu", problem, p->problem_offset);
    } else if (p->context) {
        parse_fail(ps, &p->problem_mark, "malformed YAML: %s (%s at line %zu column %zu)", problem,
                   p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    } else {
        parse_fail(ps, &p->problem_mark, "malformed YAML: %s", problem);
    }
}

static bool next_event(Parser *ps, yaml_event_t *ev) {
    if (ps->failed) return false;
    if (!yaml_parser_parse(&ps->p, ev)) {
        libyaml_fail(ps);
        return false;
    }
    return true;
}

static bool count_node(Parser *ps, const yaml_mark_t *m) {
    if (++ps->n_nodes > YTREE_MAX_NODES) {
        parse_fail(ps, m, "document too large (more than %ld nodes, aliases included)", YTREE_MAX_NODES);
        return false;
    }
    return true;
}

static void add_anchor(Parser *ps, const char *name, const YamlNode *node) {
    if (ps->n_anchors == ps->cap_anchors) {
        ps->cap_anchors = ps->cap_anchors ? 2 * ps->cap_anchors : 8;
        ps->anchors = realloc_check(ps->anchors, (size_t)ps->cap_anchors * sizeof(Anchor));
    }
    ps->anchors[ps->n_anchors].name = strdup_check(name);
    ps->anchors[ps->n_anchors].node = node;
    ps->n_anchors++;
}

static const YamlNode *find_anchor(Parser *ps, const char *name) {
    for (int i = ps->n_anchors - 1; i >= 0; i--)  // a redefined anchor means its latest node
        if (strcmp(ps->anchors[i].name, name) == 0) return ps->anchors[i].node;
    return NULL;
}

static void keep_orphan(Parser *ps, YamlNode *n) {
    if (ps->n_orphans == ps->cap_orphans) {
        ps->cap_orphans = ps->cap_orphans ? 2 * ps->cap_orphans : 4;
        ps->orphans = realloc_check(ps->orphans, (size_t)ps->cap_orphans * sizeof(YamlNode *));
    }
    ps->orphans[ps->n_orphans++] = n;
}

static long count_tree(const YamlNode *n) {
    long c = 1;
    for (int i = 0; i < n->n; i++) c += count_tree(n->items[i]) + (n->keys ? 1 : 0);
    return c;
}

// Core-schema tags we understand; anything else (e.g. !!python/object) is refused.
#define TAG_PREFIX "tag:yaml.org,2002:"
static bool apply_scalar_tag(Parser *ps, YamlNode *n, const char *tag, const yaml_mark_t *m) {
    if (!tag || strcmp(tag, "!") == 0) return true;
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) {
        parse_fail(ps, m, "unsupported YAML tag '%s'", tag);
        return false;
    }
    const char *t = tag + strlen(TAG_PREFIX);
    YamlNode tmp = {0};
    tmp.text = n->text;
    resolve_plain(&tmp);
    if (strcmp(t, "str") == 0) { n->type = YSCALAR_STR; n->quoted = true; return true; }
    YamlScalarType want;
    if (strcmp(t, "int") == 0) want = YSCALAR_INT;
    else if (strcmp(t, "float") == 0) want = YSCALAR_FLOAT;
    else if (strcmp(t, "bool") == 0) want = YSCALAR_BOOL;
    else if (strcmp(t, "null") == 0) want = YSCALAR_NULL;
    else {
        parse_fail(ps, m, "unsupported YAML tag '!!%s'", t);
        return false;
    }
    if (want == YSCALAR_FLOAT && tmp.type == YSCALAR_INT) tmp.type = YSCALAR_FLOAT;
    if (tmp.type != want) {
        parse_fail(ps, m, "'%s' cannot be read as !!%s", n->text, t);
        return false;
    }
    n->type = want;
    n->ival = tmp.ival;
    n->fval = tmp.fval;
    n->bval = tmp.bval;
    n->quoted = false;
    return true;
}

static bool check_collection_tag(Parser *ps, const char *tag, const char *want, const yaml_mark_t *m) {
    if (!tag || strcmp(tag, "!") == 0) return true;
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 && strcmp(tag + strlen(TAG_PREFIX), want) == 0)
        return true;
    parse_fail(ps, m, "unsupported YAML tag '%s'", tag);
    return false;
}

static YamlNode *parse_node(Parser *ps, yaml_event_t *ev, int depth);

static YamlNode *parse_sequence(Parser *ps, yaml_event_t *start, int depth) {
    const yaml_mark_t m = start->start_mark;
    YamlNode *seq = node_new(YNODE_SEQ, ps->file, (int)m.line + 1, (int)m.column + 1);
    if (!check_collection_tag(ps, (const char *)start->data.sequence_start.tag, "seq", &m)) goto fail;
    for (;;) {
        yaml_event_t ev;
        if (!next_event(ps, &ev)) goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return seq;
        }
        YamlNode *item = parse_node(ps, &ev, depth + 1);
        if (!item) goto fail;
        ytree_seq_push(seq, item);
    }
fail:
    ytree_free(seq);
    return NULL;
}

// "<<: *base" or "<<: [*a, *b]": keys of the merged mappings that the mapping does not set itself
// are copied in; among several merged mappings the earlier one wins (PyYAML's order).
static bool apply_merge_keys(Parser *ps, YamlNode *map, YamlNode *merges) {
    YamlNode **srcs = &merges;
    int n_srcs = 1;
    if (merges->kind == YNODE_SEQ) {
        srcs = merges->items;
        n_srcs = merges->n;
    }
    for (int s = 0; s < n_srcs; s++) {
        const YamlNode *src = srcs[s];
        if (src->kind != YNODE_MAP) {
            yaml_mark_t m = {0, (size_t)(src->line - 1), (size_t)(src->col - 1)};
            parse_fail(ps, &m, "the value of a '<<' merge key must be a mapping or a list of mappings");
            return false;
        }
        for (int i = 0; i < src->n; i++) {
            if (ytree_map_index(map, src->keys[i]->text) >= 0) continue;
            map_append(map, ytree_clone(src->keys[i]), ytree_clone(src->items[i]));
            ps->n_nodes += count_tree(src->items[i]) + 1;
        }
    }
    if (ps->n_nodes > YTREE_MAX_NODES) {
        parse_fail(ps, NULL, "document too large (more than %ld nodes, aliases included)", YTREE_MAX_NODES);
        return false;
    }
    return true;
}

static YamlNode *parse_mapping(Parser *ps, yaml_event_t *start, int depth) {
    const yaml_mark_t m = start->start_mark;
    YamlNode *map = node_new(YNODE_MAP, ps->file, (int)m.line + 1, (int)m.column + 1);
    YamlNode *merges = NULL;  // the value of a "<<" key, applied once all explicit keys are read
    if (!check_collection_tag(ps, (const char *)start->data.mapping_start.tag, "map", &m)) goto fail;
    for (;;) {
        yaml_event_t ev;
        if (!next_event(ps, &ev)) goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        yaml_mark_t key_mark = ev.start_mark;
        YamlNode *key = parse_node(ps, &ev, depth + 1);
        if (!key) goto fail;
        if (key->kind != YNODE_SCALAR) {
            parse_fail(ps, &key_mark, "a mapping key must be a plain value, not %s",
                       key->kind == YNODE_MAP ? "a mapping" : "a list");
            ytree_free(key);
            goto fail;
        }
        yaml_event_t vev;
        if (!next_event(ps, &vev)) { ytree_free(key); goto fail; }
        YamlNode *val = parse_node(ps, &vev, depth + 1);
        if (!val) { ytree_free(key); goto fail; }
        bool is_merge = !key->quoted && strcmp(key->text, "<<") == 0;
        int prev = is_merge ? (merges ? 0 : -1) : ytree_map_index(map, key->text);
        if (prev >= 0) {
            const YamlNode *first = is_merge ? merges : map->keys[prev];
            parse_fail(ps, &key_mark, "duplicate key '%s' in one mapping (first set at line %d column %d)",
                       key->text, first->line, first->col);
            ytree_free(key);
            ytree_free(val);
            goto fail;
        }
        if (is_merge) {
            ytree_free(key);
            merges = val;
        } else {
            map_append(map, key, val);
        }
    }
    if (merges) {
        bool ok = apply_merge_keys(ps, map, merges);
        keep_orphan(ps, merges);  // an anchor may point into it
        merges = NULL;
        if (!ok) goto fail;
    }
    return map;
fail:
    if (merges) keep_orphan(ps, merges);
    ytree_free(map);
    return NULL;
}

// Builds the node that starts with *ev (consumed). NULL on error (message in ps->err).
static YamlNode *parse_node(Parser *ps, yaml_event_t *ev, int depth) {
    yaml_mark_t m = ev->start_mark;
    YamlNode *n = NULL;
    const char *anchor = NULL;
    if (depth > YTREE_MAX_DEPTH) {
        parse_fail(ps, &m, "YAML nested deeper than %d levels", YTREE_MAX_DEPTH);
        yaml_event_delete(ev);
        return NULL;
    }
    if (!count_node(ps, &m)) {
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (strlen(v) != len) {
            parse_fail(ps, &m, "a NUL character inside a YAML value is not supported");
            break;
        }
        bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        n = ytree_new_scalar(ps->file, (int)m.line + 1, (int)m.column + 1, v, quoted);
        if (!apply_scalar_tag(ps, n, (const char *)ev->data.scalar.tag, &m)) {
            ytree_free(n);
            n = NULL;
        }
        anchor = (const char *)ev->data.scalar.anchor;
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
        n = parse_sequence(ps, ev, depth);
        anchor = (const char *)ev->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        n = parse_mapping(ps, ev, depth);
        anchor = (const char *)ev->data.mapping_start.anchor;
        break;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        const YamlNode *target = find_anchor(ps, name);
        if (!target) {
            parse_fail(ps, &m, "alias '*%s' refers to an anchor that is not defined before it", name);
            break;
        }
        ps->n_nodes += count_tree(target);
        if (ps->n_nodes > YTREE_MAX_NODES) {
            parse_fail(ps, &m, "document too large (more than %ld nodes, aliases included)", YTREE_MAX_NODES);
            break;
        }
        n = ytree_clone(target);
        break;
    }
    default:
        parse_fail(ps, &m, "unexpected YAML event %d", (int)ev->type);
        break;
    }
    if (n && anchor) add_anchor(ps, anchor, n);
    yaml_event_delete(ev);
    return n;
}

static YamlNode *parse_stream(Parser *ps) {
    yaml_event_t ev;
    YamlNode *root = NULL;
    if (!next_event(ps, &ev)) return NULL;  // STREAM-START
    yaml_event_delete(&ev);
    if (!next_event(ps, &ev)) return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) {  // empty file (or only comments)
        yaml_event_delete(&ev);
        return ytree_new_scalar(ps->file, 1, 1, "", false);
    }
    // DOCUMENT-START, node, DOCUMENT-END
    yaml_event_delete(&ev);
    if (!next_event(ps, &ev)) return NULL;
    root = parse_node(ps, &ev, 0);
    if (!root) return NULL;
    if (!next_event(ps, &ev)) goto fail;  // DOCUMENT-END
    yaml_event_delete(&ev);
    if (!next_event(ps, &ev)) goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete(&ev);
        parse_fail(ps, &m, "expected a single YAML document, but found another document");
        goto fail;
    }
    yaml_event_delete(&ev);
    return root;
fail:
    ytree_free(root);
    return NULL;
}

int ytree_parse_string(const char *text, size_t len, const char *name, YamlNode **out, char *err,
                       size_t errlen) {
    Parser ps;
    memset(&ps, 0, sizeof ps);
    ps.file = name;
    ps.err = err;
    ps.errlen = errlen;
    *out = NULL;
    if (!yaml_parser_initialize(&ps.p)) {
        snprintf(err, errlen, "%s: cannot initialise the YAML parser", name);
        return -1;
    }
    yaml_parser_set_input_string(&ps.p, (const unsigned char *)text, len);
    YamlNode *root = parse_stream(&ps);
    yaml_parser_delete(&ps.p);
    for (int i = 0; i < ps.n_anchors; i++) free(ps.anchors[i].name);
    free(ps.anchors);
    for (int i = 0; i < ps.n_orphans; i++) ytree_free(ps.orphans[i]);
    free(ps.orphans);
    if (!root) {
        if (!ps.failed) snprintf(err, errlen, "%s: malformed YAML", name);
        return -1;
    }
    *out = root;
    return 0;
}

int ytree_parse_file(const char *path, YamlNode **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    StrBuf sb = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) sb_append(&sb, chunk, got);
    bool read_error = ferror(f);
    int saved = errno;
    fclose(f);
    if (read_error) {
        sb_free(&sb);
        snprintf(err, errlen, "%s: cannot read config file: %s", path, strerror(saved));
        return -1;
    }
    int rc = ytree_parse_string(sb.data ? sb.data : "", sb.len, path, out, err, errlen);
    sb_free(&sb);
    return rc;
}
