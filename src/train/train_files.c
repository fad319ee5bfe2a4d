// train_files.c: what a run leaves in its folder besides models and state (spec §5): the log,
// meta and configs, the serializations, the history CSVs, validation predictions and SVG curves.
// Histories live in memory (TrainProgress) and their files are rewritten atomically at each
// validation, so a resumed run's files never hold rows from after the state it resumed from.
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "data/csv.h"
#include "train/svg_curve.h"
#include "train/trainer_internal.h"

#define VALID_COLS_PER_TARGET 5

static void mkdir_or_die(const char *path) {
    if (mkdir_p(path) != 0) eir_die("cannot create folder '%s': %s", path, strerror(errno));
}

static void write_or_die(const char *path, const char *text) {
    if (write_file_atomic(path, text, strlen(text)) != 0) eir_die("cannot write '%s': %s", path, strerror(errno));
}

static char *join3(const char *a, const char *b, const char *c) {
    char *ab = path_join(a, b), *abc = path_join(ab, c);
    free(ab);
    return abc;
}

static char *target_dir(const Trainer *t, int k) {
    const TargetInfo *ti = &t->meta.targets[k];
    char *r = path_join(t->run, "results");
    char *d = join3(r, ti->output_name, ti->column);
    free(r);
    return d;
}

char *run_effective_config_json(const char *run) {
    static const char *names[4][2] = {{"global", "global_config.yaml"}, {"inputs", "input_configs.yaml"},
                                      {"outputs", "output_configs.yaml"}, {"fusion", "fusion_config.yaml"}};
    json_t *o = json_object();
    char *dir = path_join(run, "configs");
    for (int i = 0; i < 4; i++) {
        char *p = path_join(dir, names[i][1]);
        if (path_exists(p)) {
            char *text = read_file_check(p, NULL);
            json_object_set_new(o, names[i][0], json_string(text));
            free(text);
        }
        free(p);
    }
    free(dir);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static void write_serializations(Trainer *t) {
    char *ser = path_join(t->run, "serializations");
    for (int i = 0; i < t->cfg->n_inputs; i++) {
        const InputConfig *ic = &t->cfg->inputs[i];
        char *d = join3(ser, "bytes_input_serializations", ic->input_name);
        mkdir_or_die(d);
        StrBuf sb = {0};
        sb_puts(&sb, "{");
        for (int b = 0; b < 256; b++) sb_printf(&sb, "\"%d\": %d, ", b, b);
        sb_puts(&sb, "\"<bos>\": 256, \"<unk>\": 257, \"<mask>\": 258, \"<pad>\": 259, \"<eos>\": 260}\n");
        char *p = path_join(d, "vocab.json");
        write_or_die(p, sb.data);
        free(p);
        sb_free(&sb);
        char num[32];
        snprintf(num, sizeof num, "%d", ic->max_length);
        p = path_join(d, "computed_max_length.json");
        write_or_die(p, num);
        free(p);
        free(d);
    }
    for (int k = 0; k < t->n_targets; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        char *d = join3(ser, "transformers", ti->output_name);
        mkdir_or_die(d);
        json_t *o;
        if (ti->continuous) {
            o = json_pack("{s:s, s:[f], s:[f], s:[f]}", "type", "StandardScaler", "mean", ti->mean, "scale", ti->scale,
                          "var", ti->scale * ti->scale);
        } else {
            json_t *cl = json_array();
            for (int c = 0; c < ti->n_classes; c++) json_array_append_new(cl, json_string(ti->classes[c]));
            o = json_pack("{s:s, s:o}", "type", "LabelEncoder", "classes", cl);
        }
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        char fname[256];
        snprintf(fname, sizeof fname, "%s.json", ti->column);
        char *p = path_join(d, fname);
        write_or_die(p, text);
        free(p);
        free(text);
        free(d);
    }
    free(ser);
}

static void write_model_info(Trainer *t) {
    StrBuf sb = {0};
    const Model *m = &t->model;
    sb_printf(&sb, "eir-dist MetaModel: %d input(s), %d fusion block(s), %d target head(s)\n\n",
              m->config.n_inputs, m->config.fusion_layers, m->config.n_targets);
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *p = &m->params[i];
        sb_printf(&sb, "%-90s (", p->name);
        for (int d = 0; d < p->ndim; d++) sb_printf(&sb, "%s%lld", d ? ", " : "", (long long)p->shape[d]);
        sb_printf(&sb, ")%s\n", p->decay ? "" : "  [no weight decay]");
    }
    for (int i = 0; i < m->n_buffers; i++) sb_printf(&sb, "%-90s buffer\n", m->buffers[i].name);
    sb_printf(&sb, "\nTotal parameters: %zu\nTrainable parameters: %zu\n", m->num_parameters, m->num_parameters);
    char *dir = path_join(t->run, "model_architecture");
    mkdir_or_die(dir);
    char *p = path_join(dir, "model_info.txt");
    write_or_die(p, sb.data);
    free(p);
    free(dir);
    sb_free(&sb);
}

// Two processes writing one run folder would interleave their files: the first one holds an
// exclusive lock on <run>/.eir-dist.lock until it exits (the kernel drops it even on a crash).
// Returns the locked descriptor: the lock holds until it is closed (trainer_free) or the process ends.
static int lock_run_folder(const char *run) {
    char *p = path_join(run, ".eir-dist.lock");
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) eir_die("cannot open '%s': %s", p, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        eir_die_user("run folder '%s' is in use by another eir-dist process (%s is locked)", run, p);
    free(p);
    return fd;
}

// "<name>.tmp.<pid>": the temporary of an atomic write (write_file_atomic, safetensors_write).
static bool is_atomic_temporary(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name || !t[5]) return false;
    for (t += 5; *t; t++)
        if (*t < '0' || *t > '9') return false;
    return true;
}

// Removes the temporaries that writers killed mid-write left (SIGKILL, the OOM killer, a lost
// node: the file they were replacing is intact, the temporary is litter). Only under the run
// folder's lock, when no other process writes there. Returns how many were removed.
static int remove_stale_temporaries(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < 8) n += remove_stale_temporaries(p, depth + 1);
            else if (S_ISREG(st.st_mode) && is_atomic_temporary(e->d_name) && unlink(p) == 0) n++;
        }
        free(p);
    }
    closedir(d);
    return n;
}

void run_folder_prepare(Trainer *t, bool resume) {
    mkdir_or_die(t->run);
    t->lock_fd = lock_run_folder(t->run);
    if (resume) {
        int n = remove_stale_temporaries(t->run, 0);
        if (n) log_msg(LOG_INFO, "eir.train", "Removed %d temporary file(s) of writes an earlier process did not finish", n);
    }
    char *p = path_join(t->run, "logging_history.log");
    if (log_open_file(p) != 0) eir_die("cannot open '%s': %s", p, strerror(errno));
    free(p);
    char *dirs[] = {"meta", "saved_models", "configs", "results"};
    for (int i = 0; i < 4; i++) {
        p = path_join(t->run, dirs[i]);
        mkdir_or_die(p);
        free(p);
    }
    if (!resume) {
        p = join3(t->run, "meta", "eir_version.txt");
        write_or_die(p, "eir-dist " EIR_VERSION "\n");
        free(p);
        p = path_join(t->run, "configs");
        config_write_effective(t->cfg, p);
        free(p);
        write_serializations(t);
        write_model_info(t);
    }
    t->meta.effective_config_json = run_effective_config_json(t->run);
    for (int k = 0; k < t->n_targets; k++) {
        char *d = target_dir(t, k);
        mkdir_or_die(d);
        free(d);
    }
}

static void grow(double **buf, long *cap, long n, size_t row) {
    if (n < *cap) return;
    *cap = *cap ? *cap * 2 : 1024;
    *buf = realloc_check(*buf, (size_t)*cap * row * sizeof(double));
}

void run_files_append_train(Trainer *t) {
    TrainProgress *p = &t->prog;
    size_t row = 2 + (size_t)t->n_targets;
    grow(&p->train_hist, &p->cap_train_hist, p->n_train_hist, row);
    double *r = p->train_hist + (size_t)p->n_train_hist * row;
    r[0] = (double)p->iteration;
    r[1] = p->loss_avg.value;
    for (int k = 0; k < t->n_targets; k++) r[2 + k] = p->target_loss_avg[k].value;
    p->n_train_hist++;
}

static void fmt_num(StrBuf *sb, double v) {
    if (isnan(v)) sb_puts(sb, "nan");
    else sb_printf(sb, "%.10g", v);
}

// validation_average_history<suffix>.log and, per target (detail level > 1),
// validation_<column>_history<suffix>.log from n validation rows (valid_hist's layout).
static void write_valid_history_files(Trainer *t, const double *hist, long n, const char *suffix) {
    int T = t->n_targets, level = t->cfg->global.evaluation_checkpoint.saved_result_detail_level;
    size_t vrow = 3 + (size_t)VALID_COLS_PER_TARGET * T;
    StrBuf sb = {0};
    char fname[320];
    sb_puts(&sb, "iteration,loss-average,perf-average\n");
    for (long i = 0; i < n; i++) {
        const double *r = hist + i * vrow;
        sb_printf(&sb, "%ld,", (long)r[0]);
        fmt_num(&sb, r[1]);
        sb_puts(&sb, ",");
        fmt_num(&sb, r[2]);
        sb_puts(&sb, "\n");
    }
    snprintf(fname, sizeof fname, "validation_average_history%s.log", suffix);
    char *path = path_join(t->run, fname);
    write_or_die(path, sb.data);
    free(path);
    for (int k = 0; level > 1 && k < T; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        const char *o = ti->output_name, *c = ti->column;
        sb.len = 0;
        if (ti->continuous) sb_printf(&sb, "iteration,%s_%s_loss,%s_%s_pcc,%s_%s_r2\n", o, c, o, c, o, c);
        else sb_printf(&sb, "iteration,%s_%s_acc,%s_%s_ap-macro,%s_%s_loss,%s_%s_mcc,%s_%s_roc-auc-macro\n", o, c, o, c,
                       o, c, o, c, o, c);
        int ncols = ti->continuous ? 3 : 5;
        for (long i = 0; i < n; i++) {
            const double *r = hist + i * vrow;
            sb_printf(&sb, "%ld", (long)r[0]);
            for (int q = 0; q < ncols; q++) {
                sb_puts(&sb, ",");
                fmt_num(&sb, r[3 + VALID_COLS_PER_TARGET * k + q]);
            }
            sb_puts(&sb, "\n");
        }
        char *dir = target_dir(t, k);
        snprintf(fname, sizeof fname, "validation_%s_history%s.log", ti->column, suffix);
        path = path_join(dir, fname);
        write_or_die(path, sb.data);
        free(path);
        free(dir);
    }
    sb_free(&sb);
}

static void write_history_files(Trainer *t) {
    const TrainProgress *p = &t->prog;
    int T = t->n_targets, level = t->cfg->global.evaluation_checkpoint.saved_result_detail_level;
    size_t trow = 2 + (size_t)T;
    StrBuf sb = {0};
    sb_puts(&sb, "iteration,loss-average\n");
    for (long i = 0; i < p->n_train_hist; i++) {
        sb_printf(&sb, "%ld,", (long)p->train_hist[i * trow]);
        fmt_num(&sb, p->train_hist[i * trow + 1]);
        sb_puts(&sb, "\n");
    }
    char *path = path_join(t->run, "train_average_history.log");
    write_or_die(path, sb.data);
    free(path);
    for (int k = 0; level > 1 && k < T; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        char *dir = target_dir(t, k), fname[300];
        sb.len = 0;
        sb_printf(&sb, "iteration,%s_%s_loss\n", ti->output_name, ti->column);
        for (long i = 0; i < p->n_train_hist; i++) {
            sb_printf(&sb, "%ld,", (long)p->train_hist[i * trow]);
            fmt_num(&sb, p->train_hist[i * trow + 2 + k]);
            sb_puts(&sb, "\n");
        }
        snprintf(fname, sizeof fname, "train_%s_history.log", ti->column);
        path = path_join(dir, fname);
        write_or_die(path, sb.data);
        free(path);
        free(dir);
    }
    sb_free(&sb);
    write_valid_history_files(t, p->valid_hist, p->n_valid_hist, "");
    // validation by crops (evaluation_crops): beside EIR's files, never instead of them
    if (t->eval_crops) write_valid_history_files(t, p->crops_hist, p->n_crops_hist, "_crops");
}

// Curves: train rows after the first plot_skip_steps (when there are more), validation rows all.
static void write_curves(Trainer *t) {
    const TrainProgress *p = &t->prog;
    int T = t->n_targets, level = t->cfg->global.evaluation_checkpoint.saved_result_detail_level;
    if (level <= 1) return;
    size_t trow = 2 + (size_t)T, vrow = 3 + (size_t)VALID_COLS_PER_TARGET * T;
    long skip = t->cfg->global.visualization_logging.plot_skip_steps;
    if (p->n_train_hist <= skip) skip = 0;
    long nt = p->n_train_hist - skip, nv = p->n_valid_hist;
    double *tx = malloc_check(sizeof(double) * (size_t)(nt + 1)), *ty = malloc_check(sizeof(double) * (size_t)(nt + 1));
    double *vx = malloc_check(sizeof(double) * (size_t)(nv + 1)), *vy = malloc_check(sizeof(double) * (size_t)(nv + 1));
    for (long i = 0; i < nv; i++) vx[i] = p->valid_hist[i * vrow];
    for (long i = 0; i < nt; i++) tx[i] = p->train_hist[(skip + i) * trow];
    // run-level: loss-average (train + valid) and perf-average (valid)
    for (long i = 0; i < nt; i++) ty[i] = p->train_hist[(skip + i) * trow + 1];
    for (long i = 0; i < nv; i++) vy[i] = p->valid_hist[i * vrow + 1];
    CurveSeries s2[2] = {{"train", "#1f77b4", tx, ty, (int)nt}, {"validation", "#d62728", vx, vy, (int)nv}};
    char *path = path_join(t->run, "training_curve_LOSS-AVERAGE.svg");
    if (svg_curve_write(path, "LOSS-AVERAGE", "Iteration", "loss-average", s2, 2) != 0) log_msg(LOG_WARNING, "eir.train", "cannot write %s", path);
    free(path);
    for (long i = 0; i < nv; i++) vy[i] = p->valid_hist[i * vrow + 2];
    CurveSeries s1 = {"validation", "#d62728", vx, vy, (int)nv};
    path = path_join(t->run, "training_curve_PERF-AVERAGE.svg");
    if (svg_curve_write(path, "PERF-AVERAGE", "Iteration", "perf-average", &s1, 1) != 0) log_msg(LOG_WARNING, "eir.train", "cannot write %s", path);
    free(path);
    if (level > 2) {
        static const char *cat_names[5] = {"ACC", "AP-MACRO", "LOSS", "MCC", "ROC-AUC-MACRO"};
        static const char *con_names[3] = {"LOSS", "PCC", "R2"};
        for (int k = 0; k < T; k++) {
            const TargetInfo *ti = &t->meta.targets[k];
            char *dir = target_dir(t, k);
            int nm = ti->continuous ? 3 : 5;
            for (int q = 0; q < nm; q++) {
                const char *mn = ti->continuous ? con_names[q] : cat_names[q];
                for (long i = 0; i < nv; i++) vy[i] = p->valid_hist[i * vrow + 3 + VALID_COLS_PER_TARGET * k + q];
                int ns = 1;
                CurveSeries cs[2] = {{"validation", "#d62728", vx, vy, (int)nv}, {0}};
                if (!strcmp(mn, "LOSS")) {  // loss also has a train curve
                    for (long i = 0; i < nt; i++) ty[i] = p->train_hist[(skip + i) * trow + 2 + k];
                    cs[1] = cs[0];
                    cs[0] = (CurveSeries){"train", "#1f77b4", tx, ty, (int)nt};
                    ns = 2;
                }
                char fname[64], title[256];
                snprintf(fname, sizeof fname, "training_curve_%s.svg", mn);
                snprintf(title, sizeof title, "%s.%s: %s", ti->output_name, ti->column, mn);
                path = path_join(dir, fname);
                if (svg_curve_write(path, title, "Iteration", mn, cs, ns) != 0) log_msg(LOG_WARNING, "eir.train", "cannot write %s", path);
                free(path);
            }
            free(dir);
        }
    }
    free(tx); free(ty); free(vx); free(vy);
}

static void write_predictions(Trainer *t, long iteration) {
    int T = t->n_targets;
    int64_t n = t->setup->valid.n;
    for (int k = 0; k < T; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        int K = ti->n_classes;
        StrBuf sb = {0};
        if (ti->continuous) sb_puts(&sb, "ID,True_Label,Predicted\n");
        else {
            sb_puts(&sb, "ID,True_Label,Predicted");
            for (int c = 0; c < K; c++) {
                char col[512];
                snprintf(col, sizeof col, "Score Class %s", ti->classes[c]);
                sb_puts(&sb, ",");
                csv_append_cell(&sb, col);
            }
            sb_puts(&sb, "\n");
        }
        for (int64_t i = 0; i < n; i++) {
            const float *lg = t->valid_logits[k] + i * K;
            float y = t->valid_targets[i * T + k];
            csv_append_cell(&sb, sample_id(t->setup, &t->setup->valid, i));
            sb_puts(&sb, ",");
            if (ti->continuous) {
                fmt_num(&sb, isnan(y) ? NAN : y * ti->scale + ti->mean);
                sb_puts(&sb, ",");
                fmt_num(&sb, lg[0] * ti->scale + ti->mean);
            } else {
                if (y >= 0) csv_append_cell(&sb, ti->classes[(int)y]);
                sb_puts(&sb, ",");
                int best = 0;
                for (int c = 1; c < K; c++)
                    if (lg[c] > lg[best]) best = c;
                csv_append_cell(&sb, ti->classes[best]);
                for (int c = 0; c < K; c++) sb_printf(&sb, ",%.8g", lg[c]);  // raw logits, as EIR
            }
            sb_puts(&sb, "\n");
        }
        char *dir = target_dir(t, k), sub[64];
        snprintf(sub, sizeof sub, "samples/%ld", iteration);
        char *sdir = path_join(dir, sub);
        mkdir_or_die(sdir);
        char *path = path_join(sdir, "predictions.csv");
        write_or_die(path, sb.data);
        free(path);
        free(sdir);
        free(dir);
        sb_free(&sb);
    }
}

// Appends one validation row (valid_hist's layout) of v to *hist.
static void append_valid_row(Trainer *t, double **hist, long *n, long *cap, long iteration, const ValidResult *v) {
    int T = t->n_targets;
    size_t vrow = 3 + (size_t)VALID_COLS_PER_TARGET * T;
    grow(hist, cap, *n, vrow);
    double *r = *hist + (size_t)*n * vrow;
    r[0] = (double)iteration;
    r[1] = v->loss_average;
    r[2] = v->perf_average;
    for (int k = 0; k < T; k++) {
        double *c = r + 3 + VALID_COLS_PER_TARGET * k;
        if (t->meta.targets[k].continuous) {
            c[0] = v->con_loss[k]; c[1] = v->con_pcc[k]; c[2] = v->con_r2[k]; c[3] = c[4] = NAN;
        } else {
            const CatMetrics *m = &v->cat[k];
            c[0] = m->acc; c[1] = m->ap; c[2] = m->loss; c[3] = m->mcc; c[4] = m->roc_auc;
        }
    }
    (*n)++;
}

void run_files_write_validation(Trainer *t, long iteration) {
    TrainProgress *p = &t->prog;
    append_valid_row(t, &p->valid_hist, &p->n_valid_hist, &p->cap_valid_hist, iteration, &t->vres);
    if (t->eval_crops)
        append_valid_row(t, &p->crops_hist, &p->n_crops_hist, &p->cap_crops_hist, iteration, &t->vres_crops);
    if (t->cfg->global.evaluation_checkpoint.saved_result_detail_level > 4) write_predictions(t, iteration);
    write_history_files(t);
    write_curves(t);
}

void run_files_rewrite_histories(Trainer *t) {
    write_history_files(t);
    write_curves(t);
}

void run_files_flush(Trainer *t) { write_history_files(t); }

void run_files_close(Trainer *t) {
    (void)t;
    log_close_file();
}
