// trainer_validate.c: validation and EIR's handlers (spec §4): every rank scores its share of
// the valid set, rank 0 gathers logits and labels and computes the metrics, then, in EIR's order,
// early stopping -> LR plateau -> best-n model files -> history files; the decisions are
// broadcast so every rank agrees.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "train/trainer_internal.h"

// Validation by crops beside EIR's lines: the same figures for the mean over each file's crops.
static void log_crops(const Trainer *t, long iteration) {
    char mode[24];
    crops_mode_name(t->cfg->global.evaluation_checkpoint.evaluation_crops, mode, sizeof mode);
    const ValidResult *v = &t->vres_crops;
    log_msg(LOG_INFO, "eir.validation.crops", "iteration %ld (crops %s, %.2f per file): perf-average %.4f, loss-average %.4f",
            iteration, mode, t->crops_per_file, v->perf_average, v->loss_average);
    for (int k = 0; k < t->n_targets; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        if (ti->continuous)
            log_msg(LOG_INFO, "eir.validation.crops", "  %s.%s (crops %s): loss %.4f  r2 %.4f  pcc %.4f", ti->output_name,
                    ti->column, mode, v->con_loss[k], v->con_r2[k], v->con_pcc[k]);
        else
            log_msg(LOG_INFO, "eir.validation.crops", "  %s.%s (crops %s): mcc %.4f  acc %.4f  roc-auc %.4f  ap %.4f  loss %.4f",
                    ti->output_name, ti->column, mode, v->cat[k].mcc, v->cat[k].acc, v->cat[k].roc_auc, v->cat[k].ap,
                    v->cat[k].loss);
    }
}

static double mean_of(const double *v, int n) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) { s += v[i]; k++; }
    return k ? s / k : NAN;
}

static void con_metrics(const float *pred, const float *truth, int n, double *loss, double *r2, double *pcc) {
    double sp = 0, st = 0, spp = 0, stt = 0, spt = 0, sse = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(truth[i])) continue;
        double p = pred[i], y = truth[i];
        sp += p; st += y; spp += p * p; stt += y * y; spt += p * y;
        sse += (p - y) * (p - y);
        k++;
    }
    if (!k) { *loss = *r2 = *pcc = NAN; return; }
    *loss = sse / k;
    double vt = stt - st * st / k, vp = spp - sp * sp / k, cov = spt - sp * st / k;
    *r2 = vt > 0 ? 1 - sse / vt : NAN;
    *pcc = vt > 0 && vp > 0 ? cov / sqrt(vt * vp) : NAN;
}

size_t trainer_valid_row_floats(const Trainer *t) {
    size_t row_floats = 0;
    for (int k = 0; k < t->n_targets; k++) row_floats += (size_t)t->meta.targets[k].n_classes;
    return row_floats + (size_t)t->n_targets;  // labels after the logits
}

void trainer_valid_metrics(Trainer *t, const float *all, int64_t n, float **logits, ValidResult *v) {
    int T = t->n_targets;
    size_t row_floats = trainer_valid_row_floats(t);
    double *perf = malloc_check((size_t)T * sizeof(double)), *losses = malloc_check((size_t)T * sizeof(double));
    size_t col = 0;
    for (int k = 0; k < T; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        int K = ti->n_classes;
        float *lg = logits[k];
        const float *label = all + (row_floats - (size_t)T) + (size_t)k;  // sample i's: label[i * row_floats]
        for (int64_t i = 0; i < n; i++) memcpy(lg + i * K, all + (size_t)i * row_floats + col, (size_t)K * sizeof(float));
        col += (size_t)K;
        if (ti->continuous) {
            float *truth = malloc_check((size_t)(n ? n : 1) * sizeof(float));
            for (int64_t i = 0; i < n; i++) truth[i] = label[(size_t)i * row_floats];
            con_metrics(lg, truth, (int)n, &v->con_loss[k], &v->con_r2[k], &v->con_pcc[k]);
            free(truth);
            double parts[3] = {1 - v->con_loss[k], v->con_pcc[k], v->con_r2[k]};
            perf[k] = mean_of(parts, 3);
            losses[k] = v->con_loss[k];
        } else {
            int32_t *lab = malloc_check((size_t)(n ? n : 1) * sizeof(int32_t));
            for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)label[(size_t)i * row_floats];
            cat_metrics_compute(&v->cat[k], lg, lab, (int)n, K);
            free(lab);
            const CatMetrics *c = &v->cat[k];
            const StrList *am = &t->cfg->global.metrics.cat_averaging_metrics;
            double parts[8];
            int np = 0;
            for (int q = 0; q < am->n && np < 8; q++) {
                const char *name = am->items[q];
                parts[np++] = !strcmp(name, "mcc") ? c->mcc : !strcmp(name, "acc") ? c->acc
                            : !strcmp(name, "roc-auc-macro") ? c->roc_auc : !strcmp(name, "ap-macro") ? c->ap
                            : !strcmp(name, "loss") ? 1 - c->loss : NAN;
            }
            perf[k] = mean_of(parts, np);
            losses[k] = c->loss;
        }
    }
    v->perf_average = mean_of(perf, T);
    v->loss_average = mean_of(losses, T);
    free(perf);
    free(losses);
}

// Scores this rank's valid range, gathers logits and labels to rank 0, which computes metrics.
void trainer_validate(Trainer *t) {
    int T = t->n_targets;
    int64_t n_local = dataset_valid_count(&t->ds);
    size_t row_floats = trainer_valid_row_floats(t);
    float *local = malloc_check((size_t)(n_local ? n_local : 1) * row_floats * sizeof(float));
    ForwardCtx ctx = {.train = false, .inference_only = true, .seed = t->seed};
    for (int64_t first = 0; first < n_local; first += t->valid_chunk) {
        int n = (int)(n_local - first < t->valid_chunk ? n_local - first : t->valid_chunk);
        if (dataset_valid_batch(&t->ds, first, n, t->tokens, t->targets, t->sample_idx) != 0)
            eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
        t->dev->forward(t, n, &ctx, false);
        t->pf_on_device = false;  // a GPU's forward of t->tokens went through the staging slot
        size_t col = 0;
        for (int k = 0; k < T; k++) {
            int K = t->meta.targets[k].n_classes;
            const float *logits = t->dev->logits(t, k, n);
            for (int r = 0; r < n; r++)
                memcpy(local + (size_t)(first + r) * row_floats + col, logits + (size_t)r * K, (size_t)K * sizeof(float));
            col += (size_t)K;
        }
        for (int r = 0; r < n; r++)
            memcpy(local + (size_t)(first + r) * row_floats + col, t->targets + (size_t)r * T, (size_t)T * sizeof(float));
    }
    size_t total = 0;
    float *all = comm_gatherv(t->comm, local, (size_t)n_local * row_floats * sizeof(float), 0, &total);
    free(local);
    if (!t->root) return;
    int64_t n = (int64_t)(total / (row_floats * sizeof(float)));
    for (int64_t i = 0; i < n; i++)
        memcpy(t->valid_targets + i * T, all + (size_t)i * row_floats + (row_floats - (size_t)T), (size_t)T * sizeof(float));
    trainer_valid_metrics(t, all, n, t->valid_logits, &t->vres);
    free(all);
}

// ---- handlers ---------------------------------------------------------------------------------

static void save_best_model(Trainer *t, long iteration, double score) {
    TrainProgress *p = &t->prog;
    double best = -INFINITY;
    for (int i = 0; i < p->n_saved; i++) best = fmax(best, p->saved[i].score);
    if (p->n_saved > 0 && !(score > best)) return;  // EIR: only on strict improvement
    char *name = run_checkpoint_name(t->run, iteration, score);
    char *dir = path_join(t->run, "saved_models");
    char *path = path_join(dir, name);
    free(name);
    free(dir);
    t->meta.iteration = iteration;
    t->meta.perf_average = score;
    char err[1024];
    t->dev->to_host(t, false);
    if (model_io_save(path, &t->model, &t->meta, err, sizeof err) != 0) eir_die("cannot save the model: %s", err);
    log_msg(LOG_INFO, "eir.train", "Saved model %s (perf-average %.4f)", path, score);
    // keep the best n_saved_models by score
    if (p->n_saved == TRAINER_MAX_SAVED) {
        free(p->saved[0].path);
        memmove(p->saved, p->saved + 1, sizeof(SavedModel) * (TRAINER_MAX_SAVED - 1));
        p->n_saved--;
    }
    p->saved[p->n_saved++] = (SavedModel){iteration, score, path};
    int keep = t->cfg->global.evaluation_checkpoint.n_saved_models;
    while (p->n_saved > keep) {
        int worst = 0;
        for (int i = 1; i < p->n_saved; i++)
            if (p->saved[i].score < p->saved[worst].score) worst = i;
        if (unlink(p->saved[worst].path) != 0) log_msg(LOG_WARNING, "eir.train", "could not remove %s", p->saved[worst].path);
        free(p->saved[worst].path);
        p->saved[worst] = p->saved[--p->n_saved];
    }
}

bool trainer_evaluate(Trainer *t, bool final_extra) {
    long iteration = t->prog.iteration;
    const GlobalConfig *g = &t->cfg->global;
    double t_begin = now_seconds();
    trainer_validate(t);
    if (t->eval_crops) trainer_validate_crops(t);
    // decisions are taken on rank 0 and broadcast so every rank agrees
    int32_t flags[2] = {0, 0};  // stop, lr reduced
    double lr_now = 0;
    if (t->root) {
        double perf = t->vres.perf_average;
        log_msg(LOG_INFO, "eir.validation", "iteration %ld: perf-average %.4f, loss-average %.4f", iteration, perf,
                t->vres.loss_average);
        for (int k = 0; k < t->n_targets; k++) {
            const TargetInfo *ti = &t->meta.targets[k];
            if (ti->continuous)
                log_msg(LOG_INFO, "eir.validation", "  %s.%s: loss %.4f  r2 %.4f  pcc %.4f", ti->output_name, ti->column,
                        t->vres.con_loss[k], t->vres.con_r2[k], t->vres.con_pcc[k]);
            else
                log_msg(LOG_INFO, "eir.validation", "  %s.%s: mcc %.4f  acc %.4f  roc-auc %.4f  ap %.4f  loss %.4f",
                        ti->output_name, ti->column, t->vres.cat[k].mcc, t->vres.cat[k].acc, t->vres.cat[k].roc_auc,
                        t->vres.cat[k].ap, t->vres.cat[k].loss);
        }
        if (t->eval_crops) log_crops(t, iteration);
        // early stopping
        int patience = g->training_control.early_stopping_patience;
        if (patience > 0 && !final_extra && iteration >= g->training_control.early_stopping_buffer) {
            double s = isnan(perf) ? -INFINITY : perf;
            if (s > t->prog.es_best) {
                t->prog.es_best = s;
                t->prog.es_counter = 0;
            } else if (++t->prog.es_counter >= patience) {
                log_msg(LOG_INFO, "eir.train", "EarlyStopping: Stop training");
                flags[0] = 1;
            }
        }
        // LR plateau
        if (lr_schedule_on_validation(&t->sched, iteration, perf)) {
            flags[1] = 1;
            log_msg(LOG_INFO, "eir.train", "Reducing learning rate to %.4g", t->sched.current_lr);
        }
        lr_now = t->sched.current_lr;
        // best-n model files
        int ci = g->evaluation_checkpoint.checkpoint_interval;
        if (ci > 0 && (iteration % ci == 0 || final_extra)) save_best_model(t, iteration, perf);
        run_files_write_validation(t, iteration);
    }
    comm_bcast(t->comm, flags, sizeof flags, 0);
    comm_bcast(t->comm, &lr_now, sizeof lr_now, 0);
    t->sched.current_lr = lr_now;
    if (flags[0]) t->prog.stopped_early = true;
    // what bench/model_quality.py subtracts from the log's timestamps to get the training time
    if (t->root)
        log_msg(LOG_INFO, "eir.validation", "iteration %ld: validation took %.2f s", iteration, now_seconds() - t_begin);
    return flags[0] != 0;
}

