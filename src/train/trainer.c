// trainer.c: a run's lifecycle (trainer.h): init (model, data shards, optimizer state, buffers,
// run folder, device, resume), free, and the loop of train_run: iterations (trainer_step.c),
// every sample_interval a validation with EIR's handlers (trainer_validate.c), the training
// state every checkpoint_interval and on a signal, epochs, the extra final validation.
#include "train/trainer.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "infer/memory_check.h"
#include "train/model_from_config.h"
#include "train/progress.h"
#include "train/trainer_internal.h"

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
    // two sets of tokens, targets and sample indices: the current batch and the next one
    t->tokens = calloc_check((size_t)t->n_inputs, sizeof(int32_t *));
    t->pf_tokens = calloc_check((size_t)t->n_inputs, sizeof(int32_t *));
    for (int i = 0; i < t->n_inputs; i++) {
        size_t bytes = (size_t)rows * t->cfg->inputs[i].max_length * sizeof(int32_t);
        t->tokens[i] = t->dev->host_alloc(bytes);  // pinned on a GPU: asynchronous copies
        t->pf_tokens[i] = t->dev->host_alloc(bytes);
    }
    t->targets = malloc_check((size_t)rows * t->n_targets * sizeof(float));
    t->pf_targets = malloc_check((size_t)rows * t->n_targets * sizeof(float));
    t->sample_idx = malloc_check((size_t)rows * sizeof(int64_t));
    t->pf_sample_idx = malloc_check((size_t)rows * sizeof(int64_t));
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

static void free_batch_buffers(Trainer *t) {
    for (int i = 0; t->tokens && i < t->n_inputs; i++) {
        t->dev->host_free(t->tokens[i]);
        t->dev->host_free(t->pf_tokens[i]);
    }
    free(t->tokens);
    free(t->pf_tokens);
    free(t->pf_targets);
    free(t->pf_sample_idx);
    for (int k = 0; k < t->n_targets; k++) {
        if (t->cls) free(t->cls[k]);
        if (t->val) free(t->val[k]);
    }
    free(t->cls);
    free(t->val);
    free(t->labels);
    free(t->targets);
    free(t->sample_idx);
    free(t->sample_ids);
    free(t->mix_perm);
    free(t->loss_buf);
    free(t->loss_tl);
}

// ---- lifecycle --------------------------------------------------------------------------------

Trainer *trainer_init(const ExperimentConfig *cfg, DataSetup *setup, Comm *comm, uint64_t seed, const TrainOptions *opt) {
    Trainer *t = calloc_check(1, sizeof *t);
    t->cfg = cfg;
    t->opt = *opt;
    t->setup = setup;
    t->comm = comm;
    t->seed = seed;
    t->root = comm->rank == 0;
    t->lock_fd = -1;
    t->run = strdup_check(cfg->global.basic_experiment.output_folder);
    const char *slash = strrchr(t->run, '/');
    t->name = strdup_check(slash && slash[1] ? slash + 1 : t->run);
    t->n_inputs = cfg->n_inputs;
    t->n_targets = setup->labels.n_targets;

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
    // before allocating: the model, its optimizer state and a batch's activations must fit
    int rows = t->local_rows > t->valid_chunk ? t->local_rows : t->valid_chunk;
    MemoryNeed need = {.what = "training", .rows = opt->cuda ? 0 : rows,
                       .rows_key = "basic_experiment.batch_size per rank, at least 64 for validation", .copies = 1,
                       .param_copies = 4, .procs_per_node = comm->local_size};
    if (memory_check(&mc, &need, err, sizeof err) != 0) eir_die_user("%s", err);
    model_build(&t->model, &mc);
    model_init_params(&t->model, seed);
    // every rank starts from rank 0's parameters (identical by construction; the broadcast
    // guards against any difference in how a rank's libraries initialise)
    comm_bcast(comm, t->model.params_memory, t->model.num_parameters * sizeof(float), 0);
    t->adam_m = calloc_check(t->model.num_parameters, sizeof(float));
    t->adam_v = calloc_check(t->model.num_parameters, sizeof(float));
    t->dev = opt->cuda ? &train_device_cuda : &train_device_cpu;  // the one place the device is chosen
    alloc_batch_buffers(t);
    t->dev->init(t);
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
    t->eval_crops = cfg->global.evaluation_checkpoint.evaluation_crops != 1;
    if (t->eval_crops) {  // validation by crops: in the model's standardised units, as its labels
        crop_runner_init(&t->crops, cfg->global.evaluation_checkpoint.evaluation_crops, t->valid_chunk,
                         &t->model.config, &t->meta, true);
        t->vres_crops.cat = calloc_check((size_t)t->n_targets, sizeof(CatMetrics));
        t->vres_crops.con_loss = calloc_check((size_t)t->n_targets, sizeof(double));
        t->vres_crops.con_r2 = calloc_check((size_t)t->n_targets, sizeof(double));
        t->vres_crops.con_pcc = calloc_check((size_t)t->n_targets, sizeof(double));
        if (t->root) {
            t->valid_logits_crops = calloc_check((size_t)t->n_targets, sizeof(float *));
            for (int k = 0; k < t->n_targets; k++)
                t->valid_logits_crops[k] = malloc_check((size_t)(n_valid_total ? n_valid_total : 1) *
                                                        t->meta.targets[k].n_classes * sizeof(float));
        }
    }

    const GlobalConfig *g = &cfg->global;
    lr_schedule_init(&t->sched, sched_kind(g->lr_schedule.lr_schedule), g->optimization.lr, g->optimization.lr_lb,
                     g->lr_schedule.warmup_steps, (int)t->iters_per_epoch, (int)t->total_iters,
                     g->lr_schedule.lr_plateau_patience, g->lr_schedule.lr_plateau_factor);

    bool resume = opt->resume_folder != NULL;
    if (t->root) run_folder_prepare(t, resume);
    comm_barrier(comm);
    if (resume) {
        char *sp = train_state_path(opt->resume_folder);
        if (train_state_load(t, sp, err, sizeof err) != 0) eir_die_user("cannot resume: %s", err);
        free(sp);
        t->dev->from_host(t);
        if (t->root) run_files_rewrite_histories(t);
        log_msg(LOG_INFO, "eir.train", "Resumed from %s at iteration %ld (epoch %ld)", opt->resume_folder,
                t->prog.iteration, t->prog.epoch + 1);
    }
    return t;
}

long trainer_iteration(const Trainer *t) { return t->prog.iteration; }

void trainer_save_state(Trainer *t) {
    if (!t->root) return;
    char err[1024];
    t->dev->to_host(t, true);
    if (train_state_save(t, err, sizeof err) != 0) eir_die("cannot write the training state: %s", err);
}

void trainer_flush_files(Trainer *t) {
    if (t->root) run_files_flush(t);
}

void trainer_free(Trainer *t) {
    if (!t) return;
    if (t->root) run_files_close(t);
    if (t->dev) {
        t->dev->free(t);  // collective (NCCL)
        free_batch_buffers(t);
    }
    model_free(&t->model);
    dataset_close(&t->ds);
    free(t->adam_m);
    free(t->adam_v);
    for (int i = 0; i < t->prog.n_saved; i++) free(t->prog.saved[i].path);
    free(t->prog.target_loss_avg);
    free(t->prog.train_hist);
    free(t->prog.valid_hist);
    if (t->valid_logits)
        for (int k = 0; k < t->n_targets; k++) free(t->valid_logits[k]);
    free(t->valid_logits);
    free(t->valid_targets);
    free(t->vres.cat);
    free(t->vres.con_loss);
    free(t->vres.con_r2);
    free(t->vres.con_pcc);
    if (t->eval_crops) crop_runner_free(&t->crops);
    free(t->prog.crops_hist);
    if (t->valid_logits_crops)
        for (int k = 0; k < t->n_targets; k++) free(t->valid_logits_crops[k]);
    free(t->valid_logits_crops);
    free(t->vres_crops.cat);
    free(t->vres_crops.con_loss);
    free(t->vres_crops.con_r2);
    free(t->vres_crops.con_pcc);
    model_meta_free(&t->meta);
    if (t->lock_fd >= 0) close(t->lock_fd);  // releases the run folder's lock
    free(t->run);
    free(t->name);
    free(t);
}

// ---- the run ----------------------------------------------------------------------------------

static volatile sig_atomic_t g_signal = 0;
static void on_signal(int sig) { g_signal = sig; }

// A signal on any rank (or EIR_DIST_INTERRUPT_AT) interrupts all of them after the same iteration.
static int agreed_signal(Trainer *t) {
    if (t->opt.interrupt_at > 0 && t->prog.iteration == t->opt.interrupt_at) g_signal = SIGUSR1;
    int32_t sig = (int32_t)g_signal;
    comm_allreduce_max_i32(t->comm, &sig, 1);
    return sig;
}

static void end_epoch_if_done(Trainer *t) {
    if (t->prog.iter_in_epoch < t->iters_per_epoch) return;
    t->prog.epoch++;
    t->prog.iter_in_epoch = 0;
}

int train_run(const ExperimentConfig *cfg, DataSetup *setup, Comm *comm, uint64_t seed, const TrainOptions *opt) {
    const GlobalConfig *g = &cfg->global;
    Trainer *t = trainer_init(cfg, setup, comm, seed, opt);
    log_msg(LOG_INFO, "eir.train", "Starting Training with following model specifications: Total parameters: %s",
            progress_thousands((long)t->model.num_parameters));
    log_msg(LOG_INFO, "eir.train", "%d rank(s), %d rows per rank per iteration, %ld iterations per epoch, %d epochs",
            comm->size, t->local_rows, t->iters_per_epoch, g->basic_experiment.n_epochs);
    log_msg(LOG_INFO, "eir.train", "Starting training.");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    Progress bar;
    progress_init(&bar, t->root && !g->visualization_logging.no_pbar, t->iters_per_epoch, g->basic_experiment.n_epochs,
                  t->local_rows * comm->size);
    int sample_interval = g->evaluation_checkpoint.sample_interval;
    int ckpt_interval = g->evaluation_checkpoint.checkpoint_interval;
    double *tl = calloc_check((size_t)t->n_targets, sizeof(double));
    int exit_code = 0;
    bool stop = t->prog.stopped_early;
    while (!stop && t->prog.epoch < g->basic_experiment.n_epochs) {
        while (!stop && t->prog.iter_in_epoch < t->iters_per_epoch) {
            trainer_step(t, tl);
            long step = t->prog.iteration;
            progress_update(&bar, t->prog.epoch, t->prog.iter_in_epoch, step, t->prog.loss_avg.value,
                            lr_schedule_lr(&t->sched, step));
            if (step % sample_interval == 0) {
                stop = trainer_evaluate(t, false);
                if (ckpt_interval > 0 && step % ckpt_interval == 0) trainer_save_state(t);
            }
            int sig = agreed_signal(t);
            if (sig) {
                log_msg(LOG_INFO, "eir.train", "Received signal %d at iteration %ld: saving the training state", sig, step);
                end_epoch_if_done(t);
                trainer_save_state(t);
                log_msg(LOG_INFO, "eir.train", "Training state saved; continue with --resume %s", t->run);
                exit_code = opt->interrupt_exit_code;
                goto out;
            }
        }
        if (t->prog.iter_in_epoch == t->iters_per_epoch) {
            progress_end_epoch(&bar);
            log_msg(LOG_INFO, "eir.train", "[Epoch %ld/%d] | loss-average: %.4g", t->prog.epoch + 1,
                    g->basic_experiment.n_epochs, t->prog.loss_avg.value);
            end_epoch_if_done(t);
        }
    }
    // EIR validates once more at the end only when early stopping is off and the last iteration
    // was not a validation iteration
    if (!t->prog.stopped_early && g->training_control.early_stopping_patience <= 0 &&
        t->prog.iteration % sample_interval != 0 && t->prog.iteration > 0)
        trainer_evaluate(t, true);
    trainer_save_state(t);
    log_msg(LOG_INFO, "eir.train", "Training finished after %ld iterations.", t->prog.iteration);
    t->dev->log_comm(t);
out:
    free(tl);
    trainer_flush_files(t);
    trainer_free(t);
    comm_barrier(comm);
    return exit_code;
}
