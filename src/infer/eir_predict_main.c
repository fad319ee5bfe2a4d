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
#include "common/sysmem.h"
#include "common/util.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/files.h"
#include "infer/crops.h"
#include "infer/inference.h"
#include "infer/metrics.h"

typedef struct {
    const char *model_path, *output_folder, *labels;
    const char *input_folder[MODEL_MAX_INPUTS];  // per input (by index once resolved)
    const char *input_spec[MODEL_MAX_INPUTS];    // as given: DIR or NAME=DIR
    int n_input_specs;
    bool evaluate;
    int batch_size;
    int crops;        // crop mode (crops.h); 1: EIR's first max_length bytes
    int cuda_device;  // -1: CPU
} PredictArgs;

static void usage(FILE *f) {
    fprintf(f,
            "usage: eir-predict --model-path M.safetensors --input-folder DIR --output-folder OUT\n"
            "                   [--labels CSV [--evaluate]] [--crops all|N] [--batch-size N] [--device cpu|cuda|cuda:N]\n"
            "                   [--max-memory SIZE]\n"
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
            "  --crops all|N                       predict a file longer than max_length bytes from the mean over\n"
            "                                      ceil(len / max_length) crops (all) or at most N crops spread\n"
            "                                      evenly over it (default 1: its first max_length bytes, as EIR)\n"
            "  --batch-size N                      rows (crops) per forward pass (default 64)\n"
            "  --device cpu|cuda|cuda:N            where the forward pass runs (default cpu; cuda = GPU 0)\n"
            "  --max-memory SIZE                   refuse (exit 2) a model + batch estimated above SIZE (8G, 512M);\n"
            "                                      the machine's available memory always applies\n"
            "\n"
            "predictions.csv: ID, one probability column per class (softmax; one target: the class\n"
            "names, several targets: <column>.<class>), the predicted class, and with --labels the\n"
            "true label. Continuous targets give the predicted value. With --crops, a file's\n"
            "probabilities (values) are the mean over its crops and the predicted class their argmax.\n");
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
    pa->crops = 1;
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
        } else if ((v = flag_value(argc, argv, &i, a, "--crops", "--crops"))) {
            if (crops_parse(v, &pa->crops) != 0) eir_die_user("--crops: expected \"all\" or an integer >= 1, got '%s'", v);
        } else if ((v = flag_value(argc, argv, &i, a, "--max-memory", "--max_memory"))) {
            uint64_t bytes;
            char err[256];
            if (sysmem_parse_size("--max-memory", v, &bytes, err, sizeof err) != 0) eir_die_user("%s", err);
            sysmem_set_limit(bytes);
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

// One invocation's data: the model, the samples, their outputs and (optionally) true labels.
typedef struct {
    Predictor p;
    int ni, T;
    FileIndex *fi;       // [ni]
    char **ids;          // [n] sorted union of the inputs' file stems (pointing into fi)
    int64_t n;
    CsvTable labels;     // --labels
    int *label_col;      // [T] the target columns of labels
    float **logits, **outs;  // [T][n x K]
    int32_t **truth;     // [T][n] class index, -1 missing/unknown
    float **truth_val;   // [T][n] continuous value or NaN
    const char ***truth_text;  // [T][n] the label cell (points into labels) or NULL
    const FileEntry **files;   // [n x ni]: each sample's file per input, NULL = absent
    int64_t crops_total;       // crops over every sample (= n with --crops 1)
    char err[EIR_ERR_LEN];     // a window that could not be read
} PredictRun;

// The sample IDs: union of the inputs' file stems, sorted.
static void list_samples(PredictRun *r, const PredictArgs *pa) {
    r->fi = calloc_check((size_t)r->ni, sizeof(FileIndex));
    int64_t cap = 0, n = 0;
    for (int k = 0; k < r->ni; k++) {
        files_scan_or_die(pa->input_folder[k], &r->fi[k]);
        cap += r->fi[k].n;
    }
    r->ids = malloc_check(sizeof(char *) * (size_t)(cap ? cap : 1));
    for (int k = 0; k < r->ni; k++)
        for (int64_t i = 0; i < r->fi[k].n; i++) r->ids[n++] = r->fi[k].files[i].id;
    qsort(r->ids, (size_t)n, sizeof(char *), cmp_str);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || strcmp(r->ids[u - 1], r->ids[i])) r->ids[u++] = r->ids[i];
    r->n = u;
    if (r->n == 0) eir_die_user("no files found under %s", pa->input_folder[0]);
}

static void read_labels(PredictRun *r, const PredictArgs *pa) {
    csv_read_file_or_die(pa->labels, &r->labels);
    if (csv_column(&r->labels, "ID") < 0) eir_die_user("%s: no ID column", pa->labels);
    r->label_col = malloc_check(sizeof(int) * (size_t)r->T);
    for (int t = 0; t < r->T; t++) {
        r->label_col[t] = csv_column(&r->labels, r->p.meta.targets[t].column);
        if (r->label_col[t] < 0)
            eir_die_user("%s: no column '%s' (a target of the model)", pa->labels, r->p.meta.targets[t].column);
    }
}

// Each sample's file per input (both lists are sorted: one cursor per input).
static void match_files(PredictRun *r) {
    r->files = calloc_check((size_t)r->n * (size_t)r->ni, sizeof(FileEntry *));
    for (int k = 0; k < r->ni; k++) {
        const FileIndex *fi = &r->fi[k];
        int64_t cursor = 0;
        for (int64_t i = 0; i < r->n; i++) {
            while (cursor < fi->n && strcmp(fi->files[cursor].id, r->ids[i]) < 0) cursor++;
            if (cursor < fi->n && !strcmp(fi->files[cursor].id, r->ids[i])) r->files[i * r->ni + k] = &fi->files[cursor];
        }
    }
}

static int64_t src_length(void *ctx, int64_t sample, int input) {
    const PredictRun *r = ctx;
    const FileEntry *fe = r->files[sample * r->ni + input];
    return fe ? fe->size : -1;  // missing: imputed
}

static const uint8_t *src_window(void *ctx, int64_t sample, int input, int64_t start, int64_t n, uint8_t *buf) {
    PredictRun *r = ctx;
    const FileEntry *fe = r->files[sample * r->ni + input];
    return read_file_window(fe->path, start, n, buf, r->err, sizeof r->err) == 0 ? buf : NULL;
}

static void src_done(void *ctx, int64_t sample, int64_t n_crops, float *const *outputs, float *const *scores) {
    PredictRun *r = ctx;
    for (int t = 0; t < r->T; t++) {
        int K = r->p.model.config.targets[t].n_classes;
        memcpy(r->outs[t] + sample * K, outputs[t], sizeof(float) * (size_t)K);
        memcpy(r->logits[t] + sample * K, scores[t], sizeof(float) * (size_t)K);
    }
    r->crops_total += n_crops;
}

// Outputs of every sample: its crops (one with --crops 1) in passes of --batch-size rows.
static void predict_all(PredictRun *r, const PredictArgs *pa) {
    const ModelConfig *mc = &r->p.model.config;
    r->logits = calloc_check((size_t)r->T, sizeof(float *));
    r->outs = calloc_check((size_t)r->T, sizeof(float *));
    for (int t = 0; t < r->T; t++) {
        r->logits[t] = malloc_check(sizeof(float) * (size_t)r->n * (size_t)mc->targets[t].n_classes);
        r->outs[t] = malloc_check(sizeof(float) * (size_t)r->n * (size_t)mc->targets[t].n_classes);
    }
    match_files(r);
    CropPredictor cp;
    crop_predictor_init(&cp, &r->p, pa->crops);
    static const CropSource src = {src_length, src_window, src_done, NULL};
    int rc = crop_predictor_run(&cp, &src, r, r->n);
    crop_predictor_free(&cp);
    if (rc != 0) eir_die_user("%s", r->err);
}

// True labels per target and sample, from the labels CSV.
static void match_labels(PredictRun *r) {
    int T = r->T;
    r->truth = calloc_check((size_t)T, sizeof(int32_t *));
    r->truth_val = calloc_check((size_t)T, sizeof(float *));
    r->truth_text = calloc_check((size_t)T, sizeof(char **));
    int idc = csv_column(&r->labels, "ID");
    for (int t = 0; t < T; t++) {
        r->truth[t] = malloc_check(sizeof(int32_t) * (size_t)r->n);
        r->truth_val[t] = malloc_check(sizeof(float) * (size_t)r->n);
        r->truth_text[t] = calloc_check((size_t)r->n, sizeof(char *));
        for (int64_t i = 0; i < r->n; i++) { r->truth[t][i] = -1; r->truth_val[t][i] = NAN; }
    }
    for (int row = 0; row < r->labels.n_rows; row++) {
        const char *id = r->labels.rows[row].fields[idc];
        if (!id) continue;
        char **hit = bsearch(&id, r->ids, (size_t)r->n, sizeof(char *), cmp_str);
        if (!hit) continue;
        int64_t i = hit - r->ids;
        for (int t = 0; t < T; t++) {
            const char *v = r->labels.rows[row].fields[r->label_col[t]];
            if (!v) continue;
            const TargetInfo *ti = &r->p.meta.targets[t];
            r->truth_text[t][i] = v;
            if (ti->continuous) r->truth_val[t][i] = strtof(v, NULL);
            else
                for (int c = 0; c < ti->n_classes; c++)
                    if (!strcmp(ti->classes[c], v)) r->truth[t][i] = c;
        }
    }
}

// <out>/predictions.csv: ID, per target its class probabilities (or value), predicted class and,
// with --labels, the true label.
static void write_predictions_csv(const PredictRun *r, const PredictArgs *pa) {
    int T = r->T;
    bool labels = r->truth_text != NULL;
    StrBuf sb = {0};
    sb_puts(&sb, "ID");
    for (int t = 0; t < T; t++) {
        const TargetInfo *ti = &r->p.meta.targets[t];
        char col[600];
        for (int c = 0; c < (ti->continuous ? 1 : ti->n_classes); c++) {
            if (ti->continuous) snprintf(col, sizeof col, "%s", T == 1 ? "predicted" : ti->column);
            else if (T == 1) snprintf(col, sizeof col, "%s", ti->classes[c]);
            else snprintf(col, sizeof col, "%s.%s", ti->column, ti->classes[c]);
            sb_puts(&sb, ",");
            csv_append_cell(&sb, col);
        }
        if (!ti->continuous) {
            snprintf(col, sizeof col, T == 1 ? "predicted" : "%s.predicted", ti->column);
            sb_puts(&sb, ",");
            csv_append_cell(&sb, col);
        }
        if (labels) {
            snprintf(col, sizeof col, T == 1 ? "true_label" : "%s.true_label", ti->column);
            sb_puts(&sb, ",");
            csv_append_cell(&sb, col);
        }
    }
    sb_puts(&sb, "\n");
    char num[40];
    for (int64_t i = 0; i < r->n; i++) {
        csv_append_cell(&sb, r->ids[i]);
        for (int t = 0; t < T; t++) {
            const TargetInfo *ti = &r->p.meta.targets[t];
            int K = r->p.model.config.targets[t].n_classes;
            const float *o = r->outs[t] + i * K;
            for (int c = 0; c < K; c++) {
                sb_puts(&sb, ",");
                sb_puts(&sb, fmt_double_repr(num, sizeof num, (double)o[c]));
            }
            if (!ti->continuous) {
                const float *lg = r->logits[t] + i * K;
                int best = 0;
                for (int c = 1; c < K; c++)
                    if (lg[c] > lg[best]) best = c;
                sb_puts(&sb, ",");
                csv_append_cell(&sb, ti->classes[best]);
            }
            if (labels) {
                sb_puts(&sb, ",");
                if (r->truth_text[t][i]) csv_append_cell(&sb, r->truth_text[t][i]);
            }
        }
        sb_puts(&sb, "\n");
    }
    char *path = path_join(pa->output_folder, "predictions.csv");
    if (write_file_atomic(path, sb.data, sb.len) != 0) eir_die("cannot write '%s': %s", path, strerror(errno));
    printf("eir-predict: %lld samples -> %s\n", (long long)r->n, path);
    free(path);
    sb_free(&sb);
}

// <out>/calculated_metrics.json (--evaluate): per output and target, EIR's metrics.
static void write_metrics_json(const PredictRun *r, const PredictArgs *pa) {
    json_t *root = json_object();
    for (int t = 0; t < r->T; t++) {
        const TargetInfo *ti = &r->p.meta.targets[t];
        json_t *out = json_object_get(root, ti->output_name);
        if (!out) { out = json_object(); json_object_set_new(root, ti->output_name, out); }
        json_t *m;
        if (ti->continuous) {
            double se = 0;
            int k = 0;
            for (int64_t i = 0; i < r->n; i++)
                if (!isnan(r->truth_val[t][i])) { double d = r->outs[t][i] - r->truth_val[t][i]; se += d * d; k++; }
            m = json_pack("{s:o, s:i}", "mse", json_num(k ? se / k : NAN), "n", k);
        } else {
            CatMetrics cm;
            cat_metrics_compute(&cm, r->logits[t], r->truth[t], (int)r->n, ti->n_classes);
            m = json_pack("{s:o, s:o, s:o, s:o, s:o, s:i}", "mcc", json_num(cm.mcc), "acc", json_num(cm.acc),
                          "roc-auc-macro", json_num(cm.roc_auc), "ap-macro", json_num(cm.ap), "loss",
                          json_num(cm.loss), "n", cm.n_used);
        }
        if (pa->crops != 1) {  // absent by default: the file stays as it was before --crops
            char name[24];
            json_object_set_new(m, "crops", json_string(crops_mode_name(pa->crops, name, sizeof name)));
            json_object_set_new(m, "crops_per_file", json_real((double)r->crops_total / (double)r->n));
        }
        json_object_set_new(out, ti->column, m);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    char *path = path_join(pa->output_folder, "calculated_metrics.json");
    if (write_file_atomic(path, text, strlen(text)) != 0) eir_die("cannot write '%s': %s", path, strerror(errno));
    printf("eir-predict: metrics -> %s\n%s\n", path, text);
    free(path);
    free(text);
}

// How many crops the outputs are the mean of (with --crops, or beside --evaluate's metrics).
static void print_crops(const PredictRun *r, const PredictArgs *pa) {
    char name[24];
    printf("eir-predict: crops: %s (mean %.2f per file: %lld crops for %lld files)\n",
           crops_mode_name(pa->crops, name, sizeof name), (double)r->crops_total / (double)r->n,
           (long long)r->crops_total, (long long)r->n);
}

static void predict_run_free(PredictRun *r) {
    for (int t = 0; t < r->T; t++) {
        if (r->logits) free(r->logits[t]);
        if (r->outs) free(r->outs[t]);
        if (r->truth) free(r->truth[t]);
        if (r->truth_val) free(r->truth_val[t]);
        if (r->truth_text) free(r->truth_text[t]);
    }
    free(r->logits);
    free(r->outs);
    free(r->truth);
    free(r->truth_val);
    free(r->truth_text);
    free(r->label_col);
    free(r->files);
    csv_free(&r->labels);
    free(r->ids);
    for (int k = 0; r->fi && k < r->ni; k++) files_free(&r->fi[k]);
    free(r->fi);
    predictor_close(&r->p);
}

int main(int argc, char **argv) {
    eir_set_progname("eir-predict");
    PredictArgs pa;
    parse_args(argc, argv, &pa);
    char err[EIR_ERR_LEN];
    PredictRun r = {0};
    if (predictor_open_device(&r.p, pa.model_path, pa.batch_size, pa.cuda_device, err, sizeof err) != 0)
        eir_die_user("%s", err);
    resolve_inputs(&pa, &r.p);
    r.ni = r.p.model.config.n_inputs;
    r.T = r.p.meta.n_targets;
    list_samples(&r, &pa);
    if (pa.labels) read_labels(&r, &pa);
    predict_all(&r, &pa);
    if (pa.labels) match_labels(&r);
    if (mkdir_p(pa.output_folder) != 0) eir_die_user("cannot create '%s': %s", pa.output_folder, strerror(errno));
    write_predictions_csv(&r, &pa);
    if (pa.crops != 1 || pa.evaluate) print_crops(&r, &pa);
    if (pa.evaluate) write_metrics_json(&r, &pa);
    predict_run_free(&r);
    return 0;
}
