// test_model_params.c: the parameter table of the tutorial model (count 1,069,634, EIR keys and
// shapes of spec §3.5, weight-decay flags), buffer layout and gradient-range order, the
// initialisation statistics of spec §3.4, and the non-parameter buffers.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "test_util.h"

static void tutorial_config(ModelConfig *mc) {
    memset(mc, 0, sizeof *mc);
    mc->n_inputs = 1;
    ModelInputSpec *s = &mc->inputs[0];
    strcpy(s->name, "imdb_reviews_bytes_base_transformer");
    s->vocab = 261, s->max_length = 1024, s->d = 64, s->heads = 8, s->layers = 4, s->ffn = 256;
    s->window = 128, s->position = POS_EMBED, s->pool = POOL_AVG, s->masked = false;
    s->position_dropout = 0.1f, s->dropout = 0.1f;
    mc->fusion_layers = 2, mc->fusion_dim = 256, mc->fusion_rb_do = 0.1f, mc->fusion_sd_p = 0.1f;
    mc->n_targets = 1;
    ModelTargetSpec *t = &mc->targets[0];
    strcpy(t->output_name, "imdb_output");
    strcpy(t->column, "Sentiment");
    t->n_classes = 2, t->layers = 2, t->dim = 256, t->rb_do = 0.1f, t->fc_do = 0.1f, t->sd_p = 0.1f;
}

static void expect_param(const Model *m, const char *name, int ndim, int64_t s0, int64_t s1, int64_t s2, bool decay) {
    const ParamTensor *p = model_find_param(m, name);
    CHECK_MSG(p != NULL, "missing parameter %s", name);
    if (!p) return;
    CHECK_EQ_INT(p->ndim, ndim);
    int64_t s[3] = {s0, s1, s2};
    for (int i = 0; i < ndim; i++) CHECK_EQ_INT(p->shape[i], s[i]);
    CHECK_EQ_INT(p->decay, decay);
}

static size_t n_ranges_seen;
static size_t next_end;
static int order_errors;
static void record_range(void *user, size_t offset, size_t count) {
    (void)user;
    if (offset + count != next_end) order_errors++;
    next_end = offset;
    n_ranges_seen++;
}

int main(void) {
    ModelConfig mc;
    tutorial_config(&mc);
    CHECK_EQ_INT(model_param_count(&mc), 1069634);

    Model m;
    model_build(&m, &mc);
    CHECK_EQ_INT(m.num_parameters, 1069634);
    CHECK_EQ_INT(m.config.inputs[0].n_windows, 8);
    CHECK_EQ_INT(m.config.inputs[0].padded_length, 1024);
    CHECK_EQ_INT(m.config.fusion_in, 512);
    // 2 (embedding, position) + 4 layers x 11 + fusion (6 + 4) + head (2 x 4 + 3)
    CHECK_EQ_INT(m.n_param_tensors, 2 + 44 + 10 + 11);

    const char *in = "input_modules.imdb_reviews_bytes_base_transformer";
    char k[512];
    snprintf(k, sizeof k, "%s.embedding.weight", in);
    expect_param(&m, k, 2, 261, 64, 0, true);
    snprintf(k, sizeof k, "%s.pos_representation.embedding", in);
    expect_param(&m, k, 3, 1, 1024, 64, true);
    const char *lay = "feature_extractor.transformer_encoder.layers";
    const char *sq[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int l = 0; l < 4; l++) {
        for (int j = 0; j < 4; j++) {
            snprintf(k, sizeof k, "%s.%s.%d.%s.weight", in, lay, l, sq[j]);
            expect_param(&m, k, 2, 64, 64, 0, true);
        }
        snprintf(k, sizeof k, "%s.%s.%d.norm1.weight", in, lay, l), expect_param(&m, k, 1, 64, 0, 0, false);
        snprintf(k, sizeof k, "%s.%s.%d.norm2.weight", in, lay, l), expect_param(&m, k, 1, 64, 0, 0, false);
        snprintf(k, sizeof k, "%s.%s.%d.ffn.w1.weight", in, lay, l), expect_param(&m, k, 2, 256, 64, 0, true);
        snprintf(k, sizeof k, "%s.%s.%d.ffn.w2.weight", in, lay, l), expect_param(&m, k, 2, 256, 64, 0, true);
        snprintf(k, sizeof k, "%s.%s.%d.ffn.w3.weight", in, lay, l), expect_param(&m, k, 2, 64, 256, 0, true);
        snprintf(k, sizeof k, "%s.%s.%d.ls1.gamma", in, lay, l), expect_param(&m, k, 1, 64, 0, 0, false);
        snprintf(k, sizeof k, "%s.%s.%d.ls2.gamma", in, lay, l), expect_param(&m, k, 1, 64, 0, 0, false);
        snprintf(k, sizeof k, "%s.%s.%d.rope_freqs", in, lay, l);
        const BufferTensor *rb = model_find_buffer(&m, k);
        CHECK_MSG(rb && rb->ndim == 1 && rb->shape[0] == 4, "rope_freqs buffer %s", k);
        if (rb) CHECK_CLOSE(rb->data[1], pow(10000.0, -2.0 / 8), 1e-7);
    }
    const char *fu = "fusion_modules.computed.fusion_modules.fusion";
    snprintf(k, sizeof k, "%s.0.0.norm_1.weight", fu), expect_param(&m, k, 1, 512, 0, 0, false);
    snprintf(k, sizeof k, "%s.0.0.fc_1.weight", fu), expect_param(&m, k, 2, 256, 512, 0, true);
    snprintf(k, sizeof k, "%s.0.0.fc_2.weight", fu), expect_param(&m, k, 2, 256, 256, 0, true);
    snprintf(k, sizeof k, "%s.0.0.downsample_identity.weight", fu), expect_param(&m, k, 2, 256, 512, 0, true);
    snprintf(k, sizeof k, "%s.0.0.downsample_identity.bias", fu), expect_param(&m, k, 1, 256, 0, 0, false);
    snprintf(k, sizeof k, "%s.0.0.ls.gamma", fu), expect_param(&m, k, 1, 256, 0, 0, false);
    snprintf(k, sizeof k, "%s.1.0.norm_1.weight", fu), expect_param(&m, k, 1, 256, 0, 0, false);
    snprintf(k, sizeof k, "%s.1.0.fc_1.weight", fu), expect_param(&m, k, 2, 256, 256, 0, true);
    snprintf(k, sizeof k, "%s.1.0.fc_2.weight", fu), expect_param(&m, k, 2, 256, 256, 0, true);
    snprintf(k, sizeof k, "%s.1.0.ls.gamma", fu), expect_param(&m, k, 1, 256, 0, 0, false);
    snprintf(k, sizeof k, "%s.1.0.downsample_identity.weight", fu);
    CHECK(model_find_param(&m, k) == NULL);
    const char *hd = "output_modules.imdb_output.multi_task_branches.Sentiment";
    for (int b = 0; b < 2; b++) {
        const char *bp = b == 0 ? "0.0.0" : "0.1.0";
        snprintf(k, sizeof k, "%s.%s.norm_1.weight", hd, bp), expect_param(&m, k, 1, 256, 0, 0, false);
        snprintf(k, sizeof k, "%s.%s.fc_1.weight", hd, bp), expect_param(&m, k, 2, 256, 256, 0, true);
        snprintf(k, sizeof k, "%s.%s.fc_2.weight", hd, bp), expect_param(&m, k, 2, 256, 256, 0, true);
        snprintf(k, sizeof k, "%s.%s.ls.gamma", hd, bp), expect_param(&m, k, 1, 256, 0, 0, false);
    }
    snprintf(k, sizeof k, "%s.1.norm_final.weight", hd), expect_param(&m, k, 1, 256, 0, 0, false);
    snprintf(k, sizeof k, "%s.2.final.weight", hd), expect_param(&m, k, 2, 2, 256, 0, true);
    snprintf(k, sizeof k, "%s.2.final.bias", hd), expect_param(&m, k, 1, 2, 0, 0, false);

    // the table tiles the buffer in order; views point where the table says
    size_t off = 0;
    for (int i = 0; i < m.n_param_tensors; i++) {
        CHECK_EQ_INT(m.params[i].offset, off);
        off += m.params[i].numel;
    }
    CHECK_EQ_INT(off, m.num_parameters);
    snprintf(k, sizeof k, "%s.%s.2.k_proj.weight", in, lay);
    CHECK(m.w.inputs[0].layers[2].wqkv + 64 * 64 == m.params_memory + model_find_param(&m, k)->offset);
    snprintf(k, sizeof k, "%s.%s.2.ffn.w2.weight", in, lay);
    CHECK(m.g.inputs[0].layers[2].w12 + 256 * 64 == m.grads_memory + model_find_param(&m, k)->offset);
    CHECK(m.w.heads[0].final_b == m.params_memory + m.num_parameters - 2);
    // backward units tile the buffer: embedding+pos, 4 layers, 2 fusion blocks, 2 head blocks, head final
    CHECK_EQ_INT(m.n_ranges, 1 + 4 + 2 + 2 + 1);
    off = 0;
    for (int r = 0; r < m.n_ranges; r++) {
        CHECK_EQ_INT(m.ranges[r].offset, off);
        off += m.ranges[r].count;
    }
    CHECK_EQ_INT(off, m.num_parameters);

    // initialisation (spec §3.4)
    model_init_params(&m, 1234);
    int checked = 0;
    for (int i = 0; i < m.n_param_tensors; i++) {
        const ParamTensor *p = &m.params[i];
        const float *x = m.params_memory + p->offset;
        double s = 0, s2 = 0, mx = 0;
        for (size_t j = 0; j < p->numel; j++) s += x[j], s2 += (double)x[j] * x[j], mx = fmax(mx, fabs(x[j]));
        double mean = s / p->numel, sd = sqrt(s2 / p->numel - mean * mean);
        if (p->init == INIT_CONST) {
            CHECK_MSG(mx == fabs(p->init_value) && sd < 1e-12, "%s not constant %g", p->name, p->init_value);
        } else if (p->numel >= 4096) {  // statistics only where they are meaningful
            double want_sd = p->init == INIT_UNIFORM ? p->init_value / sqrt(3.0) : p->init_value;
            CHECK_MSG(fabs(mean) < 4 * want_sd / sqrt((double)p->numel) + 1e-12, "%s mean %g", p->name, mean);
            CHECK_MSG(fabs(sd / want_sd - 1) < 0.03, "%s sd %g want %g", p->name, sd, want_sd);
            if (p->init == INIT_UNIFORM) CHECK_MSG(mx <= p->init_value && mx > 0.98 * p->init_value, "%s max %g", p->name, mx);
            checked++;
        }
    }
    CHECK(checked >= 20);
    // the recipes themselves
    snprintf(k, sizeof k, "%s.embedding.weight", in);
    CHECK(model_find_param(&m, k)->init == INIT_UNIFORM && model_find_param(&m, k)->init_value == 0.1f);
    snprintf(k, sizeof k, "%s.pos_representation.embedding", in);
    CHECK(model_find_param(&m, k)->init == INIT_NORMAL && model_find_param(&m, k)->init_value == 1.0f);
    snprintf(k, sizeof k, "%s.%s.0.q_proj.weight", in, lay);
    CHECK_CLOSE(model_find_param(&m, k)->init_value, 0.125, 1e-7);  // 1/sqrt(64)
    snprintf(k, sizeof k, "%s.%s.3.out_proj.weight", in, lay);
    CHECK(model_find_param(&m, k)->init == INIT_NORMAL);
    CHECK_CLOSE(model_find_param(&m, k)->init_value, 0.02 / sqrt(8.0), 1e-7);
    snprintf(k, sizeof k, "%s.%s.3.ffn.w3.weight", in, lay);
    CHECK_CLOSE(model_find_param(&m, k)->init_value, 0.02 / sqrt(8.0), 1e-7);
    snprintf(k, sizeof k, "%s.%s.1.ffn.w1.weight", in, lay);
    CHECK_CLOSE(model_find_param(&m, k)->init_value, 0.02, 1e-7);
    snprintf(k, sizeof k, "%s.%s.1.ls1.gamma", in, lay);
    CHECK_CLOSE(m.params_memory[model_find_param(&m, k)->offset], 1e-5, 1e-9);
    snprintf(k, sizeof k, "%s.0.0.ls.gamma", fu);
    CHECK(m.params_memory[model_find_param(&m, k)->offset] == 1.0f);  // in != out
    snprintf(k, sizeof k, "%s.1.0.ls.gamma", fu);
    CHECK_CLOSE(m.params_memory[model_find_param(&m, k)->offset], 1e-5, 1e-9);
    snprintf(k, sizeof k, "%s.0.0.fc_1.weight", fu);
    CHECK_CLOSE(model_find_param(&m, k)->init_value, 1 / sqrt(512.0), 1e-7);
    snprintf(k, sizeof k, "%s.0.0.downsample_identity.bias", fu);
    CHECK(model_find_param(&m, k)->init == INIT_UNIFORM);
    CHECK_CLOSE(model_find_param(&m, k)->init_value, 1 / sqrt(512.0), 1e-7);
    // same seed -> same parameters; another seed -> different
    float *copy = malloc(m.num_parameters * sizeof(float));
    memcpy(copy, m.params_memory, m.num_parameters * sizeof(float));
    model_init_params(&m, 1234);
    CHECK(memcmp(copy, m.params_memory, m.num_parameters * sizeof(float)) == 0);
    model_init_params(&m, 1235);
    CHECK(memcmp(copy, m.params_memory, m.num_parameters * sizeof(float)) != 0);
    free(copy);

    // one small forward/backward: the hook sees decreasing ranges that tile the buffer
    model_alloc_activations(&m, 2);
    int32_t *tok = malloc(2 * 1024 * sizeof(int32_t));
    for (int i = 0; i < 2048; i++) tok[i] = (i * 7919) % 261;
    const int32_t *toks[1] = {tok};
    ForwardCtx ctx = {.train = true, .seed = 1, .step = 1};
    model_forward(&m, toks, 2, &ctx);
    int32_t lab[2] = {0, 1};
    TargetLabels tl = {.cls = lab};
    float loss = model_loss(&m, &tl, NULL, NULL);
    CHECK(isfinite(loss) && loss > 0.1f && loss < 3.0f);
    model_set_grad_hook(&m, record_range, NULL);
    next_end = m.num_parameters;
    model_zero_grad(&m);
    model_backward(&m);
    CHECK_EQ_INT(order_errors, 0);
    CHECK_EQ_INT(n_ranges_seen, m.n_ranges);
    CHECK_EQ_INT(next_end, 0);
    double gn = 0;
    for (size_t i = 0; i < m.num_parameters; i++) gn += (double)m.grads_memory[i] * m.grads_memory[i];
    CHECK(isfinite(gn) && gn > 0);
    free(tok);
    model_free(&m);

    // "encode" position and a causal mask: buffers instead of a parameter
    mc.inputs[0].position = POS_ENCODE;
    mc.inputs[0].masked = true;
    Model e;
    model_build(&e, &mc);
    CHECK_EQ_INT(e.num_parameters, 1069634 - 1024 * 64);
    snprintf(k, sizeof k, "%s.pos_representation.pe", in);
    const BufferTensor *pe = model_find_buffer(&e, k);
    CHECK(pe && pe->ndim == 3 && pe->shape[1] == 1024 && pe->shape[2] == 64);
    if (pe) CHECK_CLOSE(pe->data[3 * 64 + 1], cos(3.0), 1e-6);
    snprintf(k, sizeof k, "%s.feature_extractor.mask", in);
    const BufferTensor *mk = model_find_buffer(&e, k);
    CHECK(mk && mk->shape[0] == 128 && mk->shape[1] == 128);
    if (mk) CHECK(mk->data[1] == -INFINITY && mk->data[128] == 0.0f);
    model_free(&e);
    TEST_MAIN_END();
}
