// model_acts.c: the activation buffer. Everything a forward pass keeps for the backward pass,
// and the gradient scratch the backward pass reuses from layer to layer, carved out of one
// allocation sized for the largest batch. Sizes are per row, so a smaller batch uses a prefix
// of every view.
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/util.h"
#include "model/model.h"
#include "model/layers_gemm.h"
#include "model/model_internal.h"

typedef struct {
    float *base;  // NULL while measuring
    size_t off;   // floats handed out so far
} Carver;

static float *carve(Carver *c, size_t n) {
    size_t o = c->off;
    c->off += (n + 15) & ~(size_t)15;  // keep every view 64-byte aligned
    return c->base ? c->base + o : NULL;
}
static uint32_t *carve_u32(Carver *c, size_t n) { return (uint32_t *)carve(c, n); }
static int32_t *carve_i32(Carver *c, size_t n) { return (int32_t *)carve(c, n); }

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static size_t mlp_lin_scratch(int B, int in, int out) {
    return max_sz(linear_backward_scratch_floats(B, in, out), linear_backward_scratch_floats(B, out, out));
}

static void mlp_acts(Carver *c, MlpActs *a, float *x_in, int B, int in, int out, float rb_do) {
    size_t b = (size_t)B;
    a->in = in;
    a->out_dim = out;
    a->x_in = x_in;
    a->rstd = carve(c, b);
    a->h = carve(c, b * in);
    a->u = carve(c, b * out);
    a->v = carve(c, b * out);
    a->mask = rb_do > 0 ? carve_u32(c, b * dropout_mask_words((size_t)out)) : NULL;
    a->w = carve(c, b * out);
    a->out = carve(c, b * out);
    a->sd_scale = 1.0f;
}

// One transformer layer over B samples of T rows (windows of W) with d features.
static void layer_acts(Carver *c, LayerActs *la, float *x_in, int B, int T, int W, int d, int F, int heads,
                       float dropout) {
    size_t N = (size_t)B * T, dd = (size_t)d, FF = (size_t)F;
    la->x_in = x_in;
    la->rstd1 = carve(c, N);
    la->a = carve(c, N * dd);
    la->qkv = carve(c, N * 3 * dd);
    la->lse = carve(c, N * heads);
    la->att_mask = dropout > 0 ? carve_u32(c, window_attention_mask_words(B, T, W, heads)) : NULL;
    la->att = carve(c, N * dd);
    la->y = carve(c, N * dd);
    la->y_mask = dropout > 0 ? carve_u32(c, (size_t)B * dropout_mask_words((size_t)T * dd)) : NULL;
    la->x_mid = carve(c, N * dd);
    la->rstd2 = carve(c, N);
    la->f = carve(c, N * dd);
    la->hh = carve(c, N * 2 * FF);
    la->g = carve(c, N * FF);
    la->z = carve(c, N * dd);
    la->x_out = carve(c, N * dd);
}

static int scratch_thread_slots(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void acts_layout(const Model *m, ModelActs *A, Carver *c, int B) {
    const ModelConfig *mc = &m->config;
    size_t b = (size_t)B;
    size_t g_nd = 0, g_n3d = 0, g_n2f = 0, g_nf = 0, g_bld = 0, g_gdg = 0, g_gd = 0, attn = 0, lin = 0, pack = 0;
    A->n_attn_scratch = scratch_thread_slots();
    for (int i = 0; i < mc->n_inputs; i++) {
        const ModelInputSpec *s = &mc->inputs[i];
        InputActs *ia = &A->inputs[i];
        size_t L = (size_t)s->max_length, Lp = (size_t)s->padded_length, d = (size_t)s->d, F = (size_t)s->ffn;
        size_t N = b * Lp;
        ia->emb = carve(c, b * L * d);
        ia->mixed = carve(c, b * L * d);
        ia->xpos = carve(c, b * L * d);
        ia->pos_mask = s->position_dropout > 0 ? carve_u32(c, b * dropout_mask_words(L * d)) : NULL;
        ia->x0 = Lp != L ? carve(c, N * d) : ia->xpos;
        float *x = ia->x0;
        for (int l = 0; l < s->layers; l++) {
            layer_acts(c, &ia->layers[l], x, B, s->padded_length, s->win, s->d, s->ffn, s->heads, s->dropout);
            x = ia->layers[l].x_out;
        }
        if (s->global_layers > 0) {
            size_t C = (size_t)s->n_windows, Dg = (size_t)s->global_d, Fg = (size_t)s->global_ffn, NG = b * C;
            ia->gsum = carve(c, NG * d);
            ia->gin = carve(c, NG * Dg);
            ia->gx0 = carve(c, NG * Dg);
            x = ia->gx0;
            for (int l = 0; l < s->global_layers; l++) {
                layer_acts(c, &ia->glayers[l], x, B, s->n_windows, s->n_windows, s->global_d, s->global_ffn,
                           s->global_heads, s->dropout);
                x = ia->glayers[l].x_out;
            }
            ia->gup = carve(c, NG * d);
            ia->xg = carve(c, N * d);
            g_nd = max_sz(g_nd, NG * Dg);
            g_n3d = max_sz(g_n3d, NG * 3 * Dg);
            g_n2f = max_sz(g_n2f, NG * 2 * Fg);
            g_nf = max_sz(g_nf, NG * Fg);
            g_gdg = max_sz(g_gdg, NG * Dg);
            g_gd = max_sz(g_gd, NG * d);
            attn = max_sz(attn, window_attention_scratch_floats(s->n_windows, s->global_d / s->global_heads));
            int Ng = (int)NG, di = s->d, Dgi = s->global_d, Fgi = s->global_ffn;
            lin = max_sz(lin, linear_backward_scratch_floats(Ng, di, Dgi));
            lin = max_sz(lin, linear_backward_scratch_floats(Ng, Dgi, di));
            lin = max_sz(lin, linear_backward_scratch_floats(Ng, Dgi, 3 * Dgi));
            lin = max_sz(lin, linear_backward_scratch_floats(Ng, Dgi, 2 * Fgi));
            lin = max_sz(lin, linear_backward_scratch_floats(Ng, Fgi, Dgi));
        }
        ia->argmax = s->pool == POOL_MAX ? carve_i32(c, b * s->n_windows * d) : NULL;
        A->tokens[i] = carve_i32(c, b * L);
        g_nd = max_sz(g_nd, N * d);
        g_n3d = max_sz(g_n3d, N * 3 * d);
        g_n2f = max_sz(g_n2f, N * 2 * F);
        g_nf = max_sz(g_nf, N * F);
        g_bld = max_sz(g_bld, b * L * d);
        attn = max_sz(attn, window_attention_scratch_floats(s->win, s->d / s->heads));
        // the packed weight of the largest transformer linear (linear_forward_packed)
        pack = max_sz(pack, max_sz(gemm_pack_floats(s->d, 3 * s->d), gemm_pack_floats(s->d, 2 * s->ffn)));
        pack = max_sz(pack, gemm_pack_floats(s->ffn, s->d));
        if (s->global_layers > 0) {
            pack = max_sz(pack, max_sz(gemm_pack_floats(s->global_d, 3 * s->global_d),
                                       gemm_pack_floats(s->global_d, 2 * s->global_ffn)));
            pack = max_sz(pack, max_sz(gemm_pack_floats(s->global_ffn, s->global_d), gemm_pack_floats(s->d, s->global_d)));
        }
        int Ni = B * s->padded_length;
        lin = max_sz(lin, linear_backward_scratch_floats(Ni, s->d, 3 * s->d));
        lin = max_sz(lin, linear_backward_scratch_floats(Ni, s->d, 2 * s->ffn));
        lin = max_sz(lin, linear_backward_scratch_floats(Ni, s->ffn, s->d));
    }
    A->concat = carve(c, b * mc->fusion_in);
    float *x = A->concat;
    size_t maxdim = (size_t)mc->fusion_in > (size_t)mc->fusion_dim ? (size_t)mc->fusion_in : (size_t)mc->fusion_dim;
    for (int k = 0; k < mc->fusion_layers; k++) {
        mlp_acts(c, &A->fusion[k], x, B, k == 0 ? mc->fusion_in : mc->fusion_dim, mc->fusion_dim, mc->fusion_rb_do);
        lin = max_sz(lin, mlp_lin_scratch(B, k == 0 ? mc->fusion_in : mc->fusion_dim, mc->fusion_dim));
        x = A->fusion[k].out;
    }
    float *fusion_out = x;
    for (int t = 0; t < mc->n_targets; t++) {
        const ModelTargetSpec *s = &mc->targets[t];
        HeadActs *h = &A->heads[t];
        x = fusion_out;
        for (int k = 0; k < s->layers; k++) {
            mlp_acts(c, &h->blocks[k], x, B, k == 0 ? mc->fusion_dim : s->dim, s->dim, s->rb_do);
            lin = max_sz(lin, mlp_lin_scratch(B, k == 0 ? mc->fusion_dim : s->dim, s->dim));
            x = h->blocks[k].out;
        }
        h->rstd = carve(c, b);
        h->hn = carve(c, b * s->dim);
        h->ga = carve(c, b * s->dim);
        h->mask = s->fc_do > 0 ? carve_u32(c, b * dropout_mask_words((size_t)s->dim)) : NULL;
        h->logits = carve(c, b * s->n_classes);
        h->dlogits = carve(c, b * s->n_classes);
        maxdim = max_sz(maxdim, (size_t)s->dim);
        lin = max_sz(lin, linear_backward_scratch_floats(B, s->dim, s->n_classes));
    }
    // gradient scratch
    A->dres = carve(c, g_nd);
    A->d1 = carve(c, g_nd);
    A->d2 = carve(c, g_nd);
    A->dqkv = carve(c, g_n3d);
    A->dhh = carve(c, g_n2f);
    A->dg = carve(c, g_nf);
    A->dxpos = carve(c, g_bld);
    A->dmix = carve(c, g_bld);
    A->gdres = g_gdg ? carve(c, g_gdg) : NULL;
    A->gdup = g_gd ? carve(c, g_gd) : NULL;
    A->gdsum = g_gd ? carve(c, g_gd) : NULL;
    A->dconcat = carve(c, b * mc->fusion_in);
    A->dfusion = carve(c, b * mc->fusion_dim);
    A->dm1 = carve(c, b * maxdim);
    A->dm2 = carve(c, b * maxdim);
    A->dm3 = carve(c, b * maxdim);
    A->dm4 = carve(c, b * maxdim);
    A->dm5 = carve(c, b * maxdim);
    A->attn_scratch = carve(c, attn * (size_t)A->n_attn_scratch);
    A->lin_scratch = carve(c, lin);
    A->gemm_pack = carve(c, pack);
    A->gemm_pack_floats = pack;
    A->sample_ids = (uint64_t *)carve(c, 2 * b);
    A->perm = carve_i32(c, b);
}

static void acts_views_alloc(const ModelConfig *mc, ModelActs *A) {
    memset(A, 0, sizeof *A);
    for (int i = 0; i < mc->n_inputs; i++) {
        A->inputs[i].layers = calloc_check((size_t)mc->inputs[i].layers, sizeof(LayerActs));
        if (mc->inputs[i].global_layers > 0)
            A->inputs[i].glayers = calloc_check((size_t)mc->inputs[i].global_layers, sizeof(LayerActs));
    }
    A->fusion = calloc_check((size_t)mc->fusion_layers, sizeof(MlpActs));
    for (int t = 0; t < mc->n_targets; t++) A->heads[t].blocks = calloc_check((size_t)mc->targets[t].layers, sizeof(MlpActs));
}

void model_acts_views_free(const Model *m, ModelActs *A) {
    const ModelConfig *mc = &m->config;
    for (int i = 0; i < mc->n_inputs; i++) {
        free(A->inputs[i].layers);
        free(A->inputs[i].glayers);
    }
    free(A->fusion);
    for (int t = 0; t < mc->n_targets; t++) free(A->heads[t].blocks);
    memset(A, 0, sizeof *A);
}

size_t model_acts_floats(const Model *m, int max_batch) {
    ModelActs A;
    acts_views_alloc(&m->config, &A);
    Carver measure = {NULL, 0};
    acts_layout(m, &A, &measure, max_batch);
    model_acts_views_free(m, &A);
    return measure.off;
}

void model_acts_views(const Model *m, ModelActs *A, float *base, int max_batch) {
    acts_views_alloc(&m->config, A);
    Carver real = {base, 0};
    acts_layout(m, A, &real, max_batch);
}

void model_alloc_activations(Model *m, int max_batch) {
    if (max_batch < 1) eir_die("model_alloc_activations: max_batch %d < 1", max_batch);
    free(m->acts_memory);
    model_acts_views_free(m, &m->acts);
    m->acts_floats = model_acts_floats(m, max_batch);
    m->acts_memory = aligned_alloc(64, m->acts_floats * sizeof(float));
    if (!m->acts_memory) eir_die("out of memory: %zu MiB of activations for batch %d", m->acts_floats * 4 >> 20, max_batch);
    memset(m->acts_memory, 0, m->acts_floats * sizeof(float));  // deterministic contents from the start
    model_acts_views(m, &m->acts, m->acts_memory, max_batch);
    m->max_batch = max_batch;
    m->batch = 0;
    m->have_forward = m->have_loss = false;
}
