// eir_predict_main.c: eir-predict, predictions for a folder of raw files from a model file alone
// (spec §7, with eir-dist's simpler command line). Writes <out>/predictions.csv and, with
// --evaluate, <out>/calculated_metrics.json.
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fmt.h"
#include "common/util.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/files.h"
#include "infer/inference.h"
#include "infer/metrics.h"

typedef struct {
    const char *model_path, *output_folder, *labels;
    const char *input_folder[MODEL_MAX_INPUTS];  // per input (by index once resolved)
    const char *input_spec[MODEL_MAX_INPUTS];    // as given: DIR or NAME=DIR
    int n_input_specs;
    bool evaluate;
    int batch_size;
    int cuda_device;  // -1: CPU
} PredictArgs;

static void usage(FILE *f) {
    fprintf(f,
            "usage: eir-predict --model-path M.safetensors --input-folder DIR --output-folder OUT\n"
            "                   [--labels CSV [--evaluate]] [--batch-size N] [--device cpu|cuda|cuda:N]\n"
            "\n"
            "Predicts every file under DIR (searched recursively; ID = file name without its last\n"
            "suffix) with the model file M, which carries everything needed (configs, classes).\n"
            "Models with several inputs take --input-folder NAME=DIR once per input.\n"
            "\n"
            "  --model-path, --model_path M        model file from RUN/saved_models/\n"
            "  --input-folder, --input_folder D    folder (or list file) of raw input files\n"
            "  --output-folder, --output_folder O  where predictions.csv is written (created)\n"
            "  --labels CSV                        labels CSV (ID column + the model's target columns)\n"
            "  --evaluate                          with --labels: write calculated_metrics.json\n"
            "  --batch-size N                      rows per forward pass (default 64)\n"
            "  --device cpu|cuda|cuda:N            where the forward pass runs (default cpu; cuda = GPU 0)\n"
            "\n"
            "predictions.csv: ID, one probability column per class (softmax; one target: the class\n"
            "names, several targets: <column>.<class>), the predicted class, and with --labels the\n"
            "true label. Continuous targets give the predicted value.\n");
}

static const char *flag_value(int argc, char **argv, int *i, const char *a, const char *name1, const char *name2) {
    size_t n1 = strlen(name1), n2 = strlen(name2);
    if (!strcmp(a, name1) || !strcmp(a, name2)) {
        if (*i + 1 >= argc) eir_die_user("%s needs a value", a);
        return argv[++*i];
    }
    if (!strncmp(a, name1, n1) && a[n1] == '=') return a + n1 + 1;
    if (!strncmp(a, name2, n2) && a[n2] == '=') return a + n2 + 1;
    return NULL;
}

static void parse_args(int argc, char **argv, PredictArgs *pa) {
    memset(pa, 0, sizeof *pa);
    pa->batch_size = 64;
    pa->cuda_device = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        if (!strcmp(a, "--version")) { printf("eir-predict %s\n", EIR_VERSION); exit(0); }
        if (!strcmp(a, "--evaluate")) { pa->evaluate = true; continue; }
        if ((v = flag_value(argc, argv, &i, a, "--model-path", "--model_path"))) pa->model_path = v;
        else if ((v = flag_value(argc, argv, &i, a, "--output-folder", "--output_folder"))) pa->output_folder = v;
        else if ((v = flag_value(argc, argv, &i, a, "--labels", "--labels"))) pa->labels = v;
        else if ((v = flag_value(argc, argv, &i, a, "--input-folder", "--input_folder"))) {
            if (pa->n_input_specs == MODEL_MAX_INPUTS) eir_die_user("too many --input-folder flags");
            pa->input_spec[pa->n_input_specs++] = v;
        } else if ((v = flag_value(argc, argv, &i, a, "--batch-size", "--batch_size"))) {
            char *end;
            long b = strtol(v, &end, 10);
            if (*end || b < 1 || b > 65536) eir_die_user("--batch-size: expected an integer in [1, 65536], got '%s'", v);
            pa->batch_size = (int)b;
        } else if ((v = flag_value(argc, argv, &i, a, "--device", "--device"))) {
            char *end = NULL;
            if (!strcmp(v, "cpu")) pa->cuda_device = -1;
            else if (!strcmp(v, "cuda")) pa->cuda_device = 0;
            else if (!strncmp(v, "cuda:", 5) && (pa->cuda_device = (int)strtol(v + 5, &end, 10)) >= 0 && end != v + 5 && !*end) {}
            else eir_die_user("--device: expected cpu, cuda or cuda:N, got '%s'", v);
        } else eir_die_user("unknown argument '%s' (see eir-predict --help)", a);
    }
    if (!pa->model_path) eir_die_user("--model-path is required (see eir-predict --help)");
    if (!pa->output_folder) eir_die_user("--output-folder is required");
    if (!pa->n_input_specs) eir_die_user("--input-folder is required");
    if (pa->evaluate && !pa->labels) eir_die_user("--evaluate needs --labels CSV");
}

static void resolve_inputs(PredictArgs *pa, const Predictor *p) {
    int ni = p->model.config.n_inputs;
    if (ni == 1 && pa->n_input_specs == 1 && !strchr(pa->input_spec[0], '=')) {
        pa->input_folder[0] = pa->input_spec[0];
        return;
    }
    for (int s = 0; s < pa->n_input_specs; s++) {
        const char *eq = strchr(pa->input_spec[s], '=');
        if (!eq) eir_die_user("the model has %d inputs: give --input-folder NAME=DIR for each", ni);
        char name[MODEL_NAME_LEN];
        snprintf(name, sizeof name, "%.*s", (int)(eq - pa->input_spec[s]), pa->input_spec[s]);
        int k = predictor_input_index(p, name);
        if (k < 0) eir_die_user("--input-folder %s: the model has no input called '%s'", pa->input_spec[s], name);
        pa->input_folder[k] = eq + 1;
    }
    for (int k = 0; k < ni; k++)
        if (!pa->input_folder[k]) eir_die_user("no --input-folder for the model's input '%s'", p->model.config.inputs[k].name);
}

// JSON has no NaN: undefined metrics are written as null.
static json_t *json_num(double v) { return isnan(v) || isinf(v) ? json_null() : json_real(v); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void csv_cell(StrBuf *sb, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) { sb_puts(sb, s); return; }
    sb_puts(sb, "\"");
    for (; *s; s++) {
        if (*s == '"') sb_puts(sb, "\"\"");
        else sb_append(sb, s, 1);
    }
    sb_puts(sb, "\"");
}

int main(int argc, char **argv) {
    eir_set_progname("eir-predict");
    PredictArgs pa;
    parse_args(argc, argv, &pa);
    char err[EIR_ERR_LEN];
    Predictor p;
    if (predictor_open_device(&p, pa.model_path, pa.batch_size, pa.cuda_device, err, sizeof err) != 0)
        eir_die_user("%s", err);
    resolve_inputs(&pa, &p);
    int ni = p.model.config.n_inputs, T = p.meta.n_targets;

    // the sample IDs: union of the inputs' file stems, sorted
    FileIndex *fi = calloc_check((size_t)ni, sizeof(FileIndex));
    int64_t cap = 0, n = 0;
    for (int k = 0; k < ni; k++) {
        files_scan_or_die(pa.input_folder[k], &fi[k]);
        cap += fi[k].n;
    }
    char **ids = malloc_check(sizeof(char *) * (size_t)(cap ? cap : 1));
    for (int k = 0; k < ni; k++)
        for (int64_t i = 0; i < fi[k].n; i++) ids[n++] = fi[k].files[i].id;
    qsort(ids, (size_t)n, sizeof(char *), cmp_str);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || strcmp(ids[u - 1], ids[i])) ids[u++] = ids[i];
    n = u;
    if (n == 0) eir_die_user("no files found under %s", pa.input_folder[0]);

    // labels (optional)
    CsvTable labels = {0};
    int *label_col = NULL;
    if (pa.labels) {
        csv_read_file_or_die(pa.labels, &labels);
        if (csv_column(&labels, "ID") < 0) eir_die_user("%s: no ID column", pa.labels);
        label_col = malloc_check(sizeof(int) * (size_t)T);
        for (int t = 0; t < T; t++) {
            label_col[t] = csv_column(&labels, p.meta.targets[t].column);
            if (label_col[t] < 0) eir_die_user("%s: no column '%s' (a target of the model)", pa.labels, p.meta.targets[t].column);
        }
    }

    // predict in batches
    int maxK = 1;
    for (int t = 0; t < T; t++) maxK = p.model.config.targets[t].n_classes > maxK ? p.model.config.targets[t].n_classes : maxK;
    float **logits = calloc_check((size_t)T, sizeof(float *));
    float **outs = calloc_check((size_t)T, sizeof(float *));
    for (int t = 0; t < T; t++) {
        logits[t] = malloc_check(sizeof(float) * (size_t)n * (size_t)p.model.config.targets[t].n_classes);
        outs[t] = malloc_check(sizeof(float) * (size_t)n * (size_t)p.model.config.targets[t].n_classes);
    }
    const uint8_t **bytes = calloc_check((size_t)pa.batch_size * ni, sizeof(uint8_t *));
    size_t *lens = calloc_check((size_t)pa.batch_size * ni, sizeof(size_t));
    uint8_t **bufs = calloc_check((size_t)ni, sizeof(uint8_t *));
    for (int k = 0; k < ni; k++) bufs[k] = malloc_check((size_t)pa.batch_size * p.model.config.inputs[k].max_length);
    int64_t *cursor = calloc_check((size_t)ni, sizeof(int64_t));
    for (int64_t first = 0; first < n; first += pa.batch_size) {
        int b = (int)(n - first < pa.batch_size ? n - first : pa.batch_size);
        for (int r = 0; r < b; r++)
            for (int k = 0; k < ni; k++) {
                const char *id = ids[first + r];
                // both lists are sorted: advance this input's cursor to the ID
                while (cursor[k] < fi[k].n && strcmp(fi[k].files[cursor[k]].id, id) < 0) cursor[k]++;
                size_t slot = (size_t)r * ni + k;
                if (cursor[k] < fi[k].n && !strcmp(fi[k].files[cursor[k]].id, id)) {
                    const FileEntry *fe = &fi[k].files[cursor[k]];
                    int L = p.model.config.inputs[k].max_length;
                    int64_t want = fe->size < L ? fe->size : L;
                    uint8_t *dst = bufs[k] + (size_t)r * L;
                    if (want > 0 && read_file_window(fe->path, 0, want, dst, err, sizeof err) != 0) eir_die_user("%s", err);
                    bytes[slot] = dst;
                    lens[slot] = (size_t)want;
                } else {
                    bytes[slot] = NULL;
                    lens[slot] = 0;
                }
            }
        predictor_run(&p, bytes, lens, b);
        for (int t = 0; t < T; t++) {
            int K = p.model.config.targets[t].n_classes;
            memcpy(logits[t] + first * K, predictor_logits(&p, t), sizeof(float) * (size_t)b * K);
            for (int r = 0; r < b; r++) predictor_outputs(&p, t, r, outs[t] + (first + r) * K);
        }
    }

    // true labels per target (class index, -1 missing/unknown; continuous value or NaN)
    int32_t **truth = NULL;
    float **truth_val = NULL;
    const char ***truth_text = NULL;
    if (pa.labels) {
        truth = calloc_check((size_t)T, sizeof(int32_t *));
        truth_val = calloc_check((size_t)T, sizeof(float *));
        truth_text = calloc_check((size_t)T, sizeof(char **));
        int idc = csv_column(&labels, "ID");
        for (int t = 0; t < T; t++) {
            truth[t] = malloc_check(sizeof(int32_t) * (size_t)n);
            truth_val[t] = malloc_check(sizeof(float) * (size_t)n);
            truth_text[t] = calloc_check((size_t)n, sizeof(char *));
            for (int64_t i = 0; i < n; i++) { truth[t][i] = -1; truth_val[t][i] = NAN; }
        }
        for (int r = 0; r < labels.n_rows; r++) {
            const char *id = labels.rows[r].fields[idc];
            if (!id) continue;
            char **hit = bsearch(&id, ids, (size_t)n, sizeof(char *), cmp_str);
            if (!hit) continue;
            int64_t i = hit - ids;
            for (int t = 0; t < T; t++) {
                const char *v = labels.rows[r].fields[label_col[t]];
                if (!v) continue;
                const TargetInfo *ti = &p.meta.targets[t];
                truth_text[t][i] = v;
                if (ti->continuous) truth_val[t][i] = strtof(v, NULL);
                else
                    for (int c = 0; c < ti->n_classes; c++)
                        if (!strcmp(ti->classes[c], v)) truth[t][i] = c;
            }
        }
    }

    // predictions.csv
    if (mkdir_p(pa.output_folder) != 0) eir_die_user("cannot create '%s': %s", pa.output_folder, strerror(errno));
    StrBuf sb = {0};
    sb_puts(&sb, "ID");
    for (int t = 0; t < T; t++) {
        const TargetInfo *ti = &p.meta.targets[t];
        char col[600];
        for (int c = 0; c < (ti->continuous ? 1 : ti->n_classes); c++) {
            if (ti->continuous) snprintf(col, sizeof col, "%s", T == 1 ? "predicted" : ti->column);
            else if (T == 1) snprintf(col, sizeof col, "%s", ti->classes[c]);
            else snprintf(col, sizeof col, "%s.%s", ti->column, ti->classes[c]);
            sb_puts(&sb, ",");
            csv_cell(&sb, col);
        }
        if (!ti->continuous) {
            snprintf(col, sizeof col, T == 1 ? "predicted" : "%s.predicted", ti->column);
            sb_puts(&sb, ",");
            csv_cell(&sb, col);
        }
        if (pa.labels) {
            snprintf(col, sizeof col, T == 1 ? "true_label" : "%s.true_label", ti->column);
            sb_puts(&sb, ",");
            csv_cell(&sb, col);
        }
    }
    sb_puts(&sb, "\n");
    char num[40];
    for (int64_t i = 0; i < n; i++) {
        csv_cell(&sb, ids[i]);
        for (int t = 0; t < T; t++) {
            const TargetInfo *ti = &p.meta.targets[t];
            int K = p.model.config.targets[t].n_classes;
            const float *o = outs[t] + i * K;
            for (int c = 0; c < K; c++) {
                sb_puts(&sb, ",");
                sb_puts(&sb, fmt_double_repr(num, sizeof num, (double)o[c]));
            }
            if (!ti->continuous) {
                const float *lg = logits[t] + i * K;
                int best = 0;
                for (int c = 1; c < K; c++)
                    if (lg[c] > lg[best]) best = c;
                sb_puts(&sb, ",");
                csv_cell(&sb, ti->classes[best]);
            }
            if (pa.labels) {
                sb_puts(&sb, ",");
                if (truth_text[t][i]) csv_cell(&sb, truth_text[t][i]);
            }
        }
        sb_puts(&sb, "\n");
    }
    char *path = path_join(pa.output_folder, "predictions.csv");
    if (write_file_atomic(path, sb.data, sb.len) != 0) eir_die("cannot write '%s': %s", path, strerror(errno));
    printf("eir-predict: %lld samples -> %s\n", (long long)n, path);
    free(path);
    sb_free(&sb);

    if (pa.evaluate) {
        json_t *root = json_object();
        for (int t = 0; t < T; t++) {
            const TargetInfo *ti = &p.meta.targets[t];
            json_t *out = json_object_get(root, ti->output_name);
            if (!out) { out = json_object(); json_object_set_new(root, ti->output_name, out); }
            json_t *m;
            if (ti->continuous) {
                double se = 0;
                int k = 0;
                for (int64_t i = 0; i < n; i++)
                    if (!isnan(truth_val[t][i])) { double d = outs[t][i] - truth_val[t][i]; se += d * d; k++; }
                m = json_pack("{s:o, s:i}", "mse", json_num(k ? se / k : NAN), "n", k);
            } else {
                CatMetrics cm;
                cat_metrics_compute(&cm, logits[t], truth[t], (int)n, ti->n_classes);
                m = json_pack("{s:o, s:o, s:o, s:o, s:o, s:i}", "mcc", json_num(cm.mcc), "acc", json_num(cm.acc),
                              "roc-auc-macro", json_num(cm.roc_auc), "ap-macro", json_num(cm.ap), "loss",
                              json_num(cm.loss), "n", cm.n_used);
            }
            json_object_set_new(out, ti->column, m);
        }
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(root);
        path = path_join(pa.output_folder, "calculated_metrics.json");
        if (write_file_atomic(path, text, strlen(text)) != 0) eir_die("cannot write '%s': %s", path, strerror(errno));
        printf("eir-predict: metrics -> %s\n%s\n", path, text);
        free(path);
        free(text);
    }
    predictor_close(&p);
    return 0;
}
