// serve_request.c: parsing and validation of a /predict body with jansson, then base64 decoding
// of every value straight into the job's memory (the workers read it after the request is gone).
#include "serve/serve_request.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "infer/crops.h"
#include "serve/serve_base64.h"
#include "serve/serve_json.h"

#define KEY_SHOWN 64  // longest client-supplied key quoted back in a message

static void set_error(RequestError *e, int status, const char *fmt, ...) EIR_PRINTF(3, 4);
static void set_error(RequestError *e, int status, const char *fmt, ...) {
    e->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number";
        case JSON_TRUE: return "true";
        case JSON_FALSE: return "false";
        default: return "null";
    }
}

// "\"a\", \"b\"": the model's input names, for messages.
static void input_list(const ServeModel *m, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < m->config.n_inputs && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\"", k ? ", " : "", m->config.inputs[k].name);
}

// A client's key as a JSON string literal, clipped, for messages.
static void quote_key(const char *key, char *buf, size_t cap) {
    StrBuf sb = {0};
    json_put_string_clipped(&sb, key, strlen(key), KEY_SHOWN);
    snprintf(buf, cap, "%s", sb.data);
    sb_free(&sb);
}

// Bytes kept of a value of `chars` base64 characters: all of it with crops, else its first max_length.
static size_t decoded_cap(size_t chars, int max_length, int crops) {
    size_t most = chars / 4 * 3 + 3;  // no more than this can come out of `chars` characters
    return crops != 1 || most < (size_t)max_length ? most : (size_t)max_length;
}

ServeJob *predict_request_parse(const char *body, size_t len, const ServeModel *m, long max_items, int crops,
                                RequestError *e) {
    const int ni = m->config.n_inputs;
    char names[512], example[256];
    input_list(m, names, sizeof names);
    snprintf(example, sizeof example, "[{\"%s\": \"<base64 of the file>\"}]", m->config.inputs[0].name);
    if (len == 0) {
        set_error(e, 400, "the request body is empty: send a JSON array of objects, e.g. %s", example);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        set_error(e, 400, "invalid JSON at line %d, column %d (byte %d): %s", jerr.line, jerr.column, jerr.position,
                  jerr.text);
        return NULL;
    }
    ServeJob *job = NULL;
    if (!json_is_array(root)) {
        set_error(e, 400, "the body must be a JSON array of objects, one per sample, e.g. %s; got %s", example,
                  type_name(root));
        goto out;
    }
    size_t n = json_array_size(root);
    if (n == 0) {
        set_error(e, 400, "the array is empty: send at least one sample, e.g. %s", example);
        goto out;
    }
    if ((long)n > max_items) {
        e->status = 413;
        snprintf(e->message, sizeof e->message, "%zu samples in one request; the limit is %ld (--max-items)", n, max_items);
        goto out;
    }
    // validate the shape and size the decoded data
    size_t data_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(root, i);
        if (!json_is_object(item)) {
            set_error(e, 400, "item %zu: expected an object with the key%s %s, got %s", i, ni > 1 ? "s" : "", names,
                      type_name(item));
            goto out;
        }
        for (int k = 0; k < ni; k++) {
            const char *name = m->config.inputs[k].name;
            json_t *v = json_object_get(item, name);
            if (!v) {
                set_error(e, 400, "item %zu: missing key \"%s\" (the model's inputs: %s)", i, name, names);
                goto out;
            }
            if (!json_is_string(v)) {
                set_error(e, 400, "item %zu, key \"%s\": expected a base64 string, got %s", i, name, type_name(v));
                goto out;
            }
            data_bytes += decoded_cap(json_string_length(v), m->config.inputs[k].max_length, crops);
        }
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v) {
            int k = 0;
            while (k < ni && strcmp(key, m->config.inputs[k].name)) k++;
            if (k == ni) {
                char q[KEY_SHOWN * 6 + 8];
                quote_key(key, q, sizeof q);
                set_error(e, 400, "item %zu: unknown key %s (the model's inputs: %s)", i, q, names);
                goto out;
            }
        }
    }
    // decode
    job = job_create((int)n, ni, data_bytes);
    job->n_rows = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(root, i);
        for (int k = 0; k < ni; k++) {
            const char *name = m->config.inputs[k].name;
            json_t *v = json_object_get(item, name);
            int L = m->config.inputs[k].max_length;
            size_t chars = json_string_length(v), cap = decoded_cap(chars, L, crops), total;
            char err[256];
            if (b64_decode_python(json_string_value(v), chars, job->data + used, cap, &total, err, sizeof err) != 0) {
                set_error(e, 400, "item %zu, key \"%s\": invalid base64: %s", i, name, err);
                job_free(job);
                job = NULL;
                goto out;
            }
            size_t slot = i * (size_t)ni + (size_t)k;
            job->bytes[slot] = job->data + used;  // never NULL: NULL would mean "input absent"
            job->lens[slot] = total < cap ? total : cap;
            used += cap;
            int64_t rows = crops_count((int64_t)job->lens[slot], L, crops);
            if (rows > job->item_rows[i]) job->item_rows[i] = rows;
        }
        job->n_rows += job->item_rows[i];
    }
out:
    json_decref(root);
    return job;
}
