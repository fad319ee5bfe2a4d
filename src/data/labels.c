// labels.c: label CSVs -> the ID universe and an [ID x target] table of encoded values (spec §2.1).
#include "data/labels.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "data/csv.h"


static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct {
    const char *id;
    int line;
} IdLine;

static int cmp_idline(const void *a, const void *b) {
    const IdLine *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c) return c;
    return (x->line > y->line) - (x->line < y->line);
}

// "a, b, c" of the header, for the missing-column message.
static void header_list(const CsvTable *t, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->n_cols && n + 1 < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s'%s'", i ? ", " : "", t->header[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
}

// Per output: the table and, per target of that output, its CSV column index.
typedef struct {
    CsvTable t;
    int id_col;
    int *cols;
} OutTable;

static int parse_number(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s) return -1;
    while (*end == ' ' || *end == '\t') end++;
    if (*end) return -1;
    if (isinf(v) || (!isnan(v) && fabs(v) > 3.4028234663852886e38)) return -1;
    *out = (float)v;  // EIR reads continuous columns as float32
    return 0;
}

int labels_load(LabelSet *ls, const OutputConfig *outs, int n_outs, char *err, size_t errlen) {
    memset(ls, 0, sizeof *ls);
    if (n_outs <= 0) return err_fail(err, errlen, "no output configs: nothing to read labels from");
    OutTable *ot = calloc_check((size_t)n_outs, sizeof *ot);
    int rc = -1;
    char cols_present[1024];

    // Targets in a fixed order: per output, categorical columns then continuous ones.
    ls->n_outputs = n_outs;
    ls->output_first_target = malloc_check((size_t)(n_outs + 1) * sizeof(int));
    int nt = 0;
    for (int k = 0; k < n_outs; k++) nt += outs[k].target_cat_columns.n + outs[k].target_con_columns.n;
    ls->n_targets = nt;
    ls->targets = calloc_check((size_t)(nt ? nt : 1), sizeof(LabelTarget));
    nt = 0;
    for (int k = 0; k < n_outs; k++) {
        ls->output_first_target[k] = nt;
        for (int c = 0; c < outs[k].target_cat_columns.n; c++) {
            LabelTarget *lt = &ls->targets[nt++];
            lt->column = strdup_check(outs[k].target_cat_columns.items[c]);
            lt->source = strdup_check(outs[k].output_source ? outs[k].output_source : "");
            lt->output_index = k;
            lt->categorical = true;
        }
        for (int c = 0; c < outs[k].target_con_columns.n; c++) {
            LabelTarget *lt = &ls->targets[nt++];
            lt->column = strdup_check(outs[k].target_con_columns.items[c]);
            lt->source = strdup_check(outs[k].output_source ? outs[k].output_source : "");
            lt->output_index = k;
            lt->categorical = false;
            lt->var = lt->scale = 1.0;
        }
    }
    ls->output_first_target[n_outs] = nt;

    // 1. Read each CSV and check its columns and IDs before anything is built from it.
    int64_t total_rows = 0;
    for (int k = 0; k < n_outs; k++) {
        const OutputConfig *oc = &outs[k];
        const char *src = oc->output_source;
        if (!src || !src[0]) { err_fail(err, errlen, "output '%s' has no output_source (labels CSV)", oc->output_name ? oc->output_name : "?"); goto done; }
        if (csv_read_file(src, &ot[k].t, err, errlen) != 0) goto done;
        CsvTable *t = &ot[k].t;
        if (t->n_rows == 0) { err_fail(err, errlen, "%s: the label file has a header but no data rows", src); goto done; }
        ot[k].id_col = csv_column(t, "ID");
        if (ot[k].id_col < 0) {
            header_list(t, cols_present, sizeof cols_present);
            err_fail(err, errlen, "%s:%d: no 'ID' column in the header; columns present: %s", src, t->header_line, cols_present);
            goto done;
        }
        int first = ls->output_first_target[k], last = ls->output_first_target[k + 1];
        if (first == last) { err_fail(err, errlen, "output '%s' (%s) lists no target_cat_columns or target_con_columns", oc->output_name ? oc->output_name : "?", src); goto done; }
        ot[k].cols = malloc_check((size_t)(last - first) * sizeof(int));
        for (int j = first; j < last; j++) {
            const LabelTarget *lt = &ls->targets[j];
            for (int i = first; i < j; i++) {
                if (strcmp(ls->targets[i].column, lt->column) == 0) {
                    err_fail(err, errlen, "output '%s': column '%s' is listed twice among the target columns", oc->output_name ? oc->output_name : "?", lt->column);
                    goto done;
                }
            }
            int c = csv_column(t, lt->column);
            if (c < 0) {
                header_list(t, cols_present, sizeof cols_present);
                err_fail(err, errlen, "%s:%d: target column '%s' (%s of output '%s') is not in the header; columns present: %s",
                     src, t->header_line, lt->column, lt->categorical ? "target_cat_columns" : "target_con_columns",
                     oc->output_name ? oc->output_name : "?", cols_present);
                goto done;
            }
            ot[k].cols[j - first] = c;
        }
        // IDs: present and unique (sort (ID, line) pairs; equal neighbours are duplicates).
        IdLine *il = malloc_check((size_t)t->n_rows * sizeof *il);
        for (int r = 0; r < t->n_rows; r++) {
            const char *id = t->rows[r].fields[ot[k].id_col];
            if (!id) {
                free(il);
                err_fail(err, errlen, "%s:%d: the ID cell is empty", src, t->rows[r].line);
                goto done;
            }
            il[r].id = id;
            il[r].line = t->rows[r].line;
        }
        qsort(il, (size_t)t->n_rows, sizeof *il, cmp_idline);
        for (int r = 1; r < t->n_rows; r++) {
            if (strcmp(il[r - 1].id, il[r].id) == 0) {
                err_fail(err, errlen, "%s:%d: duplicate ID '%s' (first seen on line %d)", src, il[r].line, il[r].id, il[r - 1].line);
                free(il);
                goto done;
            }
        }
        free(il);
        total_rows += t->n_rows;
    }

    // 2. ID universe: union of all outputs' IDs, sorted, copied into one buffer.
    {
        const char **all = malloc_check((size_t)total_rows * sizeof(char *));
        int64_t n = 0;
        for (int k = 0; k < n_outs; k++)
            for (int r = 0; r < ot[k].t.n_rows; r++) all[n++] = ot[k].t.rows[r].fields[ot[k].id_col];
        qsort(all, (size_t)n, sizeof(char *), cmp_str_ptr);
        int64_t u = 0;
        size_t bytes = 0;
        for (int64_t i = 0; i < n; i++) {
            if (u > 0 && strcmp(all[u - 1], all[i]) == 0) continue;
            all[u++] = all[i];
            bytes += strlen(all[i]) + 1;
        }
        ls->n_ids = u;
        ls->ids = malloc_check((size_t)u * sizeof(char *));
        ls->id_text = malloc_check(bytes);
        char *p = ls->id_text;
        for (int64_t i = 0; i < u; i++) {
            size_t l = strlen(all[i]) + 1;
            memcpy(p, all[i], l);
            ls->ids[i] = p;
            p += l;
        }
        free(all);
    }

    // 3. Values: everything missing until a CSV says otherwise.
    ls->values = malloc_check((size_t)ls->n_ids * (size_t)(ls->n_targets ? ls->n_targets : 1) * sizeof(float));
    for (int64_t i = 0; i < ls->n_ids; i++)
        for (int j = 0; j < ls->n_targets; j++)
            ls->values[i * ls->n_targets + j] = ls->targets[j].categorical ? -1.0f : NAN;

    for (int k = 0; k < n_outs; k++) {
        CsvTable *t = &ot[k].t;
        int first = ls->output_first_target[k], last = ls->output_first_target[k + 1];
        int64_t *row_id = malloc_check((size_t)t->n_rows * sizeof(int64_t));
        for (int r = 0; r < t->n_rows; r++) row_id[r] = labels_find(ls, t->rows[r].fields[ot[k].id_col]);
        for (int j = first; j < last; j++) {
            LabelTarget *lt = &ls->targets[j];
            int c = ot[k].cols[j - first];
            if (lt->categorical) {
                // LabelEncoder: classes = sorted unique non-missing strings (code point order).
                const char **vals = malloc_check((size_t)t->n_rows * sizeof(char *));
                int nv = 0;
                for (int r = 0; r < t->n_rows; r++)
                    if (t->rows[r].fields[c]) vals[nv++] = t->rows[r].fields[c];
                qsort(vals, (size_t)nv, sizeof(char *), cmp_str_ptr);
                int u = 0;
                for (int i = 0; i < nv; i++)
                    if (u == 0 || strcmp(vals[u - 1], vals[i]) != 0) vals[u++] = vals[i];
                lt->n_classes = u;
                lt->classes = malloc_check((size_t)(u ? u : 1) * sizeof(char *));
                for (int i = 0; i < u; i++) lt->classes[i] = strdup_check(vals[i]);
                free(vals);
                for (int r = 0; r < t->n_rows; r++) {
                    const char *v = t->rows[r].fields[c];
                    if (!v) continue;
                    char **hit = bsearch(&v, lt->classes, (size_t)u, sizeof(char *), cmp_str_ptr);
                    ls->values[row_id[r] * ls->n_targets + j] = (float)(hit - lt->classes);
                    lt->n_present++;
                }
            } else {
                for (int r = 0; r < t->n_rows; r++) {
                    const char *v = t->rows[r].fields[c];
                    if (!v) continue;
                    float x;
                    if (parse_number(v, &x) != 0) {
                        err_fail(err, errlen, "%s:%d: column '%s': cannot read '%s' as a finite number (only empty cells count as missing)",
                             t->path, t->rows[r].line, lt->column, v);
                        free(row_id);
                        goto done;
                    }
                    ls->values[row_id[r] * ls->n_targets + j] = x;
                    if (!isnan(x)) lt->n_present++;
                }
            }
            if (lt->n_present == 0) {
                err_fail(err, errlen, "%s: target column '%s' has no values (every one of its %d cells is empty)", t->path, lt->column, t->n_rows);
                free(row_id);
                goto done;
            }
        }
        free(row_id);
    }
    rc = 0;

done:
    for (int k = 0; k < n_outs; k++) {
        csv_free(&ot[k].t);
        free(ot[k].cols);
    }
    free(ot);
    if (rc != 0) labels_free(ls);
    return rc;
}

int labels_fit(LabelSet *ls, const Split *split, char *err, size_t errlen) {
    const int T = ls->n_targets;
    for (int j = 0; j < T; j++) {
        LabelTarget *lt = &ls->targets[j];
        // EIR checks the full, train and valid frames for an all-missing column.
        const struct { const char *name; const int64_t *idx; int64_t n; } parts[2] = {
            {"train", split->train, split->n_train}, {"valid", split->valid, split->n_valid}};
        for (int p = 0; p < 2; p++) {
            int64_t present = 0;
            for (int64_t i = 0; i < parts[p].n; i++)
                if (!label_missing(lt, ls->values[parts[p].idx[i] * T + j])) present++;
            if (present == 0)
                return err_fail(err, errlen, "%s: target column '%s' has no values in the %s split (%lld IDs); "
                            "an all-missing column cannot be trained or evaluated (EIR refuses it too): "
                            "fill some in, or change valid_size / manual_valid_ids_file / EIR_SEED",
                            lt->source, lt->column, parts[p].name, (long long)parts[p].n);
        }
        if (lt->categorical || ls->fitted) continue;
        // StandardScaler on train: mean and population variance in double, NaNs ignored.
        double sum = 0.0;
        int64_t n = 0;
        for (int64_t i = 0; i < split->n_train; i++) {
            float v = ls->values[split->train[i] * T + j];
            if (!isnan(v)) { sum += v; n++; }
        }
        double mean = sum / (double)n, ss = 0.0;
        for (int64_t i = 0; i < split->n_train; i++) {
            float v = ls->values[split->train[i] * T + j];
            if (!isnan(v)) ss += ((double)v - mean) * ((double)v - mean);
        }
        double var = ss / (double)n;
        double scale = sqrt(var);
        if (scale == 0.0) scale = 1.0;
        lt->mean = mean;
        lt->var = var;
        lt->scale = scale;
        for (int64_t i = 0; i < ls->n_ids; i++) {
            float *v = &ls->values[i * T + j];
            if (!isnan(*v)) *v = (float)(((double)*v - mean) / scale);
        }
    }
    ls->fitted = true;
    return 0;
}

void labels_load_or_die(LabelSet *ls, const OutputConfig *outs, int n_outs) {
    char err[EIR_ERR_LEN];
    if (labels_load(ls, outs, n_outs, err, sizeof err) != 0) eir_die_user("%s", err);
}

void labels_fit_or_die(LabelSet *ls, const Split *split) {
    char err[EIR_ERR_LEN];
    if (labels_fit(ls, split, err, sizeof err) != 0) eir_die_user("%s", err);
}

int64_t labels_find(const LabelSet *ls, const char *id) {
    int64_t lo = 0, hi = ls->n_ids;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ls->ids[mid], id);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

bool labels_row_has_target(const LabelSet *ls, int64_t i) {
    for (int j = 0; j < ls->n_targets; j++)
        if (!label_missing(&ls->targets[j], ls->values[i * ls->n_targets + j])) return true;
    return false;
}

void labels_free(LabelSet *ls) {
    if (ls->targets) {
        for (int j = 0; j < ls->n_targets; j++) {
            free(ls->targets[j].column);
            free(ls->targets[j].source);
            for (int c = 0; c < ls->targets[j].n_classes; c++) free(ls->targets[j].classes[c]);
            free(ls->targets[j].classes);
        }
    }
    free(ls->targets);
    free(ls->ids);
    free(ls->id_text);
    free(ls->output_first_target);
    free(ls->values);
    memset(ls, 0, sizeof *ls);
}
