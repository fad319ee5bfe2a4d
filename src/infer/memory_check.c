// memory_check.c: estimate before allocating (memory_check.h).
#include "infer/memory_check.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/sysmem.h"
#include "common/util.h"

// The input whose activations dominate: padded length x (width + feed-forward) x layers.
static int biggest_input(const ModelConfig *mc) {
    int best = 0;
    double best_v = -1;
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        double v = (double)s->padded_length * (s->d + s->ffn) * (s->layers > 0 ? s->layers : 1);
        if (v > best_v) best_v = v, best = i;
    }
    return best;
}

static void input_keys(char *buf, size_t cap, const ModelConfig *mc, int i) {
    const ModelInputSpec *s = &mc->inputs[i];
    snprintf(buf, cap,
             "input '%s': input_type_info.max_length=%d, "
             "model_config.window_size=%d, model_config.embedding_dim=%d, "
             "model_config.model_init_config.num_layers=%d, dim_feedforward=%d",
             s->name, s->max_length, s->window, s->d, s->layers, s->ffn);
}

int memory_check(const ModelConfig *mc, const MemoryNeed *need, char *err, size_t errlen) {
    ModelFootprint f;
    if (model_footprint(mc, need->rows, &f, err, errlen) != 0) return -1;
    ModelConfig fin = *mc;  // derived fields (padded lengths) for the messages
    char sub[256];
    if (model_config_finish(&fin, sub, sizeof sub) != 0) return err_fail(err, errlen, "%s", sub);
    char keys[1024], a[32], b[32], c[32], d[32];
    double params = 4.0 * (double)f.parameters * need->param_copies;
    double tokens = 0;
    for (int i = 0; i < fin.n_inputs; i++) tokens += 4.0 * need->rows * fin.inputs[i].max_length;
    double one = params + f.buffer_bytes + f.activation_bytes + tokens;
    double total = one * (need->copies > 0 ? need->copies : 1);
    uint64_t avail = sysmem_available_bytes(), lim = sysmem_limit();
    int procs = need->procs_per_node > 0 ? need->procs_per_node : 1;
    double limit = 0;
    char from[160];
    if (lim) {
        limit = (double)lim;
        snprintf(from, sizeof from, "--max-memory %s", sysmem_format(a, sizeof a, limit));
    }
    if (avail && (!lim || (double)avail / procs < limit)) {
        limit = (double)avail / procs;
        if (procs > 1)
            snprintf(from, sizeof from, "this machine's available %s shared by %d processes",
                     sysmem_format(a, sizeof a, (double)avail), procs);
        else
            snprintf(from, sizeof from, "available on this machine");
    }
    if (limit <= 0 || total <= limit) {
        if (f.overflow_input >= 0) {
            const ModelInputSpec *s = &fin.inputs[f.overflow_input];
            input_keys(keys, sizeof keys, &fin, f.overflow_input);
            return err_fail(err, errlen,
                            "%s: the model is too large for one pass: %d rows (%s) x "
                            "%d positions x %d features exceed the "
                            "%d elements a pass indexes; %s. Lower "
                            "input_type_info.max_length or %s",
                            need->what, need->rows, need->rows_key, s->padded_length,
                            3 * s->d > 2 * s->ffn ? 3 * s->d : 2 * s->ffn, INT_MAX, keys, need->rows_key);
        }
        return 0;
    }
    int big = biggest_input(&fin);
    input_keys(keys, sizeof keys, &fin, big);
    char copies[64] = "";
    if (need->copies > 1) snprintf(copies, sizeof copies, " x %d model copies (--workers)", need->copies);
    return err_fail(err, errlen,
                    "%s does not fit in memory: estimated %s (parameters %s%s, activations "
                    "of %d rows (%s) %s, "
                    "buffers %s)%s against %s (%s). What drives the size: %s; %s=%d. Lower "
                    "input_type_info.max_length, "
                    "%s or the model's width and depth%s",
                    need->what, sysmem_format(a, sizeof a, total), sysmem_format(b, sizeof b, params),
                    need->param_copies > 1 ? " with gradients and AdamW moments" : "", need->rows, need->rows_key,
                    sysmem_format(c, sizeof c, f.activation_bytes), sysmem_format(d, sizeof d, f.buffer_bytes), copies,
                    sysmem_format(sub, sizeof sub, limit), from, keys, need->rows_key, need->rows, need->rows_key,
                    lim ? ", or raise --max-memory" : "");
}
