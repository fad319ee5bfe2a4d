// data_summary.c: the dry-run data report. Counts are recomputed here from the set-up so the
// pipeline itself carries no reporting state beyond MatchStats.
#include "data/data_summary.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define LABEL_W 40  // width of the row-label column
#define NUM_W 12    // width of each number column

static void human_bytes(int64_t b, char *buf, size_t cap) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024.0 && u < 4) { v /= 1024.0; u++; }
    if (u == 0) snprintf(buf, cap, "%lld B", (long long)b);
    else snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

// One table row: a label, then train / valid / total as given strings.
static void row3s(FILE *f, const char *label, const char *a, const char *b, const char *c) {
    fprintf(f, "  %-*s %*s %*s %*s\n", LABEL_W, label, NUM_W, a, NUM_W, b, NUM_W, c);
}

static void row3(FILE *f, const char *label, int64_t a, int64_t b) {
    char x[32], y[32], z[32];
    snprintf(x, sizeof x, "%lld", (long long)a);
    snprintf(y, sizeof y, "%lld", (long long)b);
    snprintf(z, sizeof z, "%lld", (long long)(a + b));
    row3s(f, label, x, y, z);
}

static void row_kv(FILE *f, const char *label, const char *value) {
    fprintf(f, "  %-*s %s\n", LABEL_W, label, value);
}

static void rule(FILE *f) {
    fprintf(f, "  ");
    for (int i = 0; i < LABEL_W + 3 * (NUM_W + 1); i++) fputc('-', f);
    fputc('\n', f);
}

// "name" shortened with "..." so labels never break the columns.
static void fit_label(char *buf, size_t cap, const char *text) {
    size_t n = strlen(text);
    if (n < cap && n <= LABEL_W) { memcpy(buf, text, n + 1); return; }
    size_t keep = LABEL_W - 3 < cap - 4 ? LABEL_W - 3 : cap - 4;
    memcpy(buf, text, keep);
    memcpy(buf + keep, "...", 4);
}

void data_summary_print(FILE *f, const DataSetup *s, const ExperimentConfig *cfg, int n_ranks) {
    const LabelSet *ls = &s->labels;
    const MatchStats *st = &s->stats;
    const BasicExperimentConfig *be = &cfg->global.basic_experiment;
    const SampleList *lists[2] = {&s->train, &s->valid};
    const int K = s->n_inputs, T = ls->n_targets;
    char label[256], v[128];

    fprintf(f, "Data summary\n");
    rule(f);
    // -- sources
    for (int k = 0; k < cfg->n_outputs; k++) {
        snprintf(label, sizeof label, "labels of output '%s'", cfg->outputs[k].output_name ? cfg->outputs[k].output_name : "?");
        fit_label(v, sizeof v, label);
        row_kv(f, v, cfg->outputs[k].output_source ? cfg->outputs[k].output_source : "");
    }
    snprintf(v, sizeof v, "%lld", (long long)st->n_label_ids);
    row_kv(f, "label IDs (union of the label files)", v);
    for (int k = 0; k < K; k++) {
        snprintf(label, sizeof label, "files of input '%s'", cfg->inputs[k].input_name ? cfg->inputs[k].input_name : "?");
        fit_label(v, sizeof v, label);
        char w[512];
        snprintf(w, sizeof w, "%lld in %s", (long long)st->files_found[k], s->files[k].source);
        row_kv(f, v, w);
        snprintf(w, sizeof w, "%lld (ignored)", (long long)st->files_without_label[k]);
        row_kv(f, "  files without a label ID", w);
    }
    if (be->manual_valid_ids_file && be->manual_valid_ids_file[0]) {
        snprintf(v, sizeof v, "manual: %.100s", be->manual_valid_ids_file);
    } else if (be->valid_size_is_count) {
        snprintf(v, sizeof v, "random: valid_size %lld IDs, seed %llu", (long long)be->valid_size, (unsigned long long)s->seed);
    } else {
        snprintf(v, sizeof v, "random: valid_size %g of the IDs, seed %llu", be->valid_size, (unsigned long long)s->seed);
    }
    row_kv(f, "split", v);
    fprintf(f, "  Filtered out %lld samples that had no inputs or no target labels.\n", (long long)st->filtered_out);

    // -- counts per split
    fprintf(f, "\n");
    row3s(f, "", "train", "valid", "total");
    rule(f);
    row3(f, "label IDs in split", s->split.n_train, s->split.n_valid);
    row3(f, "  without any input file", st->no_files[0], st->no_files[1]);
    row3(f, "  without any target value", st->no_targets[0], st->no_targets[1]);
    row3(f, "samples (matched)", s->train.n, s->valid.n);
    for (int k = 0; k < K; k++) {
        const char *name = cfg->inputs[k].input_name ? cfg->inputs[k].input_name : "?";
        const int L = cfg->inputs[k].max_length;
        int64_t bytes[2] = {0, 0}, longer[2] = {0, 0};
        for (int p = 0; p < 2; p++)
            for (int64_t i = 0; i < lists[p]->n; i++) {
                const FileEntry *fe = lists[p]->files[i * K + k];
                if (!fe) continue;
                bytes[p] += fe->size;
                longer[p] += fe->size > L;
            }
        snprintf(label, sizeof label, "input '%s'", name);
        fit_label(v, sizeof v, label);
        row3s(f, v, "", "", "");
        char a[32], b[32], c[32];
        human_bytes(bytes[0], a, sizeof a);
        human_bytes(bytes[1], b, sizeof b);
        human_bytes(bytes[0] + bytes[1], c, sizeof c);
        row3s(f, "  bytes on disk", a, b, c);
        snprintf(label, sizeof label, "  longer than max_length %d (cut)", L);
        fit_label(v, sizeof v, label);
        char pa[32], pb[32], pc[32];
        int64_t nt = s->train.n, nv = s->valid.n;
        snprintf(pa, sizeof pa, "%lld (%.0f%%)", (long long)longer[0], nt ? 100.0 * (double)longer[0] / (double)nt : 0.0);
        snprintf(pb, sizeof pb, "%lld (%.0f%%)", (long long)longer[1], nv ? 100.0 * (double)longer[1] / (double)nv : 0.0);
        snprintf(pc, sizeof pc, "%lld (%.0f%%)", (long long)(longer[0] + longer[1]),
                 nt + nv ? 100.0 * (double)(longer[0] + longer[1]) / (double)(nt + nv) : 0.0);
        row3s(f, v, pa, pb, pc);
        if (st->missing_input[0][k] + st->missing_input[1][k] > 0)
            row3(f, "  no file: imputed as zeros", st->missing_input[0][k], st->missing_input[1][k]);
    }

    // -- targets
    for (int j = 0; j < T; j++) {
        const LabelTarget *lt = &ls->targets[j];
        const char *oname = cfg->outputs[lt->output_index].output_name ? cfg->outputs[lt->output_index].output_name : "?";
        if (lt->categorical)
            snprintf(label, sizeof label, "target %s.%s (%d classes)", oname, lt->column, lt->n_classes);
        else
            snprintf(label, sizeof label, "target %s.%s (continuous)", oname, lt->column);
        fit_label(v, sizeof v, label);
        row3s(f, v, "", "", "");
        if (lt->categorical) {
            int64_t *cnt = calloc_check((size_t)(lt->n_classes + 1) * 2, sizeof(int64_t));
            for (int p = 0; p < 2; p++)
                for (int64_t i = 0; i < lists[p]->n; i++) {
                    float x = ls->values[lists[p]->label_row[i] * T + j];
                    int c = x < 0 ? lt->n_classes : (int)x;
                    cnt[p * (lt->n_classes + 1) + c]++;
                }
            for (int c = 0; c <= lt->n_classes; c++) {
                int64_t a = cnt[c], b = cnt[lt->n_classes + 1 + c];
                if (c == lt->n_classes && a + b == 0) break;
                snprintf(label, sizeof label, "  %s", c < lt->n_classes ? lt->classes[c] : "(missing)");
                fit_label(v, sizeof v, label);
                row3(f, v, a, b);
            }
            free(cnt);
        } else {
            int64_t n[2] = {0, 0};
            for (int p = 0; p < 2; p++)
                for (int64_t i = 0; i < lists[p]->n; i++)
                    n[p] += !isnan(ls->values[lists[p]->label_row[i] * T + j]);
            row3(f, "  with a value", n[0], n[1]);
            char w[96];
            snprintf(w, sizeof w, "mean %.6g, std %.6g (train IDs)", lt->mean, lt->scale);
            row_kv(f, "  standardised with", w);
        }
    }

    // -- batches
    fprintf(f, "\n");
    int B = be->batch_size;
    int64_t ipe = B > 0 ? s->train.n / B : 0;
    snprintf(v, sizeof v, "%d (global, per optimizer step)", B);
    row_kv(f, "batch_size", v);
    if (n_ranks > 0) {
        if (B % n_ranks == 0) snprintf(v, sizeof v, "%d, %d rows each", n_ranks, B / n_ranks);
        else snprintf(v, sizeof v, "%d: does NOT divide batch_size %d", n_ranks, B);
        row_kv(f, "ranks", v);
    }
    if (B > 0 && s->train.n >= B)
        snprintf(v, sizeof v, "%lld (%lld train samples left out each epoch)", (long long)ipe, (long long)(s->train.n - ipe * B));
    else
        snprintf(v, sizeof v, "0: the train set (%lld) is smaller than batch_size", (long long)s->train.n);
    row_kv(f, "iterations per epoch", v);
    if (be->n_epochs > 0) {
        snprintf(v, sizeof v, "%lld (%d epochs)", (long long)(ipe * be->n_epochs), be->n_epochs);
        row_kv(f, "iterations in total", v);
    }
    snprintf(v, sizeof v, "%s", be->memory_dataset ? "yes (files read into memory at start)" : "no (read from disk per batch)");
    row_kv(f, "memory_dataset", v);
    int crops = cfg->global.evaluation_checkpoint.evaluation_crops;
    if (crops != 1) {  // eir-dist's own key: shown only when set
        char mode[24];
        snprintf(mode, sizeof mode, crops == 0 ? "all" : "%d", crops);
        snprintf(v, sizeof v, "%s (valid files %s)", mode,
                 be->memory_dataset ? "held whole in memory" : "cropped from disk");
        row_kv(f, "evaluation_crops", v);
    }
    rule(f);
}
