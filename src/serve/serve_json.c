// serve_json.c: JSON writing for eir-serve. Responses are written by hand (no tree): the
// per-sample objects are built on the worker threads right after the forward pass, and the
// number formatting must be Python's repr (fmt_double_repr) to equal EIR and eir-predict.
#include "serve/serve_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/fmt.h"
#include "infer/crops.h"

void json_put_string(StrBuf *sb, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    sb_append(sb, "\"", 1);
    size_t run = 0;  // start of the current run of bytes that need no escaping
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_append(sb, s + run, i - run);
        run = i + 1;
        switch (c) {
            case '"': sb_append(sb, "\\\"", 2); break;
            case '\\': sb_append(sb, "\\\\", 2); break;
            case '\n': sb_append(sb, "\\n", 2); break;
            case '\r': sb_append(sb, "\\r", 2); break;
            case '\t': sb_append(sb, "\\t", 2); break;
            case '\b': sb_append(sb, "\\b", 2); break;
            case '\f': sb_append(sb, "\\f", 2); break;
            default: {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sb_append(sb, u, 6);
            }
        }
    }
    sb_append(sb, s + run, n - run);
    sb_append(sb, "\"", 1);
}

void json_put_string_clipped(StrBuf *sb, const char *s, size_t n, size_t max_chars) {
    if (n <= max_chars) {
        json_put_string(sb, s, n);
        return;
    }
    // do not cut a UTF-8 sequence in half
    size_t k = max_chars;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    StrBuf t = {0};
    sb_append(&t, s, k);
    sb_append(&t, "...", 3);
    json_put_string(sb, t.data, t.len);
    sb_free(&t);
}

void json_error_body(StrBuf *sb, const char *msg) {
    sb_puts(sb, "{\"error\":");
    json_put_string(sb, msg, strlen(msg));
    sb_puts(sb, "}");
}

static void put_number(StrBuf *sb, float v) {
    char num[40];
    if (isnan(v) || isinf(v)) sb_puts(sb, "null");  // JSON has no NaN / Infinity
    else sb_puts(sb, fmt_double_repr(num, sizeof num, (double)v));
}

void json_render_outputs(StrBuf *sb, const ModelMeta *meta, const float *const *outputs) {
    sb_puts(sb, "{");
    for (int t = 0; t < meta->n_targets; t++) {
        const TargetInfo *ti = &meta->targets[t];
        bool new_output = t == 0 || strcmp(meta->targets[t - 1].output_name, ti->output_name);
        if (new_output) {
            if (t > 0) sb_puts(sb, "},");
            json_put_string(sb, ti->output_name, strlen(ti->output_name));
            sb_puts(sb, ":{");
        } else {
            sb_puts(sb, ",");
        }
        json_put_string(sb, ti->column, strlen(ti->column));
        sb_puts(sb, ":{");
        const float *out = outputs[t];
        if (ti->continuous) {
            json_put_string(sb, ti->column, strlen(ti->column));
            sb_puts(sb, ":");
            put_number(sb, out[0]);
        } else {
            for (int c = 0; c < ti->n_classes; c++) {
                if (c) sb_puts(sb, ",");
                json_put_string(sb, ti->classes[c], strlen(ti->classes[c]));
                sb_puts(sb, ":");
                put_number(sb, out[c]);
            }
        }
        sb_puts(sb, "}");
    }
    if (meta->n_targets > 0) sb_puts(sb, "}");
    sb_puts(sb, "}");
}

static void put_key(StrBuf *sb, const char *key) {
    json_put_string(sb, key, strlen(key));
    sb_puts(sb, ":");
}

void json_render_info(StrBuf *sb, const ServeModel *m, const ServeOptions *opt, int threads_per_worker) {
    char num[40], crops[24];
    sb_puts(sb, "{\"inputs\":{");
    for (int k = 0; k < m->config.n_inputs; k++) {
        const ModelInputSpec *in = &m->config.inputs[k];
        if (k) sb_puts(sb, ",");
        put_key(sb, in->name);
        sb_printf(sb, "{\"type\":\"bytes\",\"max_length\":%d,\"encoding\":\"base64\"}", in->max_length);
    }
    sb_puts(sb, "},\"outputs\":{");
    for (int t = 0; t < m->meta.n_targets; t++) {
        const TargetInfo *ti = &m->meta.targets[t];
        bool new_output = t == 0 || strcmp(m->meta.targets[t - 1].output_name, ti->output_name);
        if (new_output) {
            if (t) sb_puts(sb, "},");
            put_key(sb, ti->output_name);
            sb_puts(sb, "{");
        } else {
            sb_puts(sb, ",");
        }
        put_key(sb, ti->column);
        if (ti->continuous) {
            sb_puts(sb, "{\"type\":\"continuous\",\"mean\":");
            sb_puts(sb, fmt_double_repr(num, sizeof num, ti->mean));
            sb_puts(sb, ",\"scale\":");
            sb_puts(sb, fmt_double_repr(num, sizeof num, ti->scale));
            sb_puts(sb, "}");
        } else {
            sb_puts(sb, "{\"type\":\"categorical\",\"classes\":[");
            for (int c = 0; c < ti->n_classes; c++) {
                if (c) sb_puts(sb, ",");
                json_put_string(sb, ti->classes[c], strlen(ti->classes[c]));
            }
            sb_puts(sb, "]}");
        }
    }
    if (m->meta.n_targets) sb_puts(sb, "}");
    sb_printf(sb, "},\"parameters\":%zu,\"model\":{\"file\":", m->num_parameters);
    json_put_string(sb, m->path, strlen(m->path));
    sb_puts(sb, ",\"sha256\":");
    const char *sum = m->meta.checksum ? m->meta.checksum : "";
    json_put_string(sb, sum, strlen(sum));
    sb_printf(sb, ",\"iteration\":%ld,\"perf_average\":", m->meta.iteration);
    if (isnan(m->meta.perf_average) || isinf(m->meta.perf_average)) sb_puts(sb, "null");
    else sb_puts(sb, fmt_double_repr(num, sizeof num, m->meta.perf_average));
    sb_printf(sb,
              "},\"server\":{\"version\":\"%s\",\"device\":\"%s\",\"workers\":%d,\"threads_per_worker\":%d,\"max_batch\":%d,"
              "\"max_delay_us\":%ld,\"max_items\":%ld,\"max_body_bytes\":%zu,\"max_queue_items\":%ld,\"crops\":\"%s\"}}",
              EIR_VERSION, opt->device_name, opt->workers, threads_per_worker, opt->max_batch, opt->max_delay_us, opt->max_items,
              opt->max_body_bytes, opt->max_queue_items, crops_mode_name(opt->crops, crops, sizeof crops));
}
