// trainer.c: the training loop (spec §4): per iteration every rank builds its slice of the global
// batch, runs forward/backward, the gradients are summed across ranks, clipped, and AdamW steps;
// every sample_interval iterations the validation set is scored and the handlers run in EIR's
// order: running averages -> validation -> early stopping -> LR scheduler -> checkpoint -> files.
#include "train/trainer.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rng.h"
#include "common/util.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/trainer_internal.h"

static volatile sig_atomic_t g_signal = 0;
static void on_signal(int sig) { g_signal = sig; }

char *run_checkpoint_name(const char *output_folder, long iteration, double score) {
    const char *base = strrchr(output_folder, '/');
    base = base && base[1] ? base + 1 : output_folder;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s_checkpoint_%ld_perf-average=%.4f.safetensors", base, iteration, score);
    return strdup_check(buf);
}

static SchedKind sched_kind(LRScheduleKind k) {
    return k == LR_COSINE ? SCHED_COSINE : k == LR_CYCLE ? SCHED_CYCLE : SCHED_PLATEAU;
}

// ---- set-up ---------------------------------------------------------------------------------

static void build_meta(Trainer *t) {
    const LabelSet *ls = &t->setup->labels;
    t->meta.n_targets = ls->n_targets;
    t->meta.targets = calloc_check((size_t)ls->n_targets, sizeof(TargetInfo));
    for (int k = 0; k < ls->n_targets; k++) {
        const LabelTarget *lt = &ls->targets[k];
        TargetInfo *ti = &t->meta.targets[k];
        ti->output_name = strdup_check(t->cfg->outputs[lt->output_index].output_name);
        ti->column = strdup_check(lt->column);
        ti->continuous = !lt->categorical;
        ti->n_classes = lt->categorical ? lt->n_classes : 1;
        if (lt->categorical) {
            ti->classes = calloc_check((size_t)lt->n_classes, sizeof(char *));
            for (int c = 0; c < lt->n_classes; c++) ti->classes[c] = strdup_check(lt->classes[c]);
        }
        ti->mean = lt->mean;
        ti->scale = lt->scale;
    }
}

static void alloc_batch_buffers(Trainer *t) {
    int rows = t->local_rows > t->valid_chunk ? t->local_rows : t->valid_chunk;
    t->tokens = calloc_check((size_t)t->n_inputs, sizeof(int32_t *));
    for (int i = 0; i < t->n_inputs; i++)
        t->tokens[i] = malloc_check((size_t)rows * t->cfg->inputs[i].max_length * sizeof(int32_t));
    t->targets = malloc_check((size_t)rows * t->n_targets * sizeof(float));
    t->sample_idx = malloc_check((size_t)rows * sizeof(int64_t));
    t->sample_ids = malloc_check((size_t)rows * sizeof(uint64_t));
    t->cls = calloc_check((size_t)t->n_targets, sizeof(int32_t *));
    t->val = calloc_check((size_t)t->n_targets, sizeof(float *));
    t->labels = calloc_check((size_t)t->n_targets, sizeof(TargetLabels));
    for (int k = 0; k < t->n_targets; k++) {
        if (t->meta.targets[k].continuous) {
            t->val[k] = malloc_check((size_t)rows * sizeof(float));
            t->labels[k].value = t->val[k];
        } else {
            t->cls[k] = malloc_check((size_t)rows * sizeof(int32_t));
            t->labels[k].cls = t->cls[k];
        }
    }
    t->mix_perm = malloc_check((size_t)rows * sizeof(int32_t));
    t->loss_buf = calloc_check((size_t)2 * t->n_targets + 1, sizeof(double));
    t->loss_tl = calloc_check((size_t)t->n_targets, sizeof(float));
}

// Splits the dataset's [rows x n_targets] float targets into the model's per-target label arrays.
static void split_targets(Trainer *t, int rows) {
    for (int k = 0; k < t->n_targets; k++)
        for (int r = 0; r < rows; r++) {
            float v = t->targets[(size_t)r * t->n_targets + k];
            if (t->meta.targets[k].continuous) t->val[k][r] = v;
            else t->cls[k][r] = (int32_t)v;
        }
}

// ---- one training iteration -------------------------------------------------------------------

// Mixup (spec §4.2, §10): lambda ~ Beta(a, a) once per global step (all ranks agree); the pairing
// permutes this rank's local rows, keyed by the step and the rank's first global batch position.
static void mixup_draw(Trainer *t, long step, float *lambda) {
    double a = t->cfg->global.training_control.mixing_alpha;
    RngStream r;
    rng_stream_init(&r, t->seed, rng_purpose(RNG_MIXUP, 0), (uint64_t)step, 0);
    *lambda = (float)rng_next_beta(&r, a, a);
    rng_stream_init(&r, t->seed, rng_purpose(RNG_MIXUP, 1), (uint64_t)step, (uint64_t)t->comm->rank * t->local_rows);
    int n = t->local_rows;
    for (int i = 0; i < n; i++) t->mix_perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_next_below(&r, (uint64_t)i + 1);
        int32_t tmp = t->mix_perm[i];
        t->mix_perm[i] = t->mix_perm[j];
        t->mix_perm[j] = tmp;
    }
}

// With the batch of `step` in the batch buffers: its per-target labels, global sample ids and the
// training forward context (dropout streams, mixup lambda and pairing).
ForwardCtx trainer_step_ctx(Trainer *t, long step) {
    split_targets(t, t->local_rows);
    for (int r = 0; r < t->local_rows; r++) t->sample_ids[r] = (uint64_t)t->sample_idx[r];
    ForwardCtx ctx = {.train = true, .seed = t->seed, .step = (uint64_t)step, .sample_ids = t->sample_ids};
    if (t->cfg->global.training_control.mixing_alpha > 0) {
        ctx.mixup = true;
        mixup_draw(t, step, &ctx.mixup_lambda);
        ctx.mixup_perm = t->mix_perm;
    }
    return ctx;
}

// Denominators: present labels per target over the GLOBAL batch (buf[0..T)), so that summing the
// ranks' gradients gives exactly the gradient of the global-batch mean loss.
void trainer_label_counts(Trainer *t, int rows, double *buf) {
    int T = t->n_targets;
    for (int k = 0; k < T; k++) {
        buf[k] = 0.0;
        for (int r = 0; r < rows; r++)
            buf[k] += t->meta.targets[k].continuous ? !isnan(t->val[k][r]) : (t->cls[k][r] >= 0);
    }
    comm_allreduce_sum_f64(t->comm, buf, (size_t)T);
}

// The local losses are this rank's share of the global mean: their sum over ranks is the global
// loss. buf: room for 2T+1 doubles (the second part is used here).
double trainer_sum_losses(Trainer *t, double loss, const float *tl, double *buf, double *target_losses) {
    int T = t->n_targets;
    for (int k = 0; k < T; k++) buf[T + k] = tl[k];
    buf[2 * T] = loss;
    comm_allreduce_sum_f64(t->comm, buf + T, (size_t)T + 1);
    for (int k = 0; k < T; k++) target_losses[k] = buf[T + k];
    return buf[2 * T];
}

// Forward + loss + backward of this rank's rows of the global batch of iteration `step` (1-based);
// returns the global loss and fills target_losses (global).
static double forward_backward(Trainer *t, long step, double *target_losses) {
    int rows = t->local_rows;
    if (dataset_train_batch(&t->ds, t->prog.epoch, t->prog.iter_in_epoch, step, t->tokens, t->targets,
                            t->sample_idx) != 0)
        eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
    ForwardCtx ctx = trainer_step_ctx(t, step);
    model_forward(&t->model, (const int32_t *const *)t->tokens, rows, &ctx);
    double *buf = t->loss_buf;
    trainer_label_counts(t, rows, buf);
    double loss = model_loss(&t->model, t->labels, buf, t->loss_tl);
    loss = trainer_sum_losses(t, loss, t->loss_tl, buf, target_losses);
    // the last micro-batch of an optimizer step reduces its gradients while backward runs
    int accum = t->cfg->global.optimization.gradient_accumulation_steps;
    bool reduce_now = accum <= 1 || step % accum == 0;
    if (reduce_now && t->comm->size > 1) {
        grad_reduce_begin(&t->reducer);
        model_set_grad_hook(&t->model, grad_reduce_on_ready, &t->reducer);
    } else {
        model_set_grad_hook(&t->model, NULL, NULL);
    }
    double t0 = now_seconds();
    model_backward(&t->model);
    t->backward_total += now_seconds() - t0;
    return loss;
}

// The summed gradients (host buffer) before AdamW: 1/accumulation steps, global-norm clipping,
// then Gaussian noise of std gradient_noise, one stream per tensor and step (same on all ranks).
void trainer_prepare_grads(Trainer *t, float *grads, long step) {
    const Model *m = &t->model;
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    int accum = oc->gradient_accumulation_steps > 1 ? oc->gradient_accumulation_steps : 1;
    if (accum > 1) grad_scale(grads, m->num_parameters, 1.0f / (float)accum);
    if (oc->gradient_clipping > 0) {
        double f = grad_clip_factor(sqrt(grad_sum_squares(grads, m->num_parameters)), oc->gradient_clipping);
        if (f < 1.0) grad_scale(grads, m->num_parameters, (float)f);
    }
    if (oc->gradient_noise <= 0) return;
    for (int i = 0; i < m->n_param_tensors; i++) {
        RngStream r;
        rng_stream_init(&r, t->seed, rng_purpose(RNG_NOISE, (uint32_t)i), (uint64_t)step, 0);
        float *g = grads + m->params[i].offset;
        for (size_t j = 0; j < m->params[i].numel; j++) g[j] += (float)(oc->gradient_noise * rng_next_normal(&r));
    }
}

// Counts the optimizer step and returns its AdamW settings.
AdamWStep trainer_next_adamw_step(Trainer *t, long step) {
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    t->prog.optimizer_steps++;
    AdamWStep s = {.lr = lr_schedule_lr(&t->sched, step), .b1 = oc->b1, .b2 = oc->b2, .eps = 1e-8,
                   .wd = oc->wd, .step = t->prog.optimizer_steps};
    return s;
}

static void optimizer_step(Trainer *t, long step) {
    Model *m = &t->model;
    const OptimizationConfig *oc = &t->cfg->global.optimization;
    if (t->comm->size > 1) {
        grad_reduce_finish(&t->reducer);
        t->comm_wait_total += t->reducer.t_finish_wait;
        t->comm_steps++;
    }
    trainer_prepare_grads(t, m->grads_memory, step);
    AdamWStep s = trainer_next_adamw_step(t, step);
    for (int i = 0; i < m->n_param_tensors; i++) {
        const ParamTensor *p = &m->params[i];
        adamw_update(m->params_memory + p->offset, m->grads_memory + p->offset, t->adam_m + p->offset,
                     t->adam_v + p->offset, p->numel, &s, p->decay ? oc->wd : 0.0);
    }
}

// ---- validation -------------------------------------------------------------------------------

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

// Scores this rank's valid range, gathers logits and labels to rank 0, which computes metrics.
static void validate(Trainer *t) {
    Model *m = &t->model;
    int T = t->n_targets;
    int64_t n_local = dataset_valid_count(&t->ds);
    size_t row_floats = 0;
    for (int k = 0; k < T; k++) row_floats += (size_t)t->meta.targets[k].n_classes;
    row_floats += (size_t)T;  // labels after the logits
    float *local = malloc_check((size_t)(n_local ? n_local : 1) * row_floats * sizeof(float));
    ForwardCtx ctx = {.train = false, .seed = t->seed};
    float **logits = calloc_check((size_t)T, sizeof(float *)), **gpu_logits = calloc_check((size_t)T, sizeof(float *));
    if (t->cuda)
        for (int k = 0; k < T; k++)
            logits[k] = gpu_logits[k] = malloc_check((size_t)t->valid_chunk * t->meta.targets[k].n_classes * sizeof(float));
    for (int64_t first = 0; first < n_local; first += t->valid_chunk) {
        int n = (int)(n_local - first < t->valid_chunk ? n_local - first : t->valid_chunk);
        if (dataset_valid_batch(&t->ds, first, n, t->tokens, t->targets, t->sample_idx) != 0)
            eir_die_user("rank %d: %s", t->comm->rank, dataset_error(&t->ds));
        if (t->cuda) {
            trainer_cuda_forward_eval(t, n, &ctx);
            for (int k = 0; k < T; k++) trainer_cuda_logits(t, k, logits[k]);
        } else {
            model_forward(m, (const int32_t *const *)t->tokens, n, &ctx);
            for (int k = 0; k < T; k++) logits[k] = model_logits(m, k);
        }
        for (int r = 0; r < n; r++) {
            float *row = local + (size_t)(first + r) * row_floats;
            for (int k = 0; k < T; k++) {
                int K = t->meta.targets[k].n_classes;
                memcpy(row, logits[k] + (size_t)r * K, (size_t)K * sizeof(float));
                row += K;
            }
            memcpy(row, t->targets + (size_t)r * T, (size_t)T * sizeof(float));
        }
    }
    for (int k = 0; k < T; k++) free(gpu_logits[k]);
    free(gpu_logits);
    free(logits);
    size_t total = 0;
    float *all = comm_gatherv(t->comm, local, (size_t)n_local * row_floats * sizeof(float), 0, &total);
    free(local);
    if (!t->root) return;
    int64_t n = (int64_t)(total / (row_floats * sizeof(float)));
    ValidResult *v = &t->vres;
    double *perf = malloc_check((size_t)T * sizeof(double)), *losses = malloc_check((size_t)T * sizeof(double));
    size_t col = 0;
    for (int k = 0; k < T; k++) {
        const TargetInfo *ti = &t->meta.targets[k];
        int K = ti->n_classes;
        float *lg = t->valid_logits[k];
        for (int64_t i = 0; i < n; i++) {
            memcpy(lg + i * K, all + (size_t)i * row_floats + col, (size_t)K * sizeof(float));
            for (int q = 0; q < T; q++)
                t->valid_targets[i * T + q] = all[(size_t)i * row_floats + (row_floats - (size_t)T) + (size_t)q];
        }
        col += (size_t)K;
        if (ti->continuous) {
            float *truth = malloc_check((size_t)(n ? n : 1) * sizeof(float));
            for (int64_t i = 0; i < n; i++) truth[i] = t->valid_targets[i * T + k];
            con_metrics(lg, truth, (int)n, &v->con_loss[k], &v->con_r2[k], &v->con_pcc[k]);
            free(truth);
            double parts[3] = {1 - v->con_loss[k], v->con_pcc[k], v->con_r2[k]};
            perf[k] = mean_of(parts, 3);
            losses[k] = v->con_loss[k];
        } else {
            int32_t *lab = malloc_check((size_t)(n ? n : 1) * sizeof(int32_t));
            for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)t->valid_targets[i * T + k];
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
    if (t->cuda) trainer_cuda_to_host(t, false);
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

// The handlers of one validation iteration; returns true when early stopping ends the run.
static bool on_validation(Trainer *t, long iteration, bool final_extra) {
    const GlobalConfig *g = &t->cfg->global;
    validate(t);
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
    return flags[0] != 0;
}

static void save_state_or_die(Trainer *t) {
    if (!t->root) return;
    char err[1024];
    if (t->cuda) trainer_cuda_to_host(t, true);
    if (train_state_save(t, err, sizeof err) != 0) eir_die("cannot write the training state: %s", err);
}

// ---- the run ----------------------------------------------------------------------------------

int train_run(const ExperimentConfig *cfg, DataSetup *setup, Comm *comm, uint64_t seed, const TrainOptions *opt) {
    Trainer tr = {0}, *t = &tr;
    t->cfg = cfg;
    t->setup = setup;
    t->comm = comm;
    t->seed = seed;
    t->root = comm->rank == 0;
    t->run = strdup_check(cfg->global.basic_experiment.output_folder);
    const char *slash = strrchr(t->run, '/');
    t->name = strdup_check(slash && slash[1] ? slash + 1 : t->run);
    t->n_inputs = cfg->n_inputs;
    t->n_targets = setup->labels.n_targets;
    bool resume = opt->resume_folder != NULL;

    char err[EIR_ERR_LEN];
    if (dataset_open(&t->ds, setup, cfg, comm->rank, comm->size, err, sizeof err) != 0)
        eir_die_user("rank %d: %s", comm->rank, err);
    t->local_rows = dataset_local_rows(&t->ds);
    t->valid_chunk = t->local_rows < 64 ? 64 : t->local_rows;
    t->iters_per_epoch = dataset_iters_per_epoch(&t->ds);
    t->total_iters = t->iters_per_epoch * cfg->global.basic_experiment.n_epochs;
    build_meta(t);

    // model
    int *n_classes = malloc_check(sizeof(int) * (size_t)(t->n_targets + 1));
    int nc = 0;
    for (int k = 0; k < t->n_targets; k++)
        if (!t->meta.targets[k].continuous) n_classes[nc++] = t->meta.targets[k].n_classes;
    ModelConfig mc;
    model_config_from_experiment(&mc, cfg->inputs, cfg->n_inputs, &cfg->fusion, cfg->outputs, cfg->n_outputs, n_classes);
    free(n_classes);
    model_build(&t->model, &mc);
    model_init_params(&t->model, seed);
    // every rank starts from rank 0's parameters (identical by construction; the broadcast
    // guards against any difference in how a rank's libraries initialise)
    comm_bcast(comm, t->model.params_memory, t->model.num_parameters * sizeof(float), 0);
    if (!opt->cuda) model_alloc_activations(&t->model, t->local_rows > t->valid_chunk ? t->local_rows : t->valid_chunk);
    // EIR_DIST_BUCKET_MB: gradient bucket size (default 1 MiB; 0 = one blocking all-reduce)
    const char *bm = getenv("EIR_DIST_BUCKET_MB");
    double bucket_mb = bm ? atof(bm) : 1.0;
    grad_reduce_init(&t->reducer, comm, t->model.grads_memory, t->model.num_parameters,
                     (size_t)(bucket_mb * 1024 * 1024));
    t->adam_m = calloc_check(t->model.num_parameters, sizeof(float));
    t->adam_v = calloc_check(t->model.num_parameters, sizeof(float));
    alloc_batch_buffers(t);
    if (opt->cuda) trainer_cuda_setup(t, opt);  // after the host buffers: it pins the token buffers
    t->prog.target_loss_avg = calloc_check((size_t)t->n_targets, sizeof(RunningAverage));
    t->prog.es_best = -INFINITY;
    int n_valid_total = (int)setup->valid.n;
    if (t->root) {
        t->valid_logits = calloc_check((size_t)t->n_targets, sizeof(float *));
        for (int k = 0; k < t->n_targets; k++)
            t->valid_logits[k] = malloc_check((size_t)(n_valid_total ? n_valid_total : 1) * t->meta.targets[k].n_classes * sizeof(float));
        t->valid_targets = malloc_check((size_t)(n_valid_total ? n_valid_total : 1) * t->n_targets * sizeof(float));
    }
    t->vres.cat = calloc_check((size_t)t->n_targets, sizeof(CatMetrics));
    t->vres.con_loss = calloc_check((size_t)t->n_targets, sizeof(double));
    t->vres.con_r2 = calloc_check((size_t)t->n_targets, sizeof(double));
    t->vres.con_pcc = calloc_check((size_t)t->n_targets, sizeof(double));

    const GlobalConfig *g = &cfg->global;
    lr_schedule_init(&t->sched, sched_kind(g->lr_schedule.lr_schedule), g->optimization.lr, g->optimization.lr_lb,
                     g->lr_schedule.warmup_steps, (int)t->iters_per_epoch, (int)t->total_iters,
                     g->lr_schedule.lr_plateau_patience, g->lr_schedule.lr_plateau_factor);

    if (t->root) run_folder_prepare(t, resume);
    comm_barrier(comm);
    if (resume) {
        char *sp = train_state_path(opt->resume_folder);
        if (train_state_load(t, sp, err, sizeof err) != 0) eir_die_user("cannot resume: %s", err);
        free(sp);
        if (t->cuda) trainer_cuda_from_host(t);
        if (t->root) run_files_rewrite_histories(t);
        log_msg(LOG_INFO, "eir.train", "Resumed from %s at iteration %ld (epoch %ld)", opt->resume_folder,
                t->prog.iteration, t->prog.epoch + 1);
    }

    log_msg(LOG_INFO, "eir.train", "Starting Training with following model specifications: Total parameters: %s",
            progress_thousands((long)t->model.num_parameters));
    log_msg(LOG_INFO, "eir.train", "%d rank(s), %d rows per rank per iteration, %ld iterations per epoch, %d epochs",
            comm->size, t->local_rows, t->iters_per_epoch, g->basic_experiment.n_epochs);
    if (comm->size > 1 && !t->cuda) {
        // the cost to hide: one blocking all-reduce of the whole gradient buffer
        comm_barrier(comm);
        double t0 = now_seconds();
        comm_allreduce_sum_f32(comm, t->model.grads_memory, t->model.num_parameters);
        t->t_allreduce_alone = now_seconds() - t0;
        model_zero_grad(&t->model);
    }
    log_msg(LOG_INFO, "eir.train", "Starting training.");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    Progress bar;
    progress_init(&bar, t->root && !g->visualization_logging.no_pbar, t->iters_per_epoch, g->basic_experiment.n_epochs,
                  t->local_rows * comm->size);
    int accum = g->optimization.gradient_accumulation_steps > 1 ? g->optimization.gradient_accumulation_steps : 1;
    int sample_interval = g->evaluation_checkpoint.sample_interval;
    int ckpt_interval = g->evaluation_checkpoint.checkpoint_interval;
    double *tl = calloc_check((size_t)t->n_targets, sizeof(double));
    int exit_code = 0;
    bool stop = t->prog.stopped_early;
    // EIR_DIST_INTERRUPT_AT=k acts as if SIGUSR1 arrived during iteration k (for resume tests)
    const char *ia = getenv("EIR_DIST_INTERRUPT_AT");
    long interrupt_at = ia ? atol(ia) : 0;
    while (!stop && t->prog.epoch < g->basic_experiment.n_epochs) {
        while (!stop && t->prog.iter_in_epoch < t->iters_per_epoch) {
            long step = t->prog.iteration + 1;
            double loss;
            if (t->cuda) {  // the optimizer step is part of the GPU iteration (no host round trip)
                if ((step - 1) % accum == 0) trainer_cuda_zero_grad(t);
                loss = trainer_cuda_step(t, step, tl);
            } else {
                if ((step - 1) % accum == 0) model_zero_grad(&t->model);
                loss = forward_backward(t, step, tl);
                if (step % accum == 0) optimizer_step(t, step);
            }
            t->prog.iteration = step;
            t->prog.iter_in_epoch++;
            running_average_update(&t->prog.loss_avg, loss);
            for (int k = 0; k < t->n_targets; k++) running_average_update(&t->prog.target_loss_avg[k], tl[k]);
            if (t->root) run_files_append_train(t);
            progress_update(&bar, t->prog.epoch, t->prog.iter_in_epoch, step, t->prog.loss_avg.value,
                            lr_schedule_lr(&t->sched, step));
            if (step % sample_interval == 0) {
                stop = on_validation(t, step, false);
                if (ckpt_interval > 0 && step % ckpt_interval == 0) save_state_or_die(t);
            }
            // a signal on any rank interrupts all of them at the same iteration
            if (interrupt_at > 0 && step == interrupt_at) g_signal = SIGUSR1;
            int32_t sig = (int32_t)g_signal;
            comm_allreduce_max_i32(comm, &sig, 1);
            if (sig) {
                log_msg(LOG_INFO, "eir.train", "Received signal %d at iteration %ld: saving the training state", sig, step);
                if (t->prog.iter_in_epoch == t->iters_per_epoch) {
                    t->prog.epoch++;
                    t->prog.iter_in_epoch = 0;
                }
                save_state_or_die(t);
                log_msg(LOG_INFO, "eir.train", "Training state saved; continue with --resume %s", t->run);
                exit_code = opt->interrupt_exit_code;
                goto out;
            }
        }
        if (t->prog.iter_in_epoch == t->iters_per_epoch) {
            progress_end_epoch(&bar);
            log_msg(LOG_INFO, "eir.train", "[Epoch %ld/%d] | loss-average: %.4g", t->prog.epoch + 1,
                    g->basic_experiment.n_epochs, t->prog.loss_avg.value);
            t->prog.epoch++;
            t->prog.iter_in_epoch = 0;
        }
    }
    // EIR validates once more at the end only when early stopping is off and the last iteration
    // was not a validation iteration
    if (!t->prog.stopped_early && g->training_control.early_stopping_patience <= 0 &&
        t->prog.iteration % sample_interval != 0 && t->prog.iteration > 0)
        on_validation(t, t->prog.iteration, true);
    save_state_or_die(t);
    log_msg(LOG_INFO, "eir.train", "Training finished after %ld iterations.", t->prog.iteration);
    if (t->cuda) trainer_cuda_log_comm(t);
    if (t->comm_steps > 0)
        log_msg(LOG_INFO, "eir.train", "gradient all-reduce: %.1f MiB in %d bucket(s) per step; mean backward %.2f ms, "
                "mean wait after backward %.2f ms; one all-reduce of the whole buffer alone took %.2f ms",
                t->model.num_parameters * 4.0 / 1048576, t->reducer.buckets_launched, 1e3 * t->backward_total / t->comm_steps,
                1e3 * t->comm_wait_total / t->comm_steps, 1e3 * t->t_allreduce_alone);
out:
    free(tl);
    if (t->root) {
        run_files_flush(t);
        run_files_close(t);
    }
    if (t->cuda) trainer_cuda_free(t);
    comm_barrier(comm);
    return exit_code;
}
