// model.h: EIR's MetaModel for bytes inputs (spec §3) on the CPU: input transformers -> residual
// MLP fusion -> one residual MLP head per target, forward, loss and backward.
//
// Memory (llm.c style): all parameters live in ONE float buffer carved into named views, the
// gradients in a second buffer with the same layout, the activations of a max-size batch in a
// third; nothing is allocated during a training step. The parameter table gives every tensor's
// EIR state-dict key, PyTorch shape and offset, so a checkpoint is the buffer plus the table.
//
// Buffer order = forward order: [input 0: embedding, position, layer 0..n-1, and with a global
// stage its in-projection + positions, global layers, out-projection + LayerScale] [input 1 ...]
// [fusion block 0..] [head of target 0: blocks, norm_final, final] [head of target 1] ...
// Backward walks it from the end: heads (last target first), fusion blocks, then each input's
// layers from the last and finally its embedding/position. Each time a unit (head, block,
// layer, embedding+position) is finished, the grad hook is told its [offset, offset+count):
// the ranges arrive in strictly decreasing order and tile the buffer exactly once, so a
// distributed layer can start reducing the tail of the gradient buffer while backward goes on.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/layers.h"
#include "model/op_profile.h"

#define MODEL_MAX_INPUTS 8
#define MODEL_MAX_TARGETS 32
#define MODEL_NAME_LEN 128

// ---- configuration -------------------------------------------------------------------------
typedef struct {
    char name[MODEL_NAME_LEN];  // input_name, part of the state-dict keys
    int vocab;                  // 261 for bytes
    int max_length;             // L
    int d;                      // embedding_dim
    int heads, layers, ffn;     // num_heads, num_layers, dim_feedforward (resolved, e.g. 4d)
    int window;                 // window_size; 0 = no windowing
    PositionKind position;      // encode | embed
    PoolKind pool;              // none | avg | max
    bool masked;                // causal attention inside each window
    float position_dropout, dropout;
    // global stage over the windows (beyond EIR; 0 layers = off, EIR's model): each window's mean
    // -> Linear(d, Dg) + learned window position -> global_layers pre-norm transformer layers
    // across the windows (no mask, no RoPE) -> Linear(Dg, d) -> LayerScale, added to every token of
    // its window before the pooling.
    int global_layers, global_heads, global_d;  // global_d: Dg (global_embedding_dim)
    // derived by model_config_finish:
    int win;             // window length actually used (window, or L when window == 0)
    int n_windows;       // C = ceil(L / win)
    int padded_length;   // Lp = C * win (Lp - L zero rows are prepended)
    int out_features;    // features this input contributes to the fusion input
    int global_ffn;      // 4 * global_d (the global layers' SwiGLU width)
} ModelInputSpec;

typedef struct {
    char output_name[MODEL_NAME_LEN];
    char column[MODEL_NAME_LEN];
    bool continuous;        // MSE on one output; else cross-entropy over n_classes
    int n_classes;          // K (1 when continuous)
    float label_smoothing;  // cat_label_smoothing
    int layers, dim;        // the output's model_init_config: layers[0], fc_task_dim
    float rb_do, fc_do, sd_p;
} ModelTargetSpec;

typedef struct {
    int n_inputs;
    ModelInputSpec inputs[MODEL_MAX_INPUTS];
    int fusion_layers, fusion_dim;  // fusion model_config: layers[0], fc_task_dim
    float fusion_rb_do, fusion_sd_p;
    int n_targets;
    ModelTargetSpec targets[MODEL_MAX_TARGETS];
    int fusion_in;  // derived: sum of the inputs' out_features
} ModelConfig;

// Fills the derived fields and checks the configuration; returns 0, or -1 with a message.
int model_config_finish(ModelConfig *mc, char *err, size_t errlen);

// ---- tables --------------------------------------------------------------------------------
typedef struct {
    char *name;         // EIR state-dict key, e.g. "input_modules.x.embedding.weight"
    int ndim;
    int64_t shape[4];   // PyTorch shape (Linear weight = (out, in))
    size_t offset;      // in floats, into params_memory / grads_memory
    size_t numel;
    bool decay;         // AdamW weight decay applies (tensors with >= 2 dims, spec §4.3)
    int init;           // how model_init_params draws it: INIT_UNIFORM(+-init_value),
    float init_value;   // INIT_NORMAL(0, init_value) or INIT_CONST(init_value)
} ParamTensor;

enum { INIT_UNIFORM = 1, INIT_NORMAL = 2, INIT_CONST = 3 };

// Non-parameter tensors of EIR's state dict (rope_freqs, the "encode" table pe, the causal mask).
typedef struct {
    char *name;
    int ndim;
    int64_t shape[4];
    float *data;
    size_t numel;
} BufferTensor;

typedef struct {
    size_t offset, count;
} GradRange;

// ---- named views (the same struct over parameters and over gradients) ---------------------
typedef struct {
    float *norm1, *wqkv /* q_proj, k_proj, v_proj: (3d, d) */, *wo, *ls1, *norm2, *w12 /* w1, w2: (2F, d) */, *w3, *ls2;
} TransformerLayerW;
typedef struct {
    float *embedding, *pos;  // pos NULL for "encode"
    TransformerLayerW *layers;
    // global stage (NULL / unused when global_layers == 0): in (Dg, d), pos (1, C, Dg),
    // layers [global_layers], out (d, Dg), ls (d)
    float *g_in, *g_pos, *g_out, *g_ls;
    TransformerLayerW *glayers;
} InputW;
typedef struct {
    float *norm, *ds_w, *ds_b, *fc1, *fc2, *ls;  // ds_* NULL when in == out
} MlpBlockW;
typedef struct {
    MlpBlockW *blocks;
    float *norm_final, *final_w, *final_b;
} HeadW;
typedef struct {
    InputW inputs[MODEL_MAX_INPUTS];
    MlpBlockW *fusion;
    HeadW heads[MODEL_MAX_TARGETS];
} ModelWeights;

// ---- activations ---------------------------------------------------------------------------
typedef struct {
    float *x_in, *rstd1, *a, *qkv, *lse, *att, *y, *x_mid, *rstd2, *f, *hh, *g, *z, *x_out;
    uint32_t *att_mask, *y_mask;
} LayerActs;
typedef struct {
    float *emb, *mixed, *xpos, *x0;  // lookup, mixup, scale+position+dropout, front-padded
    uint32_t *pos_mask;
    LayerActs *layers;
    int32_t *argmax;
    // global stage: window means (B*C, d), their projection (B*C, Dg), + positions = the first
    // global layer's input, the global layers, the projection back (B*C, d), and the local output
    // with it added to every token (B, Lp, d), which the pooling reads
    float *gsum, *gin, *gx0, *gup, *xg;
    LayerActs *glayers;
} InputActs;
typedef struct {
    float *x_in, *rstd, *h, *u, *v, *w, *out;
    uint32_t *mask;
    float sd_scale;  // stochastic-depth factor of the last forward: 0 (dropped), 1 or 1/(1-p)
    int in, out_dim;
} MlpActs;
typedef struct {
    MlpActs *blocks;
    float *rstd, *hn, *ga, *logits, *dlogits;
    uint32_t *mask;
} HeadActs;
typedef struct {
    InputActs inputs[MODEL_MAX_INPUTS];
    float *concat;  // (B, fusion_in)
    MlpActs *fusion;
    HeadActs heads[MODEL_MAX_TARGETS];
    // gradient scratch, shared by the inputs / blocks
    float *dres, *d1, *d2, *dqkv, *dhh, *dg, *dxpos, *dmix;
    float *dconcat, *dfusion, *dm1, *dm2, *dm3, *dm4, *dm5;
    float *gdres, *gdup, *gdsum;  // global stage: residual gradient (B*C, Dg), (B*C, d) twice
    float *attn_scratch;
    int n_attn_scratch;
    float *lin_scratch;  // linear_backward's chunk partials
    float *gemm_pack;    // one packed weight (linear_forward_packed), gemm_pack_floats floats
    size_t gemm_pack_floats;
    int32_t *tokens[MODEL_MAX_INPUTS];  // copies of the last forward's tokens
    uint64_t *sample_ids;
    int32_t *perm;
} ModelActs;

// ---- forward context -----------------------------------------------------------------------
typedef struct {
    bool train;                  // dropout, stochastic depth and mixup only when true
    bool inference_only;         // no backward follows: activations only the backward reads may
                                 // be left unwritten (model_backward then refuses to run)
    uint64_t seed;               // run seed (keys every random stream)
    uint64_t step;               // global optimizer step (dropout masks, stochastic-depth coins)
    uint64_t sample_base;        // global sample index of row 0 when sample_ids is NULL
    const uint64_t *sample_ids;  // [B] global sample index of each row, or NULL
    bool mixup;                  // mix token embeddings (spec §4.2); needs train
    float mixup_lambda;
    const int32_t *mixup_perm;   // [B] permutation of the local rows
} ForwardCtx;

typedef struct {
    const int32_t *cls;  // categorical target: [B] class index, -1 = missing
    const float *value;  // continuous target: [B], NaN = missing
} TargetLabels;

typedef void (*GradReadyFn)(void *user, size_t offset, size_t count);

typedef struct {
    ModelConfig config;
    ParamTensor *params;
    int n_param_tensors;
    size_t num_parameters;
    float *params_memory, *grads_memory;
    ModelWeights w, g;  // views into params_memory and grads_memory
    BufferTensor *buffers;
    int n_buffers;
    float *buffers_memory;
    float *rope_cos[MODEL_MAX_INPUTS], *rope_sin[MODEL_MAX_INPUTS], *pos_table[MODEL_MAX_INPUTS];
    // Backward units (embedding+position of an input, a transformer layer, a fusion block, a head
    // block, a head's final layers) in buffer order; backward reports them last to first.
    GradRange *ranges;
    int n_ranges;
    int unit_embed[MODEL_MAX_INPUTS], unit_layer0[MODEL_MAX_INPUTS], unit_fusion0, unit_head0[MODEL_MAX_TARGETS];
    // global stage units of input i: in-projection + positions, each layer, out-projection + LayerScale
    int unit_gin[MODEL_MAX_INPUTS], unit_glayer0[MODEL_MAX_INPUTS], unit_gout[MODEL_MAX_INPUTS];
    // activations
    int max_batch, batch;
    float *acts_memory;
    size_t acts_floats;
    ModelActs acts;
    ForwardCtx ctx;  // of the last forward (pointers redirected to owned copies)
    bool have_forward, have_loss;
    GradReadyFn grad_hook;
    void *grad_hook_user;
    OpProfile *prof;  // time per op of the passes when not NULL (eir-bench-train --profile); not owned
} Model;

// Builds the parameter table and views and allocates the parameter and gradient buffers (zeroed).
// Dies on an invalid configuration.
void model_build(Model *m, const ModelConfig *cfg);
// Spec §3.4 initialisation; every tensor draws from its own stream (seed, RNG_INIT, 0, tensor index).
void model_init_params(Model *m, uint64_t seed);
// Allocates the activations for batches of up to max_batch rows (once; call again to resize).
void model_alloc_activations(Model *m, int max_batch);
// Forward pass of B rows; tokens[i] = (B, L_i) int32 tokens of input i (copied).
void model_forward(Model *m, const int32_t *const *tokens, int B, const ForwardCtx *ctx);
// Logits of target t from the last forward: (B, K_t), row-major.
float *model_logits(Model *m, int t);
// Loss of the last forward (spec §4.1, §4.2): per target the mean over present labels (mixup:
// lambda*L(y) + (1-lambda)*L(y[perm])), then the mean over targets. denominators[t] (optional)
// replaces the local count of present labels by the global one, so that summing every rank's
// gradient gives the global batch gradient. Writes dlogits = d(returned loss)/d(logits), which
// seeds model_backward, and target_losses[t] when not NULL.
double model_loss(Model *m, const TargetLabels *labels, const double *denominators, float *target_losses);
// Gradient of the seeded loss w.r.t. every parameter, ADDED into grads_memory.
void model_backward(Model *m);
void model_zero_grad(Model *m);
// Called during model_backward for each finished range of the gradient buffer (may be NULL).
void model_set_grad_hook(Model *m, GradReadyFn fn, void *user);
// Table look-ups.
const ParamTensor *model_find_param(const Model *m, const char *name);
const BufferTensor *model_find_buffer(const Model *m, const char *name);
void model_free(Model *m);
// Views over other memory with the same layouts (the CUDA backend's device buffers): weight or
// gradient views into base (num_parameters floats), and activation views for batches of up to
// max_batch rows into base (model_acts_floats floats). Only the view structs are host memory.
void model_weight_views(const Model *m, ModelWeights *v, float *base);
void model_weight_views_free(const Model *m, ModelWeights *v);
size_t model_acts_floats(const Model *m, int max_batch);
void model_acts_views(const Model *m, ModelActs *A, float *base, int max_batch);
void model_acts_views_free(const Model *m, ModelActs *A);
// Number of parameters a configuration has (without building it).
size_t model_param_count(const ModelConfig *cfg);
// What a model of cfg takes, computed without allocating it (memory checks before a run starts).
typedef struct {
    size_t parameters;        // floats of one copy of the parameters
    double buffer_bytes;      // position table, causal masks, RoPE tables
    double activation_bytes;  // activations and gradient scratch for batches of max_batch rows
    int overflow_input;       // an input whose max_batch x padded length x widest activation exceeds
                              // what a pass indexes with int (activation_bytes is then scaled
                              // from one row), or -1
} ModelFootprint;
// Returns 0, or -1 with err for an invalid configuration.
int model_footprint(const ModelConfig *cfg, int max_batch, ModelFootprint *f, char *err, size_t errlen);
