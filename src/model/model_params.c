// model_params.c: the parameter table (EIR state-dict keys, spec §3.5), the flat parameter and
// gradient buffers with their named views, the non-parameter buffers, and initialisation (§3.4).
//
// One walker, layout_walk(), visits the tensors in buffer order. Run in build mode it appends
// them to the table; run in view mode it hands out pointers into a buffer. Table and views can
// thus never disagree about the order.
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"
#include "model/model.h"
#include "model/model_internal.h"

typedef struct {
    Model *m;
    bool build;   // true: append to m->params; false: assign views into base
    float *base;
    int k;        // next tensor (view mode)
    size_t off;   // next offset (build mode)
    int cap;
    int range_cap;
    size_t range_start;
} Walk;

static float *tensor(Walk *w, int init, float init_value, int ndim, int64_t s0, int64_t s1, int64_t s2,
                     const char *fmt, ...) EIR_PRINTF(8, 9);
static float *tensor(Walk *w, int init, float init_value, int ndim, int64_t s0, int64_t s1, int64_t s2,
                     const char *fmt, ...) {
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    Model *m = w->m;
    if (!w->build) {
        ParamTensor *p = &m->params[w->k++];
        if (strcmp(p->name, name) != 0) eir_die("model views out of step with the table: %s vs %s", p->name, name);
        return w->base + p->offset;
    }
    if (m->n_param_tensors == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        m->params = realloc_check(m->params, (size_t)w->cap * sizeof(ParamTensor));
    }
    ParamTensor *p = &m->params[m->n_param_tensors++];
    memset(p, 0, sizeof *p);
    p->name = strdup_check(name);
    p->ndim = ndim;
    int64_t s[3] = {s0, s1, s2};
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = s[i];
        p->numel *= (size_t)s[i];
    }
    p->offset = w->off;
    p->decay = ndim >= 2;
    p->init = init;
    p->init_value = init_value;
    w->off += p->numel;
    return NULL;
}

static void unit_begin(Walk *w) { w->range_start = w->build ? w->off : 0; }

static int unit_end(Walk *w) {
    Model *m = w->m;
    if (!w->build) return -1;
    if (m->n_ranges == w->range_cap) {
        w->range_cap = w->range_cap ? 2 * w->range_cap : 32;
        m->ranges = realloc_check(m->ranges, (size_t)w->range_cap * sizeof(GradRange));
    }
    m->ranges[m->n_ranges].offset = w->range_start;
    m->ranges[m->n_ranges].count = w->off - w->range_start;
    return m->n_ranges++;
}

// EIR nests the first block of a residual MLP stack in Sequential "0" and the others in "1"
// (create_multi_task_blocks_with_first_adaptor_block): block 0 -> "0.0", block b -> "1.<b-1>".
static void block_path(char *buf, size_t n, int b) {
    if (b == 0)
        snprintf(buf, n, "0.0");
    else
        snprintf(buf, n, "1.%d", b - 1);
}

static void mlp_block(Walk *w, MlpBlockW *v, int in, int out, const char *prefix) {
    float bound_in = 1.0f / sqrtf((float)in), bound_out = 1.0f / sqrtf((float)out);
    v->norm = tensor(w, INIT_CONST, 1.0f, 1, in, 0, 0, "%s.norm_1.weight", prefix);
    if (in != out) {
        v->ds_w = tensor(w, INIT_UNIFORM, bound_in, 2, out, in, 0, "%s.downsample_identity.weight", prefix);
        v->ds_b = tensor(w, INIT_UNIFORM, bound_in, 1, out, 0, 0, "%s.downsample_identity.bias", prefix);
    } else {
        v->ds_w = v->ds_b = NULL;
    }
    v->fc1 = tensor(w, INIT_UNIFORM, bound_in, 2, out, in, 0, "%s.fc_1.weight", prefix);
    v->fc2 = tensor(w, INIT_UNIFORM, bound_out, 2, out, out, 0, "%s.fc_2.weight", prefix);
    v->ls = tensor(w, INIT_CONST, in == out ? 1e-5f : 1.0f, 1, out, 0, 0, "%s.ls.gamma", prefix);
}

// EIR's pre-norm transformer layer (its state-dict names under prefix).
static void transformer_layer(Walk *w, TransformerLayerW *L, int d, int F, float resid_std, const char *prefix) {
    float bd = 1.0f / sqrtf((float)d);
    L->norm1 = tensor(w, INIT_CONST, 1.0f, 1, d, 0, 0, "%s.norm1.weight", prefix);
    L->wqkv = tensor(w, INIT_UNIFORM, bd, 2, d, d, 0, "%s.q_proj.weight", prefix);
    tensor(w, INIT_UNIFORM, bd, 2, d, d, 0, "%s.k_proj.weight", prefix);
    tensor(w, INIT_UNIFORM, bd, 2, d, d, 0, "%s.v_proj.weight", prefix);
    L->wo = tensor(w, INIT_NORMAL, resid_std, 2, d, d, 0, "%s.out_proj.weight", prefix);
    L->ls1 = tensor(w, INIT_CONST, 1e-5f, 1, d, 0, 0, "%s.ls1.gamma", prefix);
    L->norm2 = tensor(w, INIT_CONST, 1.0f, 1, d, 0, 0, "%s.norm2.weight", prefix);
    L->w12 = tensor(w, INIT_NORMAL, 0.02f, 2, F, d, 0, "%s.ffn.w1.weight", prefix);
    tensor(w, INIT_NORMAL, 0.02f, 2, F, d, 0, "%s.ffn.w2.weight", prefix);
    L->w3 = tensor(w, INIT_NORMAL, resid_std, 2, d, F, 0, "%s.ffn.w3.weight", prefix);
    L->ls2 = tensor(w, INIT_CONST, 1e-5f, 1, d, 0, 0, "%s.ls2.gamma", prefix);
}

// The global stage of input i (beyond EIR, model.h): three kinds of units, in forward order. Its
// layers have their own scaled residual init (their count, not the local layers'), and its
// output enters through a LayerScale of 1e-5 like every residual branch of the local layers, so
// a new global stage starts close to EIR's model.
static void global_stage(Walk *w, InputW *iv, int i, const ModelInputSpec *s) {
    Model *m = w->m;
    int d = s->d, Dg = s->global_d;
    char prefix[1024];
    unit_begin(w);
    iv->g_in = tensor(w, INIT_UNIFORM, 1.0f / sqrtf((float)d), 2, Dg, d, 0, "input_modules.%s.global_stage.proj_in.weight",
                      s->name);
    iv->g_pos = tensor(w, INIT_NORMAL, 0.02f, 3, 1, s->n_windows, Dg, "input_modules.%s.global_stage.pos_embedding",
                       s->name);
    int u = unit_end(w);
    if (w->build) m->unit_gin[i] = u;
    float resid_std = 0.02f / sqrtf(2.0f * (float)s->global_layers);
    for (int l = 0; l < s->global_layers; l++) {
        snprintf(prefix, sizeof prefix, "input_modules.%s.global_stage.layers.%d", s->name, l);
        unit_begin(w);
        transformer_layer(w, &iv->glayers[l], Dg, s->global_ffn, resid_std, prefix);
        u = unit_end(w);
        if (w->build && l == 0) m->unit_glayer0[i] = u;
    }
    unit_begin(w);
    iv->g_out = tensor(w, INIT_UNIFORM, 1.0f / sqrtf((float)Dg), 2, d, Dg, 0,
                       "input_modules.%s.global_stage.proj_out.weight", s->name);
    iv->g_ls = tensor(w, INIT_CONST, 1e-5f, 1, d, 0, 0, "input_modules.%s.global_stage.ls.gamma", s->name);
    u = unit_end(w);
    if (w->build) m->unit_gout[i] = u;
}

static void layout_walk(Walk *w, ModelWeights *v) {
    Model *m = w->m;
    const ModelConfig *mc = &m->config;
    int n_blocks_total = 0;
    for (int i = 0; i < mc->n_inputs; i++) n_blocks_total += mc->inputs[i].layers;
    float resid_std = 0.02f / sqrtf(2.0f * (float)n_blocks_total);  // EIR apply_scaled_residual_init
    char prefix[1024], bp[32];
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        InputW *iv = &v->inputs[i];
        int d = s->d, F = s->ffn;
        unit_begin(w);
        iv->embedding = tensor(w, INIT_UNIFORM, 0.1f, 2, s->vocab, d, 0, "input_modules.%s.embedding.weight", s->name);
        iv->pos = NULL;
        if (s->position == POS_EMBED)
            iv->pos = tensor(w, INIT_NORMAL, 1.0f, 3, 1, s->max_length, d, "input_modules.%s.pos_representation.embedding",
                             s->name);
        int u = unit_end(w);
        if (w->build) m->unit_embed[i] = u;
        for (int l = 0; l < s->layers; l++) {
            snprintf(prefix, sizeof prefix, "input_modules.%s.feature_extractor.transformer_encoder.layers.%d", s->name, l);
            unit_begin(w);
            transformer_layer(w, &iv->layers[l], d, F, resid_std, prefix);
            u = unit_end(w);
            if (w->build && l == 0) m->unit_layer0[i] = u;
        }
        if (s->global_layers > 0) global_stage(w, iv, i, s);
    }
    for (int b = 0; b < mc->fusion_layers; b++) {
        block_path(bp, sizeof bp, b);
        snprintf(prefix, sizeof prefix, "fusion_modules.computed.fusion_modules.fusion.%s", bp);
        unit_begin(w);
        mlp_block(w, &v->fusion[b], b == 0 ? mc->fusion_in : mc->fusion_dim, mc->fusion_dim, prefix);
        int u = unit_end(w);
        if (w->build && b == 0) m->unit_fusion0 = u;
    }
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        HeadW *h = &v->heads[t];
        for (int b = 0; b < s->layers; b++) {
            block_path(bp, sizeof bp, b);
            snprintf(prefix, sizeof prefix, "output_modules.%s.multi_task_branches.%s.0.%s", s->output_name, s->column, bp);
            unit_begin(w);
            mlp_block(w, &h->blocks[b], b == 0 ? mc->fusion_dim : s->dim, s->dim, prefix);
            int u = unit_end(w);
            if (w->build && b == 0) m->unit_head0[t] = u;
        }
        snprintf(prefix, sizeof prefix, "output_modules.%s.multi_task_branches.%s", s->output_name, s->column);
        float bh = 1.0f / sqrtf((float)s->dim);
        unit_begin(w);
        h->norm_final = tensor(w, INIT_CONST, 1.0f, 1, s->dim, 0, 0, "%s.1.norm_final.weight", prefix);
        h->final_w = tensor(w, INIT_UNIFORM, bh, 2, s->n_classes, s->dim, 0, "%s.2.final.weight", prefix);
        h->final_b = tensor(w, INIT_UNIFORM, bh, 1, s->n_classes, 0, 0, "%s.2.final.bias", prefix);
        unit_end(w);
    }
}

static void views_alloc(const ModelConfig *mc, ModelWeights *v) {
    memset(v, 0, sizeof *v);
    for (int i = 0; i < mc->n_inputs; i++) {
        v->inputs[i].layers = calloc_check((size_t)mc->inputs[i].layers, sizeof(TransformerLayerW));
        if (mc->inputs[i].global_layers > 0)
            v->inputs[i].glayers = calloc_check((size_t)mc->inputs[i].global_layers, sizeof(TransformerLayerW));
    }
    v->fusion = calloc_check((size_t)mc->fusion_layers, sizeof(MlpBlockW));
    for (int t = 0; t < mc->n_targets; t++) v->heads[t].blocks = calloc_check((size_t)mc->targets[t].layers, sizeof(MlpBlockW));
}

static void views_free(const ModelConfig *mc, ModelWeights *v) {
    for (int i = 0; i < mc->n_inputs; i++) {
        free(v->inputs[i].layers);
        free(v->inputs[i].glayers);
    }
    free(v->fusion);
    for (int t = 0; t < mc->n_targets; t++) free(v->heads[t].blocks);
    memset(v, 0, sizeof *v);
}

static void views_assign(Model *m, ModelWeights *v, float *base) {
    Walk w = {.m = m, .build = false, .base = base};
    layout_walk(&w, v);
}

void model_weight_views(const Model *m, ModelWeights *v, float *base) {
    views_alloc(&m->config, v);
    views_assign((Model *)m, v, base);  // view mode only reads the table
}

void model_weight_views_free(const Model *m, ModelWeights *v) { views_free(&m->config, v); }

// ---- buffers (EIR state-dict entries that are not parameters) --------------------------------
// Floats of every buffer (position table, causal mask, rope_freqs) plus the RoPE cos/sin tables.
static size_t buffers_floats(const ModelConfig *mc, int *n_buffers) {
    size_t total = 0;
    int n = 0;
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        int dh = s->d / s->heads;
        total += (size_t)s->layers * (dh / 2);
        n += s->layers;
        if (s->position == POS_ENCODE) total += (size_t)s->max_length * s->d, n++;
        if (s->masked) total += (size_t)s->win * s->win, n++;
        total += 2 * (size_t)s->win * (dh / 2);  // rope tables
    }
    *n_buffers = n;
    return total;
}

static void buffers_build(Model *m) {
    const ModelConfig *mc = &m->config;
    // count first, then one allocation for every buffer plus the RoPE cos/sin tables
    int n;
    size_t total = buffers_floats(mc, &n);
    m->buffers = calloc_check((size_t)n, sizeof(BufferTensor));
    m->buffers_memory = calloc_check(total ? total : 1, sizeof(float));
    float *p = m->buffers_memory;
    char name[1024];
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        int dh = s->d / s->heads;
        BufferTensor *b;
        if (s->position == POS_ENCODE) {
            b = &m->buffers[m->n_buffers++];
            snprintf(name, sizeof name, "input_modules.%s.pos_representation.pe", s->name);
            b->name = strdup_check(name);
            b->ndim = 3;
            b->shape[0] = 1, b->shape[1] = s->max_length, b->shape[2] = s->d;
            b->numel = (size_t)s->max_length * s->d;
            b->data = p;
            p += b->numel;
            sinusoid_position_table(b->data, s->max_length, s->d);
            m->pos_table[i] = b->data;
        } else {
            m->pos_table[i] = NULL;  // the learnable table is a parameter
        }
        if (s->masked) {
            b = &m->buffers[m->n_buffers++];
            snprintf(name, sizeof name, "input_modules.%s.feature_extractor.mask", s->name);
            b->name = strdup_check(name);
            b->ndim = 2;
            b->shape[0] = b->shape[1] = s->win;
            b->numel = (size_t)s->win * s->win;
            b->data = p;
            p += b->numel;
            for (int r = 0; r < s->win; r++)
                for (int c = 0; c < s->win; c++) b->data[(size_t)r * s->win + c] = c > r ? -INFINITY : 0.0f;
        }
        float *freqs0 = NULL;
        for (int l = 0; l < s->layers; l++) {
            b = &m->buffers[m->n_buffers++];
            snprintf(name, sizeof name, "input_modules.%s.feature_extractor.transformer_encoder.layers.%d.rope_freqs",
                     s->name, l);
            b->name = strdup_check(name);
            b->ndim = 1;
            b->shape[0] = dh / 2;
            b->numel = (size_t)dh / 2;
            b->data = p;
            p += b->numel;
            rope_freqs_init(b->data, dh);
            if (l == 0) freqs0 = b->data;
        }
        m->rope_cos[i] = p;
        p += (size_t)s->win * (dh / 2);
        m->rope_sin[i] = p;
        p += (size_t)s->win * (dh / 2);
        rope_tables(m->rope_cos[i], m->rope_sin[i], freqs0, s->win, dh);
    }
}

void model_build(Model *m, const ModelConfig *cfg) {
    memset(m, 0, sizeof *m);
    m->config = *cfg;
    char err[256];
    if (model_config_finish(&m->config, err, sizeof err) != 0) eir_die_user("%s", err);
    const ModelConfig *mc = &m->config;
    views_alloc(mc, &m->w);
    views_alloc(mc, &m->g);
    Walk w = {.m = m, .build = true};
    layout_walk(&w, &m->w);
    m->num_parameters = w.off;
    // 64-byte aligned so vector loads never split cache lines at the start of a tensor
    size_t bytes = ((m->num_parameters * sizeof(float)) + 63) & ~(size_t)63;
    m->params_memory = aligned_alloc(64, bytes);
    m->grads_memory = aligned_alloc(64, bytes);
    if (!m->params_memory || !m->grads_memory) eir_die("out of memory for %zu parameters", m->num_parameters);
    memset(m->params_memory, 0, bytes);
    memset(m->grads_memory, 0, bytes);
    views_assign(m, &m->w, m->params_memory);
    views_assign(m, &m->g, m->grads_memory);
    buffers_build(m);
}

int model_footprint(const ModelConfig *cfg, int max_batch, ModelFootprint *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->overflow_input = -1;
    Model m;
    memset(&m, 0, sizeof m);
    m.config = *cfg;
    if (model_config_finish(&m.config, err, errlen) != 0) return -1;
    const ModelConfig *mc = &m.config;
    // the parameter table alone (names and offsets: no tensor memory)
    views_alloc(mc, &m.w);
    Walk w = {.m = &m, .build = true};
    layout_walk(&w, &m.w);
    f->parameters = w.off;
    for (int k = 0; k < m.n_param_tensors; k++) free(m.params[k].name);
    free(m.params);
    free(m.ranges);
    views_free(mc, &m.w);
    int nb;
    f->buffer_bytes = 4.0 * (double)buffers_floats(mc, &nb);
    // the layers index the elements of one pass with int: batch x padded length x the widest
    // activation (q|k|v or the SwiGLU pair) must stay below 2^31
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        double widest = 3.0 * s->d > 2.0 * s->ffn ? 3.0 * s->d : 2.0 * s->ffn;
        if (f->overflow_input < 0 && (double)max_batch * s->padded_length * widest > (double)INT_MAX) f->overflow_input = i;
    }
    // activations grow with the rows; past the int range, measure one row and scale
    if (max_batch > 0)
        f->activation_bytes = f->overflow_input < 0 ? 4.0 * (double)model_acts_floats(&m, max_batch)
                                                    : 4.0 * (double)max_batch * (double)model_acts_floats(&m, 1);
    return 0;
}

size_t model_param_count(const ModelConfig *cfg) {
    ModelFootprint f;
    char err[256];
    if (model_footprint(cfg, 0, &f, err, sizeof err) != 0) eir_die_user("%s", err);
    return f.parameters;
}

void model_init_params(Model *m, uint64_t seed) {
    for (int k = 0; k < m->n_param_tensors; k++) {
        const ParamTensor *p = &m->params[k];
        float *x = m->params_memory + p->offset;
        RngStream r;
        rng_stream_init(&r, seed, RNG_INIT, 0, (uint64_t)k);
        for (size_t i = 0; i < p->numel; i++) {
            switch (p->init) {
            case INIT_UNIFORM: x[i] = (float)((2.0 * rng_next_double(&r) - 1.0) * p->init_value); break;
            case INIT_NORMAL: x[i] = (float)(rng_next_normal(&r) * p->init_value); break;
            default: x[i] = p->init_value; break;
            }
        }
    }
}

void model_zero_grad(Model *m) { memset(m->grads_memory, 0, m->num_parameters * sizeof(float)); }

void model_set_grad_hook(Model *m, GradReadyFn fn, void *user) {
    m->grad_hook = fn;
    m->grad_hook_user = user;
}

const ParamTensor *model_find_param(const Model *m, const char *name) {
    for (int k = 0; k < m->n_param_tensors; k++)
        if (strcmp(m->params[k].name, name) == 0) return &m->params[k];
    return NULL;
}

const BufferTensor *model_find_buffer(const Model *m, const char *name) {
    for (int k = 0; k < m->n_buffers; k++)
        if (strcmp(m->buffers[k].name, name) == 0) return &m->buffers[k];
    return NULL;
}

void model_free(Model *m) {
    for (int k = 0; k < m->n_param_tensors; k++) free(m->params[k].name);
    free(m->params);
    for (int k = 0; k < m->n_buffers; k++) free(m->buffers[k].name);
    free(m->buffers);
    free(m->buffers_memory);
    free(m->params_memory);
    free(m->grads_memory);
    free(m->ranges);
    views_free(&m->config, &m->w);
    views_free(&m->config, &m->g);
    free(m->acts_memory);
    model_acts_views_free(m, &m->acts);
    memset(m, 0, sizeof *m);
}
