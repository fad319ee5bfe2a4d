// safetensors.c: .safetensors reader (mmap + full validation) and atomic streaming writer.
// Header JSON goes through jansson. See safetensors.h for the format and the guarantees.
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"
#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

static const struct {
    const char *name;
    size_t size;
} DTYPES[ST_DTYPE_COUNT] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U64] = {"U64", 8}, [ST_U32] = {"U32", 4}, [ST_U16] = {"U16", 2}, [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(StDtype dt) {
    return (unsigned)dt < ST_DTYPE_COUNT ? DTYPES[dt].name : "?";
}

size_t st_dtype_size(StDtype dt) {
    return (unsigned)dt < ST_DTYPE_COUNT ? DTYPES[dt].size : 0;
}

bool st_dtype_from_name(const char *name, StDtype *out) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(name, DTYPES[i].name) == 0) {
            *out = (StDtype)i;
            return true;
        }
    }
    return false;
}

// "safetensors file '<path>': <msg>" into err; always returns -1.
static int set_err(char *err, size_t errlen, const char *path, const char *fmt, ...) EIR_PRINTF(4, 5);
static int set_err(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    if (!err || errlen == 0) return -1;
    int n = snprintf(err, errlen, "safetensors file '%s': ", path);
    if (n < 0 || (size_t)n >= errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

// Shape as "[2, 3]" into buf.
static const char *shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

// numel of a shape; false on size_t overflow.
static bool shape_numel(int ndim, const int64_t *shape, size_t *out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        size_t d = (size_t)shape[i];
        if (d != 0 && n > SIZE_MAX / d) return false;
        n *= d;
    }
    *out = n;
    return true;
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------
typedef struct {
    const char *name;
    int idx;
} NameIndex;

struct SafeTensors {
    char *path;
    void *map;
    size_t map_len;
    const uint8_t *data;  // start of the data section
    size_t data_len;
    StTensor *tensors;    // sorted by offset
    int n;
    NameIndex *by_name;   // (name, index into tensors), sorted by name
    char **md_keys, **md_values;
    int n_md;
    bool checksum_verified;
};

static int cmp_offset(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const NameIndex *)a)->name, ((const NameIndex *)b)->name);
}

void safetensors_close(SafeTensors *st) {
    if (!st) return;
    if (st->map && st->map != MAP_FAILED) munmap(st->map, st->map_len);
    for (int i = 0; i < st->n; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    for (int i = 0; i < st->n_md; i++) {
        free(st->md_keys[i]);
        free(st->md_values[i]);
    }
    free(st->md_keys);
    free(st->md_values);
    free(st->path);
    free(st);
}

// Parses one tensor entry of the header into *t (name already set). Returns 0 or -1 with err.
static int parse_tensor_entry(const char *path, const char *name, json_t *v, size_t data_len,
                              StTensor *t, char *err, size_t errlen) {
    if (!json_is_object(v))
        return set_err(err, errlen, path, "header entry '%s' is not an object", name);
    json_t *jd = NULL, *js = NULL, *jo = NULL;
    const char *field;
    json_t *fv;
    json_object_foreach(v, field, fv) {
        if (strcmp(field, "dtype") == 0) jd = fv;
        else if (strcmp(field, "shape") == 0) js = fv;
        else if (strcmp(field, "data_offsets") == 0) jo = fv;
        else return set_err(err, errlen, path, "tensor '%s': unknown field '%s'", name, field);
    }
    if (!jd || !js || !jo)
        return set_err(err, errlen, path, "tensor '%s': missing field '%s'", name,
                       !jd ? "dtype" : !js ? "shape" : "data_offsets");
    if (!json_is_string(jd))
        return set_err(err, errlen, path, "tensor '%s': dtype is not a string", name);
    if (!st_dtype_from_name(json_string_value(jd), &t->dtype))
        return set_err(err, errlen, path, "tensor '%s': unknown dtype '%s'", name, json_string_value(jd));
    if (!json_is_array(js))
        return set_err(err, errlen, path, "tensor '%s': shape is not an array", name);
    size_t nd = json_array_size(js);
    if (nd > ST_MAX_DIMS)
        return set_err(err, errlen, path, "tensor '%s': %zu dimensions (at most %d supported)", name, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return set_err(err, errlen, path, "tensor '%s': shape[%zu] is not a non-negative integer", name, i);
        t->shape[i] = (int64_t)json_integer_value(d);
    }
    char sbuf[160];
    if (!shape_numel(t->ndim, t->shape, &t->numel) ||
        (t->numel != 0 && st_dtype_size(t->dtype) > SIZE_MAX / t->numel))
        return set_err(err, errlen, path, "tensor '%s': shape %s is too large", name,
                       shape_str(sbuf, sizeof sbuf, t->ndim, t->shape));
    t->nbytes = t->numel * st_dtype_size(t->dtype);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return set_err(err, errlen, path, "tensor '%s': data_offsets is not a pair of integers", name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b)
        return set_err(err, errlen, path, "tensor '%s': invalid data_offsets [%lld, %lld]", name,
                       (long long)b, (long long)e);
    if ((unsigned long long)e > (unsigned long long)data_len)
        return set_err(err, errlen, path,
                       "tensor '%s': data_offsets [%lld, %lld] run past the end of the %zu-byte data "
                       "section (truncated or corrupted file)", name, (long long)b, (long long)e, data_len);
    if ((size_t)(e - b) != t->nbytes)
        return set_err(err, errlen, path,
                       "tensor '%s': shape %s of %s needs %zu bytes but data_offsets [%lld, %lld] span %lld",
                       name, shape_str(sbuf, sizeof sbuf, t->ndim, t->shape), st_dtype_name(t->dtype),
                       t->nbytes, (long long)b, (long long)e, (long long)(e - b));
    t->offset = (size_t)b;
    return 0;
}

static int parse_metadata(SafeTensors *st, json_t *md, char *err, size_t errlen) {
    if (json_is_null(md)) return 0;
    if (!json_is_object(md)) return set_err(err, errlen, st->path, "__metadata__ is not an object");
    size_t n = json_object_size(md);
    st->md_keys = calloc_check(n ? n : 1, sizeof(char *));
    st->md_values = calloc_check(n ? n : 1, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v) {
        if (!json_is_string(v))
            return set_err(err, errlen, st->path, "__metadata__ entry '%s' is not a string", k);
        st->md_keys[st->n_md] = strdup_check(k);
        st->md_values[st->n_md] = strdup_check(json_string_value(v));
        st->n_md++;
    }
    return 0;
}

static bool is_hex_digest(const char *s) {
    if (strlen(s) != SHA256_HEX_LEN) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) return false;
    return true;
}

static int open_into(SafeTensors *st, int flags, char *err, size_t errlen) {
    const char *path = st->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return set_err(err, errlen, path, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return set_err(err, errlen, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return set_err(err, errlen, path, "not a regular file");
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return set_err(err, errlen, path, "file is %zu bytes, too short to hold the 8-byte header length "
                       "(truncated or not a safetensors file)", size);
    }
    st->map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        return set_err(err, errlen, path, "cannot map %zu bytes: %s", size, strerror(map_errno));
    }
    st->map_len = size;
    const uint8_t *base = st->map;
    uint64_t hlen;
    memcpy(&hlen, base, 8);
    if (hlen == 0) return set_err(err, errlen, path, "header length is 0 (corrupted or not a safetensors file)");
    if (hlen > ST_MAX_HEADER_LEN)
        return set_err(err, errlen, path, "header length %llu is over the %u-byte limit "
                       "(corrupted or not a safetensors file)", (unsigned long long)hlen, ST_MAX_HEADER_LEN);
    if (hlen > size - 8)
        return set_err(err, errlen, path, "header length %llu exceeds the %zu bytes that follow it "
                       "(truncated or corrupted file)", (unsigned long long)hlen, size - 8);
    st->data = base + 8 + hlen;
    st->data_len = size - 8 - (size_t)hlen;

    json_error_t je;
    json_t *root = json_loadb((const char *)base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return set_err(err, errlen, path, "header is not valid JSON: %s (line %d, column %d)", je.text,
                       je.line, je.column);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = set_err(err, errlen, path, "header JSON is not an object");
        goto done;
    }
    size_t n_entries = json_object_size(root);
    st->tensors = calloc_check(n_entries ? n_entries : 1, sizeof(StTensor));
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_metadata(st, val, err, errlen)) != 0) goto done;
            continue;
        }
        if (key[0] == 0) {
            rc = set_err(err, errlen, path, "header has a tensor with an empty name");
            goto done;
        }
        StTensor *t = &st->tensors[st->n];
        memset(t, 0, sizeof *t);
        if ((rc = parse_tensor_entry(path, key, val, st->data_len, t, err, errlen)) != 0) goto done;
        t->name = strdup_check(key);
        st->n++;
    }

    // The data section must be covered exactly: sorted by offset, each tensor starts where the
    // previous one ended, and the last one ends at the end of the file.
    qsort(st->tensors, (size_t)st->n, sizeof(StTensor), cmp_offset);
    size_t expect = 0;
    for (int i = 0; i < st->n; i++) {
        StTensor *t = &st->tensors[i];
        if (t->offset < expect) {
            rc = set_err(err, errlen, path, "tensors '%s' and '%s' overlap (bytes %zu..%zu and %zu..%zu)",
                         st->tensors[i - 1].name, t->name, st->tensors[i - 1].offset, expect, t->offset,
                         t->offset + t->nbytes);
            goto done;
        }
        if (t->offset > expect) {
            rc = set_err(err, errlen, path, "gap of %zu unused bytes before tensor '%s' at data offset %zu",
                         t->offset - expect, t->name, expect);
            goto done;
        }
        expect = t->offset + t->nbytes;
        t->data = st->data + t->offset;
        t->aligned = ((uintptr_t)t->data % st_dtype_size(t->dtype)) == 0;
    }
    if (expect != st->data_len) {
        rc = set_err(err, errlen, path, "data section is %zu bytes but the tensors cover %zu "
                     "(trailing bytes: corrupted or mis-written file)", st->data_len, expect);
        goto done;
    }
    st->by_name = malloc_check((size_t)(st->n ? st->n : 1) * sizeof(NameIndex));
    for (int i = 0; i < st->n; i++) st->by_name[i] = (NameIndex){st->tensors[i].name, i};
    qsort(st->by_name, (size_t)st->n, sizeof(NameIndex), cmp_name);

    const char *want = safetensors_metadata(st, ST_CHECKSUM_KEY);
    if (!want) {
        if (flags & ST_OPEN_REQUIRE_CHECKSUM) {
            rc = set_err(err, errlen, path, "no %s in __metadata__, but a checksum is required", ST_CHECKSUM_KEY);
            goto done;
        }
    } else if (!is_hex_digest(want)) {
        rc = set_err(err, errlen, path, "%s is not a 64-digit hex SHA-256 digest", ST_CHECKSUM_KEY);
        goto done;
    } else if (!(flags & ST_OPEN_SKIP_CHECKSUM)) {
        uint8_t dig[SHA256_DIGEST_LEN];
        char hex[SHA256_HEX_LEN + 1];
        sha256(st->data, st->data_len, dig);
        sha256_to_hex(dig, hex);
        if (strcasecmp(hex, want) != 0) {
            rc = set_err(err, errlen, path, "checksum mismatch: the header records SHA-256 %s but the "
                         "data section hashes to %s (file corrupted)", want, hex);
            goto done;
        }
        st->checksum_verified = true;
    }
done:
    json_decref(root);
    return rc;
}

SafeTensors *safetensors_open(const char *path, int flags, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    SafeTensors *st = calloc_check(1, sizeof *st);
    st->path = strdup_check(path);
    if (open_into(st, flags, err, errlen) != 0) {
        safetensors_close(st);
        return NULL;
    }
    return st;
}

SafeTensors *safetensors_open_check(const char *path, int flags) {
    char err[1024];
    SafeTensors *st = safetensors_open(path, flags, err, sizeof err);
    if (!st) eir_die_user("%s", err);
    return st;
}

const char *safetensors_path(const SafeTensors *st) { return st->path; }
int safetensors_count(const SafeTensors *st) { return st->n; }
size_t safetensors_data_size(const SafeTensors *st) { return st->data_len; }
bool safetensors_checksum_verified(const SafeTensors *st) { return st->checksum_verified; }

const StTensor *safetensors_tensor_at(const SafeTensors *st, int i) {
    return (i >= 0 && i < st->n) ? &st->tensors[i] : NULL;
}

const StTensor *safetensors_find(const SafeTensors *st, const char *name) {
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const StTensor *t = &st->tensors[st->by_name[mid].idx];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *safetensors_metadata(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_md; i++)
        if (strcmp(st->md_keys[i], key) == 0) return st->md_values[i];
    return NULL;
}

int safetensors_metadata_count(const SafeTensors *st) { return st->n_md; }

void safetensors_metadata_at(const SafeTensors *st, int i, const char **key, const char **value) {
    bool ok = i >= 0 && i < st->n_md;
    if (key) *key = ok ? st->md_keys[i] : NULL;
    if (value) *value = ok ? st->md_values[i] : NULL;
}

int safetensors_copy_shaped(const SafeTensors *st, const char *name, StDtype dtype, void *dst,
                            int ndim, const int64_t *shape, char *err, size_t errlen) {
    const StTensor *t = safetensors_find(st, name);
    if (!t) return set_err(err, errlen, st->path, "no tensor named '%s'", name);
    if (t->dtype != dtype)
        return set_err(err, errlen, st->path, "tensor '%s' is %s, expected %s", name, st_dtype_name(t->dtype),
                       st_dtype_name(dtype));
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[160], b[160];
        return set_err(err, errlen, st->path, "tensor '%s' has shape %s, expected %s", name,
                       shape_str(a, sizeof a, t->ndim, t->shape), shape_str(b, sizeof b, ndim, shape));
    }
    if (t->nbytes) memcpy(dst, t->data, t->nbytes);
    return 0;
}

int safetensors_copy(const SafeTensors *st, const char *name, StDtype dtype, void *dst, size_t numel,
                     char *err, size_t errlen) {
    const StTensor *t = safetensors_find(st, name);
    if (!t) return set_err(err, errlen, st->path, "no tensor named '%s'", name);
    if (t->dtype != dtype)
        return set_err(err, errlen, st->path, "tensor '%s' is %s, expected %s", name, st_dtype_name(t->dtype),
                       st_dtype_name(dtype));
    if (t->numel != numel) {
        char a[160];
        return set_err(err, errlen, st->path, "tensor '%s' has shape %s (%zu elements), expected %zu elements",
                       name, shape_str(a, sizeof a, t->ndim, t->shape), t->numel, numel);
    }
    if (t->nbytes) memcpy(dst, t->data, t->nbytes);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------
typedef struct {
    char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel, nbytes, offset;
    const void *data;
} WTensor;

struct SafeTensorsWriter {
    WTensor *t;
    int n, cap;
    char **mk, **mv;
    int nm, capm;
};

SafeTensorsWriter *safetensors_writer_new(void) {
    return calloc_check(1, sizeof(SafeTensorsWriter));
}

void safetensors_writer_free(SafeTensorsWriter *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    for (int i = 0; i < w->nm; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->mk);
    free(w->mv);
    free(w);
}

void safetensors_writer_add(SafeTensorsWriter *w, const char *name, StDtype dtype, int ndim,
                            const int64_t *shape, const void *data) {
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        eir_die("safetensors_writer_add: invalid tensor name '%s'", name ? name : "(null)");
    if ((unsigned)dtype >= ST_DTYPE_COUNT) eir_die("safetensors_writer_add: '%s': bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        eir_die("safetensors_writer_add: '%s': %d dimensions (0..%d allowed)", name, ndim, ST_MAX_DIMS);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) eir_die("safetensors_writer_add: duplicate tensor name '%s'", name);
    WTensor t = {0};
    t.dtype = dtype;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    if (!shape_numel(ndim, t.shape, &t.numel) || (t.numel && st_dtype_size(dtype) > SIZE_MAX / t.numel))
        eir_die("safetensors_writer_add: '%s': invalid or too large shape", name);
    t.nbytes = t.numel * st_dtype_size(dtype);
    if (t.nbytes && !data) eir_die("safetensors_writer_add: '%s': NULL data for %zu bytes", name, t.nbytes);
    t.data = data;
    t.name = strdup_check(name);
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->t = realloc_check(w->t, (size_t)w->cap * sizeof(WTensor));
    }
    w->t[w->n++] = t;
}

void safetensors_writer_set_metadata(SafeTensorsWriter *w, const char *key, const char *value) {
    if (!key || !value || strcmp(key, ST_CHECKSUM_KEY) == 0)
        eir_die("safetensors_writer_set_metadata: invalid or reserved key '%s'", key ? key : "(null)");
    for (int i = 0; i < w->nm; i++) {
        if (strcmp(w->mk[i], key) == 0) {
            free(w->mv[i]);
            w->mv[i] = strdup_check(value);
            return;
        }
    }
    if (w->nm == w->capm) {
        w->capm = w->capm ? 2 * w->capm : 8;
        w->mk = realloc_check(w->mk, (size_t)w->capm * sizeof(char *));
        w->mv = realloc_check(w->mv, (size_t)w->capm * sizeof(char *));
    }
    w->mk[w->nm] = strdup_check(key);
    w->mv[w->nm] = strdup_check(value);
    w->nm++;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

// Header JSON (padded with spaces to a multiple of 8) for tensors in `order`, or NULL with err.
static char *build_header(const SafeTensorsWriter *w, const int *order, const char *checksum_hex,
                          const char *path, size_t *len_out, char *err, size_t errlen) {
    json_t *root = json_object();
    for (int k = 0; k < w->n; k++) {
        const WTensor *t = &w->t[order[k]];
        json_t *shape = json_array();
        for (int i = 0; i < t->ndim; i++) json_array_append_new(shape, json_integer((json_int_t)t->shape[i]));
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)t->offset));
        json_array_append_new(offs, json_integer((json_int_t)(t->offset + t->nbytes)));
        json_t *e = json_object();
        json_object_set_new(e, "dtype", json_string(st_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_set_new(root, t->name, e) != 0) {
            json_decref(root);
            set_err(err, errlen, path, "tensor name '%s' is not valid UTF-8", t->name);
            return NULL;
        }
    }
    if (w->nm > 0 || checksum_hex) {
        json_t *md = json_object();
        for (int i = 0; i < w->nm; i++) {
            json_t *s = json_string(w->mv[i]);
            if (!s || json_object_set_new(md, w->mk[i], s) != 0) {
                json_decref(md);
                json_decref(root);
                set_err(err, errlen, path, "metadata entry '%s' is not valid UTF-8", w->mk[i]);
                return NULL;
            }
        }
        if (checksum_hex) json_object_set_new(md, ST_CHECKSUM_KEY, json_string(checksum_hex));
        json_object_set_new(root, "__metadata__", md);
    }
    char *js = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!js) {
        set_err(err, errlen, path, "cannot serialise the header");
        return NULL;
    }
    size_t n = strlen(js), padded = (n + 7) / 8 * 8;
    char *h = malloc_check(padded + 1);
    memcpy(h, js, n);
    memset(h + n, ' ', padded - n);
    h[padded] = 0;
    free(js);
    *len_out = padded;
    return h;
}

int safetensors_write(SafeTensorsWriter *w, const char *path, bool add_checksum, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    // Lay out by decreasing element size (stable), so each tensor is aligned to its element size.
    int *order = malloc_check((size_t)(w->n ? w->n : 1) * sizeof(int));
    int k = 0;
    for (size_t sz = 8; sz >= 1; sz /= 2)
        for (int i = 0; i < w->n; i++)
            if (st_dtype_size(w->t[i].dtype) == sz) order[k++] = i;
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        w->t[order[i]].offset = off;
        off += w->t[order[i]].nbytes;
    }
    char hex[SHA256_HEX_LEN + 1];
    if (add_checksum) {
        Sha256 s;
        uint8_t dig[SHA256_DIGEST_LEN];
        sha256_init(&s);
        for (int i = 0; i < w->n; i++) sha256_update(&s, w->t[order[i]].data, w->t[order[i]].nbytes);
        sha256_final(&s, dig);
        sha256_to_hex(dig, hex);
    }
    size_t hlen = 0;
    char *header = build_header(w, order, add_checksum ? hex : NULL, path, &hlen, err, errlen);
    if (!header) {
        free(order);
        errno = EINVAL;
        return -1;
    }

    size_t plen = strlen(path);
    char *tmp = malloc_check(plen + 32);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *what = "create";
    if (fd < 0) goto fail;
    uint64_t hl = hlen;
    what = "write";
    if (write_all(fd, &hl, 8) != 0 || write_all(fd, header, hlen) != 0) goto fail;
    for (int i = 0; i < w->n; i++)
        if (w->t[order[i]].nbytes && write_all(fd, w->t[order[i]].data, w->t[order[i]].nbytes) != 0) goto fail;
    what = "fsync";
    if (fsync(fd) != 0) goto fail;
    what = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    what = "rename";
    if (rename(tmp, path) != 0) goto fail;
    char *dcopy = strdup_check(path);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);  // make the rename itself durable; failure here loses nothing already written
        close(dfd);
    }
    free(dcopy);
    free(tmp);
    free(header);
    free(order);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    set_err(err, errlen, path, "cannot %s '%s': %s", what, tmp, strerror(saved));
    free(tmp);
    free(header);
    free(order);
    errno = saved;
    return -1;
}
