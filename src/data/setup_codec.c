// setup_codec.c: DataSetup <-> bytes (native endianness: every rank of a job runs the same build).
#include "data/setup_codec.h"

#include <stdlib.h>
#include <string.h>

static void put(StrBuf *b, const void *p, size_t n) { sb_append(b, p, n); }
static void put_i64(StrBuf *b, int64_t v) { put(b, &v, sizeof v); }
static void put_f64(StrBuf *b, double v) { put(b, &v, sizeof v); }
static void put_str(StrBuf *b, const char *s) {
    int64_t n = s ? (int64_t)strlen(s) : -1;
    put_i64(b, n);
    if (n > 0) put(b, s, (size_t)n);
}

typedef struct {
    const char *p, *end;
    int bad;
} Reader;

static void get(Reader *r, void *dst, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p, n);
    r->p += n;
}
static int64_t get_i64(Reader *r) { int64_t v; get(r, &v, sizeof v); return v; }
static double get_f64(Reader *r) { double v; get(r, &v, sizeof v); return v; }
static char *get_str(Reader *r) {
    int64_t n = get_i64(r);
    if (n < 0 || r->bad) return NULL;
    if ((size_t)(r->end - r->p) < (size_t)n) { r->bad = 1; return NULL; }
    char *s = malloc_check((size_t)n + 1);
    memcpy(s, r->p, (size_t)n);
    s[n] = 0;
    r->p += n;
    return s;
}
// counts read from the blob are bounded by what is left in it, so a bad blob cannot ask for huge allocations
static int64_t get_count(Reader *r, size_t min_bytes_each) {
    int64_t n = get_i64(r);
    if (n < 0 || (min_bytes_each && (size_t)n > (size_t)(r->end - r->p) / min_bytes_each)) { r->bad = 1; return 0; }
    return n;
}

void data_setup_encode(const DataSetup *s, StrBuf *b) {
    const LabelSet *ls = &s->labels;
    put_i64(b, (int64_t)s->seed);
    put_i64(b, ls->n_ids);
    for (int64_t i = 0; i < ls->n_ids; i++) put_str(b, ls->ids[i]);
    put_i64(b, ls->n_outputs);
    for (int o = 0; o <= ls->n_outputs; o++) put_i64(b, ls->output_first_target[o]);
    put_i64(b, ls->n_targets);
    for (int t = 0; t < ls->n_targets; t++) {
        const LabelTarget *lt = &ls->targets[t];
        put_str(b, lt->column);
        put_str(b, lt->source);
        put_i64(b, lt->output_index);
        put_i64(b, lt->categorical);
        put_i64(b, lt->n_classes);
        for (int c = 0; c < lt->n_classes; c++) put_str(b, lt->classes[c]);
        put_f64(b, lt->mean);
        put_f64(b, lt->var);
        put_f64(b, lt->scale);
        put_i64(b, lt->n_present);
    }
    put(b, ls->values, sizeof(float) * (size_t)ls->n_ids * (size_t)ls->n_targets);
    put_i64(b, ls->fitted);
    put_i64(b, s->split.n_train);
    put(b, s->split.train, sizeof(int64_t) * (size_t)s->split.n_train);
    put_i64(b, s->split.n_valid);
    put(b, s->split.valid, sizeof(int64_t) * (size_t)s->split.n_valid);
    put_i64(b, s->n_inputs);
    for (int k = 0; k < s->n_inputs; k++) {
        const FileIndex *fi = &s->files[k];
        put_str(b, fi->source);
        put_i64(b, fi->n);
        for (int64_t i = 0; i < fi->n; i++) {
            put_str(b, fi->files[i].id);
            put_str(b, fi->files[i].path);
            put_i64(b, fi->files[i].size);
        }
    }
}

int data_setup_decode(DataSetup *s, const char *blob, size_t len) {
    memset(s, 0, sizeof *s);
    Reader r = {blob, blob + len, 0};
    LabelSet *ls = &s->labels;
    s->seed = (uint64_t)get_i64(&r);
    ls->n_ids = get_count(&r, 8);
    // ids: one text block, as labels.c keeps them (labels_free frees ids and id_text)
    char **tmp = calloc_check((size_t)(ls->n_ids ? ls->n_ids : 1), sizeof(char *));
    size_t total = 0;
    for (int64_t i = 0; i < ls->n_ids; i++) {
        tmp[i] = get_str(&r);
        total += tmp[i] ? strlen(tmp[i]) + 1 : 1;
    }
    ls->id_text = malloc_check(total ? total : 1);
    ls->ids = malloc_check(sizeof(char *) * (size_t)(ls->n_ids ? ls->n_ids : 1));
    size_t off = 0;
    for (int64_t i = 0; i < ls->n_ids; i++) {
        const char *src = tmp[i] ? tmp[i] : "";
        size_t n = strlen(src) + 1;
        memcpy(ls->id_text + off, src, n);
        ls->ids[i] = ls->id_text + off;
        off += n;
        free(tmp[i]);
    }
    free(tmp);
    ls->n_outputs = (int)get_count(&r, 8);
    ls->output_first_target = calloc_check((size_t)ls->n_outputs + 1, sizeof(int));
    for (int o = 0; o <= ls->n_outputs; o++) ls->output_first_target[o] = (int)get_i64(&r);
    ls->n_targets = (int)get_count(&r, 8);
    ls->targets = calloc_check((size_t)(ls->n_targets ? ls->n_targets : 1), sizeof(LabelTarget));
    for (int t = 0; t < ls->n_targets && !r.bad; t++) {
        LabelTarget *lt = &ls->targets[t];
        lt->column = get_str(&r);
        lt->source = get_str(&r);
        lt->output_index = (int)get_i64(&r);
        lt->categorical = get_i64(&r) != 0;
        lt->n_classes = (int)get_count(&r, 8);
        lt->classes = calloc_check((size_t)(lt->n_classes ? lt->n_classes : 1), sizeof(char *));
        for (int c = 0; c < lt->n_classes; c++) lt->classes[c] = get_str(&r);
        lt->mean = get_f64(&r);
        lt->var = get_f64(&r);
        lt->scale = get_f64(&r);
        lt->n_present = get_i64(&r);
    }
    size_t nv = (size_t)ls->n_ids * (size_t)ls->n_targets;
    if (!r.bad && nv > (size_t)(r.end - r.p) / sizeof(float)) r.bad = 1;
    ls->values = malloc_check(sizeof(float) * (nv ? nv : 1));
    if (!r.bad) get(&r, ls->values, sizeof(float) * nv);
    ls->fitted = get_i64(&r) != 0;
    s->split.n_train = get_count(&r, 8);
    s->split.train = malloc_check(sizeof(int64_t) * (size_t)(s->split.n_train ? s->split.n_train : 1));
    get(&r, s->split.train, sizeof(int64_t) * (size_t)s->split.n_train);
    s->split.n_valid = get_count(&r, 8);
    s->split.valid = malloc_check(sizeof(int64_t) * (size_t)(s->split.n_valid ? s->split.n_valid : 1));
    get(&r, s->split.valid, sizeof(int64_t) * (size_t)s->split.n_valid);
    s->n_inputs = (int)get_count(&r, 8);
    s->files = calloc_check((size_t)(s->n_inputs ? s->n_inputs : 1), sizeof(FileIndex));
    for (int k = 0; k < s->n_inputs && !r.bad; k++) {
        FileIndex *fi = &s->files[k];
        fi->source = get_str(&r);
        fi->n = get_count(&r, 24);
        fi->files = calloc_check((size_t)(fi->n ? fi->n : 1), sizeof(FileEntry));
        for (int64_t i = 0; i < fi->n; i++) {
            fi->files[i].id = get_str(&r);
            fi->files[i].path = get_str(&r);
            fi->files[i].size = get_i64(&r);
        }
    }
    for (int64_t i = 0; i < s->split.n_train + s->split.n_valid && !r.bad; i++) {
        int64_t v = i < s->split.n_train ? s->split.train[i] : s->split.valid[i - s->split.n_train];
        if (v < 0 || v >= ls->n_ids) r.bad = 1;
    }
    if (r.bad || r.p != r.end) {
        data_setup_free(s);
        return -1;
    }
    data_setup_match(s);
    return 0;
}
