// train_state.c: the resumable training state, <run>/training_state.safetensors (spec §10).
// Tensors: params, adam_m, adam_v (flat, the model's buffer layout), scalars (F64, every double of
// the loop state, so restoring is bit-exact and -inf survives), target_loss_avg, train_hist,
// valid_hist, and crops_hist when validation by crops is on (evaluation_crops). Metadata: eir_dist_format "training_state", format_version, model_config (the
// resumed run must build the same model), state (JSON of the integer counters and saved models).
// Written atomically with a checksum; a corrupted or truncated file is refused on load.
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/safetensors.h"
#include "common/util.h"
#include "train/trainer_internal.h"

#define STATE_FORMAT_VERSION "1"
#define N_SCALARS 6

char *train_state_path(const char *run) { return path_join(run, "training_state.safetensors"); }

int train_state_save(Trainer *t, char *err, size_t errlen) {
    const Model *m = &t->model;
    TrainProgress *p = &t->prog;
    int T = t->n_targets;
    SafeTensorsWriter *w = safetensors_writer_new();
    int64_t np = (int64_t)m->num_parameters;
    safetensors_writer_add(w, "params", ST_F32, 1, &np, m->params_memory);
    safetensors_writer_add(w, "adam_m", ST_F32, 1, &np, t->adam_m);
    safetensors_writer_add(w, "adam_v", ST_F32, 1, &np, t->adam_v);
    double scalars[N_SCALARS] = {p->loss_avg.value, (double)p->loss_avg.has_value, p->es_best,
                                 t->sched.current_lr, t->sched.best, 0};
    int64_t ns = N_SCALARS;
    safetensors_writer_add(w, "scalars", ST_F64, 1, &ns, scalars);
    double *tla = malloc_check(sizeof(double) * 2 * (size_t)T);
    for (int k = 0; k < T; k++) {
        tla[2 * k] = p->target_loss_avg[k].value;
        tla[2 * k + 1] = p->target_loss_avg[k].has_value;
    }
    int64_t tshape[2] = {T, 2};
    safetensors_writer_add(w, "target_loss_avg", ST_F64, 2, tshape, tla);
    int64_t th[2] = {p->n_train_hist, 2 + T}, vh[2] = {p->n_valid_hist, 3 + 5 * T};
    safetensors_writer_add(w, "train_hist", ST_F64, 2, th, p->n_train_hist ? p->train_hist : NULL);
    safetensors_writer_add(w, "valid_hist", ST_F64, 2, vh, p->n_valid_hist ? p->valid_hist : NULL);
    int64_t ch[2] = {p->n_crops_hist, 3 + 5 * T};
    if (t->eval_crops) safetensors_writer_add(w, "crops_hist", ST_F64, 2, ch, p->n_crops_hist ? p->crops_hist : NULL);

    json_t *saved = json_array();
    for (int i = 0; i < p->n_saved; i++)
        json_array_append_new(saved, json_pack("{s:I, s:f, s:s}", "iteration", (json_int_t)p->saved[i].iteration,
                                               "score", p->saved[i].score, "path", p->saved[i].path));
    json_t *st = json_pack("{s:I, s:I, s:I, s:I, s:i, s:b, s:i, s:i, s:I, s:i, s:o}",
                           "iteration", (json_int_t)p->iteration, "epoch", (json_int_t)p->epoch,
                           "iter_in_epoch", (json_int_t)p->iter_in_epoch, "optimizer_steps", (json_int_t)p->optimizer_steps,
                           "es_counter", p->es_counter, "stopped_early", p->stopped_early,
                           "sched_num_bad", t->sched.num_bad, "sched_reductions", t->sched.n_reductions,
                           "seed", (json_int_t)t->seed, "batch_size", t->cfg->global.basic_experiment.batch_size,
                           "saved", saved);
    char *stj = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(st);
    char *mc = model_config_to_json(&m->config);
    safetensors_writer_set_metadata(w, "eir_dist_format", "training_state");
    safetensors_writer_set_metadata(w, "format_version", STATE_FORMAT_VERSION);
    safetensors_writer_set_metadata(w, "model_config", mc);
    safetensors_writer_set_metadata(w, "state", stj);
    char *path = train_state_path(t->run);
    int rc = safetensors_write(w, path, true, err, errlen);
    safetensors_writer_free(w);
    free(path);
    free(mc);
    free(stj);
    free(tla);
    return rc;
}

static int load_f64_rows(const SafeTensors *st, const char *name, int64_t cols, double **out, long *n, long *cap,
                         const char *path, char *err, size_t errlen) {
    const StTensor *x = safetensors_find(st, name);
    if (!x || x->dtype != ST_F64 || x->ndim != 2 || x->shape[1] != cols) {
        snprintf(err, errlen, "'%s': tensor %s missing or of the wrong shape", path, name);
        return -1;
    }
    *n = (long)x->shape[0];
    *cap = *n > 0 ? *n : 1;
    *out = realloc_check(*out, (size_t)*cap * (size_t)cols * sizeof(double));
    if (x->nbytes) memcpy(*out, x->data, x->nbytes);
    return 0;
}

int train_state_load(Trainer *t, const char *path, char *err, size_t errlen) {
    SafeTensors *st = safetensors_open(path, ST_OPEN_REQUIRE_CHECKSUM, err, errlen);
    if (!st) return -1;
    int rc = -1, T = t->n_targets;
    Model *m = &t->model;
    TrainProgress *p = &t->prog;
    json_t *js = NULL;
    char sub[1024];
    const char *fmt = safetensors_metadata(st, "eir_dist_format");
    const char *ver = safetensors_metadata(st, "format_version");
    const char *mc = safetensors_metadata(st, "model_config");
    const char *stj = safetensors_metadata(st, "state");
    if (!fmt || strcmp(fmt, "training_state") || !ver || strcmp(ver, STATE_FORMAT_VERSION) || !mc || !stj) {
        snprintf(err, errlen, "'%s' is not an eir-dist training state of format version %s", path, STATE_FORMAT_VERSION);
        goto done;
    }
    char *mine = model_config_to_json(&m->config);
    int same = !strcmp(mine, mc);
    free(mine);
    if (!same) {
        snprintf(err, errlen, "'%s' was written for a different model configuration than the one configured now", path);
        goto done;
    }
    size_t n = m->num_parameters;
    if (safetensors_copy(st, "params", ST_F32, m->params_memory, n, sub, sizeof sub) ||
        safetensors_copy(st, "adam_m", ST_F32, t->adam_m, n, sub, sizeof sub) ||
        safetensors_copy(st, "adam_v", ST_F32, t->adam_v, n, sub, sizeof sub)) {
        snprintf(err, errlen, "%s", sub);
        goto done;
    }
    double scalars[N_SCALARS];
    if (safetensors_copy(st, "scalars", ST_F64, scalars, N_SCALARS, sub, sizeof sub)) {
        snprintf(err, errlen, "%s", sub);
        goto done;
    }
    double *tla = malloc_check(sizeof(double) * 2 * (size_t)(T ? T : 1));
    if (safetensors_copy(st, "target_loss_avg", ST_F64, tla, (size_t)T * 2, sub, sizeof sub)) {
        free(tla);
        snprintf(err, errlen, "%s", sub);
        goto done;
    }
    for (int k = 0; k < T; k++) {
        p->target_loss_avg[k].value = tla[2 * k];
        p->target_loss_avg[k].has_value = (int)tla[2 * k + 1];
    }
    free(tla);
    if (load_f64_rows(st, "train_hist", 2 + T, &p->train_hist, &p->n_train_hist, &p->cap_train_hist, path, err, errlen) ||
        load_f64_rows(st, "valid_hist", 3 + 5 * T, &p->valid_hist, &p->n_valid_hist, &p->cap_valid_hist, path, err, errlen))
        goto done;
    // a state from before evaluation_crops was set has none: the crops history starts empty
    if (t->eval_crops && safetensors_find(st, "crops_hist") &&
        load_f64_rows(st, "crops_hist", 3 + 5 * T, &p->crops_hist, &p->n_crops_hist, &p->cap_crops_hist, path, err, errlen))
        goto done;
    json_error_t je;
    js = json_loads(stj, 0, &je);
    json_int_t it, ep, ie, os, seed;
    int esc, stopped, nb, nr, bs;
    json_t *saved;
    if (!js || json_unpack_ex(js, &je, 0, "{s:I, s:I, s:I, s:I, s:i, s:b, s:i, s:i, s:I, s:i, s:o}", "iteration", &it,
                              "epoch", &ep, "iter_in_epoch", &ie, "optimizer_steps", &os, "es_counter", &esc,
                              "stopped_early", &stopped, "sched_num_bad", &nb, "sched_reductions", &nr, "seed", &seed,
                              "batch_size", &bs, "saved", &saved) != 0) {
        snprintf(err, errlen, "'%s': state metadata: %s", path, je.text);
        goto done;
    }
    if ((uint64_t)seed != t->seed) {
        snprintf(err, errlen, "'%s' was written with seed %lld but this run has seed %llu (set EIR_SEED to match)", path,
                 (long long)seed, (unsigned long long)t->seed);
        goto done;
    }
    if (bs != t->cfg->global.basic_experiment.batch_size) {
        snprintf(err, errlen, "'%s' was written with batch_size %d but the config now says %d", path, bs,
                 t->cfg->global.basic_experiment.batch_size);
        goto done;
    }
    p->iteration = (long)it;
    p->epoch = (long)ep;
    p->iter_in_epoch = (long)ie;
    p->optimizer_steps = (long)os;
    p->es_counter = esc;
    p->stopped_early = stopped;
    p->loss_avg.value = scalars[0];
    p->loss_avg.has_value = (int)scalars[1];
    p->es_best = scalars[2];
    t->sched.current_lr = scalars[3];
    t->sched.best = scalars[4];
    t->sched.num_bad = nb;
    t->sched.n_reductions = nr;
    p->n_saved = 0;
    for (size_t i = 0; i < json_array_size(saved) && p->n_saved < TRAINER_MAX_SAVED; i++) {
        json_t *o = json_array_get(saved, i);
        json_int_t si;
        double sc;
        const char *sp;
        if (json_unpack(o, "{s:I, s:F, s:s}", "iteration", &si, "score", &sc, "path", &sp) != 0) continue;
        p->saved[p->n_saved++] = (SavedModel){(long)si, sc, strdup_check(sp)};
    }
    rc = 0;
done:
    json_decref(js);
    safetensors_close(st);
    return rc;
}
