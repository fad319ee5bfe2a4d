// split.c: EIR's train/valid split (spec §2.1): numpy's MT19937 permutation of the sorted IDs.
#include "data/split.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "data/csv.h"
#include "data/mt19937.h"


int split_seed_from_env(uint64_t *seed, char *err, size_t errlen) {
    *seed = 0;
    const char *s = getenv("EIR_SEED");
    if (!s) return 0;
    // Python's int() accepts surrounding whitespace and a '+'; numpy then wants 0 <= seed < 2^32.
    const char *p = s;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '+') p++;
    if (!isdigit((unsigned char)*p)) return err_fail(err, errlen, "EIR_SEED='%s' is not a non-negative integer", s);
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (*end || errno == ERANGE || v > 0xffffffffull)
        return err_fail(err, errlen, "EIR_SEED='%s' must be an integer between 0 and 2**32 - 1 (numpy's seed range)", s);
    *seed = v;
    return 0;
}

int split_valid_count(double valid_size, bool is_count, int64_t n, int64_t *n_valid, char *err, size_t errlen) {
    if (n <= 0) return err_fail(err, errlen, "there are no label IDs to split into train and valid sets");
    int64_t nv;
    if (is_count) {
        if (valid_size != floor(valid_size) || valid_size < 1 || valid_size >= (double)n)
            return err_fail(err, errlen, "valid_size=%g must be a count between 1 and the number of label IDs (%lld) minus 1",
                        valid_size, (long long)n);
        nv = (int64_t)valid_size;
    } else {
        if (!(valid_size > 0.0 && valid_size < 1.0))
            return err_fail(err, errlen, "valid_size=%g must be a fraction strictly between 0 and 1 (or a count)", valid_size);
        nv = (int64_t)ceil(valid_size * (double)n);  // sklearn: ceil(test_size * n_samples)
    }
    if (n - nv <= 0)
        return err_fail(err, errlen, "with %lld label IDs and valid_size=%g the train set would be empty (%lld valid)",
                    (long long)n, valid_size, (long long)nv);
    *n_valid = nv;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int split_random(int64_t n, double valid_size, bool is_count, uint32_t seed, Split *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int64_t nv;
    if (split_valid_count(valid_size, is_count, n, &nv, err, errlen) != 0) return -1;
    int64_t *perm = malloc_check((size_t)n * sizeof *perm);
    mt19937_permutation(seed, perm, n);
    out->n_valid = nv;
    out->n_train = n - nv;
    out->valid = malloc_check((size_t)nv * sizeof(int64_t));
    out->train = malloc_check((size_t)(n - nv) * sizeof(int64_t));
    memcpy(out->valid, perm, (size_t)nv * sizeof(int64_t));
    memcpy(out->train, perm + nv, (size_t)(n - nv) * sizeof(int64_t));
    free(perm);
    qsort(out->valid, (size_t)out->n_valid, sizeof(int64_t), cmp_i64);
    qsort(out->train, (size_t)out->n_train, sizeof(int64_t), cmp_i64);
    return 0;
}

static int64_t find_sorted(char *const *ids, int64_t n, const char *id) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ids[mid], id);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

int split_manual(char *const *ids, int64_t n, const char *path, Split *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return err_fail(err, errlen, "manual_valid_ids_file '%s': cannot open: %s", path, strerror(errno));
    char *is_valid = calloc_check((size_t)(n > 0 ? n : 1), 1);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0;
    int64_t listed = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        // Python's str.strip(): drop surrounding whitespace (the newline included).
        char *s = line, *e = line + got;
        while (s < e && isspace((unsigned char)*s)) s++;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        if (s == e) continue;
        *e = '\0';
        int64_t k = find_sorted(ids, n, s);
        if (k < 0) {
            err_fail(err, errlen, "%s:%d: valid ID '%s' is not among the IDs of the label file(s)", path, lineno, s);
            free(line); free(is_valid); fclose(f);
            return -1;
        }
        if (!is_valid[k]) listed++;
        is_valid[k] = 1;
    }
    free(line);
    fclose(f);
    if (listed == 0) {
        free(is_valid);
        return err_fail(err, errlen, "manual_valid_ids_file '%s' lists no IDs", path);
    }
    if (listed == n) {
        free(is_valid);
        return err_fail(err, errlen, "manual_valid_ids_file '%s' lists every label ID: the train set would be empty", path);
    }
    out->n_valid = listed;
    out->n_train = n - listed;
    out->valid = malloc_check((size_t)listed * sizeof(int64_t));
    out->train = malloc_check((size_t)(n - listed) * sizeof(int64_t));
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_valid[i]) out->valid[a++] = i; else out->train[b++] = i;
    }
    free(is_valid);
    return 0;
}

void split_make_or_die(char *const *ids, int64_t n, const BasicExperimentConfig *be, uint64_t seed, Split *out) {
    char err[EIR_ERR_LEN];
    int rc;
    if (be->manual_valid_ids_file && be->manual_valid_ids_file[0])
        rc = split_manual(ids, n, be->manual_valid_ids_file, out, err, sizeof err);
    else
        rc = split_random(n, be->valid_size, be->valid_size_is_count, (uint32_t)seed, out, err, sizeof err);
    if (rc != 0) eir_die_user("%s", err);
}

void split_free(Split *s) {
    free(s->train);
    free(s->valid);
    memset(s, 0, sizeof *s);
}
