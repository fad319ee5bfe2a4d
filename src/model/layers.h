// layers.h: the CPU layers of the bytes transformer (spec §3), each a *_forward / *_backward
// pair over raw float buffers with every size spelled out (llm.c style). No layer allocates.
//
// Conventions (read these once, they hold for every function below):
// - Row-major. "N rows of C" means N*C floats, row r at r*C.
// - Parameter gradients are always ACCUMULATED (+=), so micro-batches can add up.
// - Input gradients are WRITTEN (=) unless the comment says "adds" (rmsnorm_backward always
//   adds: it sits on a residual stream whose gradient already holds the skip path), or a flag
//   chooses (linear_backward). Where a comment says "may alias", in-place use is allowed.
// - Randomness comes from rng.h streams keyed by (seed, purpose, step, global sample index), so
//   a dropout mask depends on which sample a row is, never on how a batch was split.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The model's architecture choices that layers and passes branch on (config.h has the YAML's
// own enums; src/train/model_from_config.c maps them).
typedef enum { POS_ENCODE, POS_EMBED } PositionKind;
typedef enum { POOL_NONE, POOL_AVG, POOL_MAX } PoolKind;

// torch.finfo(float32).eps, the default eps of nn.RMSNorm (spec §3.1).
#define RMSNORM_EPS 1.1920929e-07f

// ---------------------------------------------------------------------------------------------
// Randomness shared by the dropout-like layers (layers_dropout.c)
// ---------------------------------------------------------------------------------------------
// Which stream a dropout site draws from. Element e of sample s uses Philox block e/8 of
// RngStream(seed, purpose, step, sample_ids[row]) and the 16-bit half (e%8) of its 4 words:
// the element is kept when that half >= dropout_threshold(p). p is thus rounded to 1/65536.
typedef struct {
    uint64_t seed;
    uint32_t purpose;              // rng_purpose(RNG_DROPOUT, site)
    uint64_t step;
    const uint64_t *sample_ids;    // [B] global sample index of each batch row
} DropoutKey;

// 16-bit keep threshold for drop probability p (0 keeps all, 65536 drops all).
uint32_t dropout_threshold(float p);
// 1/(1-p), or 0 when p >= 1 (torch returns zeros then).
float dropout_keep_scale(float p);
// Words of keep bits stored per sample for D elements.
static inline size_t dropout_mask_words(size_t D) { return (D + 31) / 32; }
// Keep decisions of elements [first, first+n) of one sample's stream into bits (bit k of word
// k/32 = element first+k); the words are overwritten, bits past n are zero.
void dropout_keep_bits(uint32_t *bits, uint64_t seed, uint32_t purpose, uint64_t step,
                       uint64_t sample, uint64_t first, int n, uint32_t threshold);

// Dropout over B rows of D elements: out = inp * keep / (1-p). mask receives B *
// dropout_mask_words(D) words. out may alias inp.
void dropout_forward(float *out, uint32_t *mask, const float *inp, int B, size_t D, float p,
                     const DropoutKey *key);
// dinp = dout * keep / (1-p). dinp may alias dout.
void dropout_backward(float *dinp, const float *dout, const uint32_t *mask, int B, size_t D, float p);

// Batch-mode stochastic depth (torchvision mode="batch"): one coin per step for the whole global
// batch, keyed (seed, purpose, step, 0) so all ranks agree. Returns 0 (branch dropped) or
// 1/(1-p) (kept). p <= 0 -> 1.
float stochastic_depth_scale(float p, uint64_t seed, uint32_t purpose, uint64_t step);

// ---------------------------------------------------------------------------------------------
// Embedding, mixup, position, windows (layers_embed.c)
// ---------------------------------------------------------------------------------------------
// out[n] = table[tokens[n]] for N tokens; table (V, d). Dies on a token outside [0, V).
void embedding_forward(float *out, const int32_t *tokens, const float *table, int N, int V, int d);
// dtable[tokens[n]] += dout[n] (scatter-add, deterministic order).
void embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d);

// Mixup of rows (spec §4.2): out[b] = lambda*inp[b] + (1-lambda)*inp[perm[b]]; D per row.
void mixup_forward(float *out, const float *inp, const int32_t *perm, float lambda, int B, size_t D);
// dinp[b] = lambda*dout[b] + (1-lambda) * sum over {b' : perm[b'] = b} of dout[b'].
void mixup_backward(float *dinp, const float *dout, const int32_t *perm, float lambda, int B, size_t D);

// Scale by sqrt(d) and add the position table (spec §3.1 steps 2-3):
// out[b,l] = scale*emb[b,l] + pos[l]; pos (L, d) or NULL. out may alias emb.
void embed_position_forward(float *out, const float *emb, const float *pos, int B, int L, int d, float scale);
// demb = scale*dout (may alias dout); dpos[l] += sum_b dout[b,l] when dpos != NULL.
void embed_position_backward(float *demb, float *dpos, const float *dout, int B, int L, int d, float scale);
// EIR's PositionalEncoding: pe[p,2i] = sin(p*w_i), pe[p,2i+1] = cos(p*w_i),
// w_i = exp(-ln(10000)*2i/d); pe is (L, d).
void sinusoid_position_table(float *pe, int L, int d);

// Front zero-padding into windows (spec §3.1 step 4): inp (B, L, d) -> out (B, Lp, d), the first
// Lp-L rows of every sample zero.
void window_pad_forward(float *out, const float *inp, int B, int L, int Lp, int d);
void window_pad_backward(float *dinp, const float *dout, int B, int L, int Lp, int d);

// ---------------------------------------------------------------------------------------------
// Normalisation, linear maps, elementwise (layers_norm.c, layers_linear.c, layers_act.c)
// ---------------------------------------------------------------------------------------------
// torch RMSNorm: out = x * rsqrt(mean(x^2) + eps) * w over each row of C; rstd[N] saved.
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps);
// ADDS the input gradient into dinp; dweight += sum_r dout * xhat.
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int N, int C);

// Threads: every layer parallelises with OpenMP only. The linear layers call OpenBLAS
// single-threaded (they set openblas_set_num_threads(1)) on fixed blocks of rows, one block per
// work item, so results are bit-identical for any OMP_NUM_THREADS.
// out (N, out_dim) = inp (N, in) @ weight^T + bias; weight is PyTorch's (out_dim, in); bias may be NULL.
// Every sgemm call covers a fixed number of rows derived from `block` alone (N must be a
// multiple of block; a block is split in halves down to 256 rows where it divides evenly):
// OpenBLAS picks its kernels by shape, so fixed calls make each row's result independent of how
// many rows (samples) are in the batch (serving batches requests together and must answer as
// eir-predict does). The model passes block = one sample's rows (padded length) in the
// transformer and 1 in the MLPs.
void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int in, int out_dim,
                    int block);
// dinp = (or += when accumulate_dinp) dout @ weight; dweight += dout^T @ inp; dbias += sum_r dout.
// dinp and dbias may be NULL. scratch: linear_backward_scratch_floats(N, in, out_dim) floats (the
// weight gradient is summed over fixed chunks of rows, in chunk order, so any thread count gives
// the same bits); may be NULL when that size is 0.
size_t linear_backward_scratch_floats(int N, int in, int out_dim);
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int in, int out_dim, bool accumulate_dinp, float *scratch);

// dst[c] += alpha * sum_r a[r,c] * b[r,c] (b NULL: plain column sums). Fixed summation order
// (rows in order), independent of the thread count.
void colsum_add(float *dst, const float *a, const float *b, int N, int C, float alpha);

// out = x + scale * gamma (.) y, gamma per column (LayerScale then residual add; scale carries
// stochastic depth). x may be NULL (then out = scale*gamma*y); out may alias x.
void layerscale_residual_forward(float *out, const float *x, const float *y, const float *gamma,
                                 float scale, int N, int C);
// dy = scale * gamma (.) dout (written); dgamma += scale * sum_r dout (.) y. The skip path's
// gradient is dout itself, which the caller keeps.
void layerscale_residual_backward(float *dy, float *dgamma, const float *dout, const float *y,
                                  const float *gamma, float scale, int N, int C);

// SwiGLU gate (spec §3.1): h rows are [a (F) | b (F)] (the fused W1/W2 output), out = SiLU(a) * b.
void swiglu_forward(float *out, const float *h, int N, int F);
void swiglu_backward(float *dh, const float *dout, const float *h, int N, int F);
// swiglu_forward on the calling thread alone (for a caller that already splits rows over threads).
void swiglu_forward_rows(float *out, const float *h, int N, int F);
// h (N, 2F) = inp (N, in) @ w12^T, then out (N, F) = SwiGLU(h), in the row blocks of
// linear_forward: each block's gate runs right after its product, while h is still in cache.
// Same results as linear_forward followed by swiglu_forward.
void linear_swiglu_forward(float *out, float *h, const float *inp, const float *w12, int N, int in, int F, int block);

// linear_forward / linear_swiglu_forward through the packed-panel product of layers_gemm.c
// where it applies (no bias, out_dim a multiple of its panel width, N >= 128 rows, the weight
// fits pack: pack_floats floats of scratch), else exactly those functions. Each output row is
// one fma chain per element in k order whatever the blocking: bit-identical for any batch and
// thread count, as linear_forward is (but not bit-identical to OpenBLAS's rounding).
void linear_forward_packed(float *out, const float *inp, const float *weight, const float *bias, int N, int in,
                           int out_dim, int block, float *pack, size_t pack_floats);
// keep_h false: h may be left unwritten (the packed path then never stores it; inference).
void linear_swiglu_forward_packed(float *out, float *h, bool keep_h, const float *inp, const float *w12, int N, int in,
                                  int F, int block, float *pack, size_t pack_floats);

// linear_backward with the input gradient (not accumulated) from the packed product where it
// applies (as linear_forward_packed, with the weight used as it is: K = out_dim, in outputs).
void linear_backward_packed(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int N, int in, int out_dim, bool accumulate_dinp, float *scratch,
                            float *pack, size_t pack_floats);
// The FFN's w3 backward and the SwiGLU gate's in one: dw3 += dout^T @ g (linear_backward) and
// dh = swiglu_backward(dout @ w3, h); where the packed product applies (as
// linear_forward_packed), dout @ w3 is never written: each register tile goes straight into the
// gate's backward. Else dg (N, F) receives it and the two functions run as they are.
void linear_swiglu_backward_packed(float *dh, float *dw3, const float *dout, const float *g, const float *h,
                                   const float *w3, int N, int F, int d, float *dg, float *pack, size_t pack_floats,
                                   float *scratch);

// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). out may alias inp.
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

// ---------------------------------------------------------------------------------------------
// Rotary embedding and window attention (layers_rope.c, layers_attention.c)
// ---------------------------------------------------------------------------------------------
// freqs[i] = 1 / 10000^(2i/dh), i < dh/2 (EIR's rope_freqs buffer).
void rope_freqs_init(float *freqs, int dh);
// cos/sin tables (W, dh/2): angle = (float)pos * freqs[i], pos = 0..W-1.
void rope_tables(float *cos_t, float *sin_t, const float *freqs, int W, int dh);
// Interleaved RoPE in place on the first n_heads*dh columns of N rows spaced ld apart; row r
// has position r % W (positions restart in every window).
void rope_forward(float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t);
// The inverse rotation, in place on the gradient.
void rope_backward(float *dx, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t);

// Softmax attention inside each window (spec §3.1 step 5). qkv: B*T rows of 3d = [q | k | v]
// (q and k already rotated), T = C*W tokens per sample, heads of dh = d/heads columns. out: B*T
// rows of d (heads concatenated); lse: B*T rows of heads (log-sum-exp of the scaled scores, kept
// for the backward pass, which recomputes the probabilities). causal: key j <= query i only.
// p_drop > 0 applies attention-probability dropout with keep bits stored in mask
// (window_attention_mask_words): per (b, c, head) unit W*W bits, bit i*W + j for query i and key
// j, which is element ((c*heads + head)*W + i)*W + j of sample b's stream.
// scratch: window_attention_scratch_floats(W, dh) floats per thread, n_scratch thread slots.
size_t window_attention_mask_words(int B, int T, int W, int heads);
size_t window_attention_scratch_floats(int W, int dh);
void window_attention_forward(float *out, float *lse, uint32_t *mask, const float *qkv, int B, int T, int W,
                              int d, int heads, bool causal, float p_drop, const DropoutKey *key,
                              float *scratch, int n_scratch);
// dqkv written (all 3d columns).
void window_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *lse,
                               const uint32_t *mask, int B, int T, int W, int d, int heads, bool causal,
                               float p_drop, float *scratch, int n_scratch);

// ---------------------------------------------------------------------------------------------
// Pooling per window (layers_pool.c)
// ---------------------------------------------------------------------------------------------
// inp (B, C, W, d) -> row b of out (at out + b*ld_out): avg/max over W per window, windows
// concatenated ([c*d + k]); POOL_NONE copies all C*W*d values. argmax (B, C, d) for POOL_MAX.
void pool_forward(float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d,
                  PoolKind kind, int ld_out);
// Writes all of dinp (max: zero except at the argmax positions).
void pool_backward(float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d,
                   PoolKind kind, int ld_out);
// The global stage's way back into the windows (model.h): out (N, W, d) = x + gamma (.) y[n]
// added to each of the W rows of window n. out may alias x.
void window_broadcast_add_forward(float *out, const float *x, const float *y, const float *gamma, int N, int W, int d);
// out (N, d) = the sum of each window's W rows of inp (N, W, d), in row order (the backward of the
// broadcast: d(gamma (.) y) = window_sum(dout)).
void window_sum(float *out, const float *inp, int N, int W, int d);

// ---------------------------------------------------------------------------------------------
// Losses (layers_loss.c)
// ---------------------------------------------------------------------------------------------
// Cross-entropy with label smoothing eps over B rows of K logits, against labels[perm[b]]
// (perm NULL = identity); rows whose label is < 0 are skipped. Returns the SUM of the row losses
// (double) and the number of rows used in *n_valid. If dlogits != NULL, adds grad_scale *
// d(row loss)/d(logits) for every used row.
double crossentropy_forward_backward(float *dlogits, const float *logits, const int32_t *labels,
                                     const int32_t *perm, int B, int K, float smoothing,
                                     float grad_scale, int *n_valid);
// Squared error for one continuous target (K = 1): rows with NaN targets skipped; same contract.
double mse_forward_backward(float *dpred, const float *pred, const float *target, const int32_t *perm,
                            int B, float grad_scale, int *n_valid);
