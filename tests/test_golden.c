// test_golden.c: the C model against the PyTorch twin of EIR's model (tools/reference/): the
// fixtures hold initial weights under EIR's state-dict keys, a batch, the logits, losses and
// every gradient, and the weights after 10 AdamW steps with warmup and clipping. Tolerances are
// those of tools/reference/README.md ("Tolerances"), justified there: float32 keeps ~7 digits,
// sums are ordered differently by OpenBLAS/OpenMP than by torch, so logits agree to ~1e-6
// relative (checked at 1e-5), gradients per tensor to ~4e-6 of the tensor's largest value
// (checked at 1e-4), and parameters after 10 Adam steps to ~1e-5 absolute (checked at 1e-4).
#include <jansson.h>
#include <math.h>

#include "common/safetensors.h"
#include "model/model.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"
#include "test_util.h"

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static const float *tensor_f32(const SafeTensors *st, const char *name, size_t numel) {
    const StTensor *t = safetensors_find(st, name);
    if (!t || t->dtype != ST_F32 || t->numel != numel) {
        fprintf(stderr, "fixture tensor %s missing or of the wrong size\n", name);
        exit(1);
    }
    return t->data;
}

static void build_config(ModelConfig *mc, json_t *cfg) {
    memset(mc, 0, sizeof *mc);
    json_t *in = json_array_get(json_object_get(cfg, "inputs"), 0);
    ModelInputSpec *s = &mc->inputs[0];
    mc->n_inputs = 1;
    snprintf(s->name, sizeof s->name, "%s", json_string_value(json_object_get(in, "input_name")));
    s->vocab = (int)json_integer_value(json_object_get(in, "vocab_size"));
    s->max_length = (int)json_integer_value(json_object_get(in, "max_length"));
    s->d = (int)json_integer_value(json_object_get(in, "embedding_dim"));
    s->heads = (int)json_integer_value(json_object_get(in, "num_heads"));
    s->layers = (int)json_integer_value(json_object_get(in, "num_layers"));
    s->ffn = (int)json_integer_value(json_object_get(in, "dim_feedforward"));
    s->window = (int)json_integer_value(json_object_get(in, "window_size"));
    s->position = !strcmp(json_string_value(json_object_get(in, "position")), "embed") ? POS_EMBED : POS_ENCODE;
    const char *pool = json_string_value(json_object_get(in, "pool"));
    s->pool = !strcmp(pool, "avg") ? POOL_AVG : !strcmp(pool, "max") ? POOL_MAX : POOL_NONE;
    json_t *fu = json_object_get(cfg, "fusion");
    mc->fusion_layers = (int)json_integer_value(json_object_get(fu, "layers"));
    mc->fusion_dim = (int)json_integer_value(json_object_get(fu, "fc_task_dim"));
    json_t *out = json_array_get(json_object_get(cfg, "outputs"), 0);
    json_t *cols = json_object_get(out, "target_cat_columns"), *ncls = json_object_get(out, "num_classes");
    mc->n_targets = (int)json_array_size(cols);
    for (int t = 0; t < mc->n_targets; t++) {
        ModelTargetSpec *ts = &mc->targets[t];
        snprintf(ts->output_name, sizeof ts->output_name, "%s", json_string_value(json_object_get(out, "output_name")));
        snprintf(ts->column, sizeof ts->column, "%s", json_string_value(json_array_get(cols, (size_t)t)));
        ts->n_classes = (int)json_integer_value(json_array_get(ncls, (size_t)t));
        ts->layers = (int)json_integer_value(json_object_get(out, "layers"));
        ts->dim = (int)json_integer_value(json_object_get(out, "fc_task_dim"));
    }
    char err[256];
    if (model_config_finish(mc, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
}

static void run_fixture(const char *file) {
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/golden/%s", EIR_SOURCE_DIR, file);
    SafeTensors *st = safetensors_open(path, ST_OPEN_DEFAULT, err, sizeof err);
    if (!st) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    json_error_t je;
    json_t *cfg = json_loads(safetensors_metadata(st, "config"), 0, &je);
    CHECK(cfg != NULL);
    ModelConfig mc;
    build_config(&mc, cfg);
    Model m;
    model_build(&m, &mc);
    CHECK_EQ_INT(m.num_parameters, json_integer_value(json_object_get(json_object_get(cfg, "derived"), "num_parameters")));
    for (int i = 0; i < m.n_param_tensors; i++) {
        const ParamTensor *p = &m.params[i];
        memcpy(m.params_memory + p->offset, tensor_f32(st, p->name, p->numel), p->numel * sizeof(float));
    }
    const int B = 4, L = mc.inputs[0].max_length, T = mc.n_targets;
    model_alloc_activations(&m, B);
    char name[512];
    snprintf(name, sizeof name, "tokens.%s", mc.inputs[0].name);
    const StTensor *tok = safetensors_find(st, name);
    CHECK(tok && tok->dtype == ST_I32 && tok->numel == (size_t)B * L);
    const int32_t *tokens[1] = {tok->data};
    TargetLabels labels[8];
    for (int t = 0; t < T; t++) {
        snprintf(name, sizeof name, "labels.%s.%s", mc.targets[t].output_name, mc.targets[t].column);
        const StTensor *lt = safetensors_find(st, name);
        CHECK(lt && lt->dtype == ST_I32);
        labels[t].cls = lt->data;
        labels[t].value = NULL;
    }
    json_t *tr = json_object_get(cfg, "training");
    json_t *lam = json_object_get(tr, "mixup_lambda");
    ForwardCtx ctx = {.train = true, .seed = 0};
    uint64_t ids[4] = {0, 1, 2, 3};
    ctx.sample_ids = ids;
    int32_t perm[4];
    if (json_is_number(lam)) {
        ctx.mixup = true;
        ctx.mixup_lambda = (float)json_number_value(lam);
        for (int i = 0; i < B; i++) perm[i] = (int32_t)json_integer_value(json_array_get(json_object_get(tr, "mixup_perm"), (size_t)i));
        ctx.mixup_perm = perm;
    }

    // forward, loss, backward at the initial weights
    model_zero_grad(&m);
    model_forward(&m, tokens, B, &ctx);
    for (int t = 0; t < T; t++) {
        int K = mc.targets[t].n_classes;
        snprintf(name, sizeof name, "logits.%s.%s", mc.targets[t].output_name, mc.targets[t].column);
        const float *ref = tensor_f32(st, name, (size_t)B * K);
        double d = max_diff(model_logits(&m, t), ref, (size_t)B * K);
        CHECK_MSG(d <= 1e-5 * fmax(1, max_abs(ref, (size_t)B * K)), "%s %s: max diff %.3g", file, name, d);
    }
    float tl[8];
    double loss = model_loss(&m, labels, NULL, tl);
    CHECK_CLOSE(loss, tensor_f32(st, "loss", 1)[0], 1e-5);
    for (int t = 0; t < T; t++) {
        snprintf(name, sizeof name, "loss.%s.%s", mc.targets[t].output_name, mc.targets[t].column);
        CHECK_CLOSE(tl[t], tensor_f32(st, name, 1)[0], 1e-5);
    }
    model_backward(&m);
    double worst = 0;
    for (int i = 0; i < m.n_param_tensors; i++) {
        const ParamTensor *p = &m.params[i];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const float *ref = tensor_f32(st, name, p->numel);
        double scale = max_abs(ref, p->numel), d = max_diff(m.grads_memory + p->offset, ref, p->numel);
        worst = fmax(worst, d / (scale + 1e-30));
        CHECK_MSG(d <= 1e-4 * scale + 1e-12, "%s %s: max diff %.3g (tensor max %.3g)", file, name, d, scale);
    }
    printf("%s: initial forward/backward ok (worst gradient tensor rel diff %.2g)\n", file, worst);

    // 10 training steps on the same batch: warmup, clipping, AdamW as the trainer does them
    double lr = json_number_value(json_object_get(tr, "lr")), clip = json_number_value(json_object_get(tr, "gradient_clipping"));
    int steps = (int)json_integer_value(json_object_get(tr, "steps"));
    LRSchedule sched;
    lr_schedule_init(&sched, SCHED_PLATEAU, lr, 0.0, (int)json_integer_value(json_object_get(tr, "warmup_steps")), 1, steps, 10, 0.2);
    float *am = calloc(m.num_parameters, sizeof(float)), *av = calloc(m.num_parameters, sizeof(float));
    const float *ref_loss = tensor_f32(st, "train.loss", (size_t)steps), *ref_norm = tensor_f32(st, "train.grad_norm", (size_t)steps);
    const StTensor *ref_lr = safetensors_find(st, "train.lr");
    for (int step = 1; step <= steps; step++) {
        model_zero_grad(&m);
        model_forward(&m, tokens, B, &ctx);
        double l = model_loss(&m, labels, NULL, NULL);
        model_backward(&m);
        CHECK_MSG(fabs(l - ref_loss[step - 1]) <= 1e-5 * fmax(1, fabs(ref_loss[step - 1])), "%s step %d loss %.8g vs %.8g",
                  file, step, l, ref_loss[step - 1]);
        double norm = sqrt(grad_sum_squares(m.grads_memory, m.num_parameters));
        CHECK_MSG(fabs(norm - ref_norm[step - 1]) <= 1e-5 * ref_norm[step - 1], "%s step %d grad norm %.8g vs %.8g", file,
                  step, norm, ref_norm[step - 1]);
        double f = grad_clip_factor(norm, clip);
        if (f < 1) grad_scale(m.grads_memory, m.num_parameters, (float)f);
        AdamWStep s = {.lr = lr_schedule_lr(&sched, step), .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 0.01, .step = step};
        CHECK_CLOSE(s.lr, ((const double *)ref_lr->data)[step - 1], 1e-12);
        for (int i = 0; i < m.n_param_tensors; i++) {
            const ParamTensor *p = &m.params[i];
            adamw_update(m.params_memory + p->offset, m.grads_memory + p->offset, am + p->offset, av + p->offset, p->numel,
                         &s, p->decay ? 0.01 : 0.0);
        }
    }
    double worst_p = 0;
    for (int i = 0; i < m.n_param_tensors; i++) {
        const ParamTensor *p = &m.params[i];
        snprintf(name, sizeof name, "step10.%s", p->name);
        double d = max_diff(m.params_memory + p->offset, tensor_f32(st, name, p->numel), p->numel);
        worst_p = fmax(worst_p, d);
        CHECK_MSG(d <= 1e-4, "%s %s: max diff %.3g", file, name, d);
    }
    model_forward(&m, tokens, B, &ctx);
    CHECK_CLOSE(model_loss(&m, labels, NULL, NULL), tensor_f32(st, "step10.loss", 1)[0], 1e-4);
    printf("%s: 10 AdamW steps ok (worst parameter abs diff %.2g)\n", file, worst_p);
    free(am);
    free(av);
    model_free(&m);
    json_decref(cfg);
    safetensors_close(st);
}

int main(void) {
    run_fixture("tiny.safetensors");
    run_fixture("tiny_mixup.safetensors");
    TEST_MAIN_END();
}
