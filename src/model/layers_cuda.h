// layers_cuda.h: the CUDA layers of the bytes transformer (issue 7), the GPU twins of layers.h:
// each layer a *_cuda forward / backward pair with the CPU layer's exact contract, computed in
// fp32 on the device. Plain C: C files include this without any CUDA header.
//
// Conventions (on top of those of layers.h, which all hold here: row-major, parameter
// gradients ACCUMULATED, input gradients written unless a comment says "adds", aliasing as
// there):
// - Every float/int pointer is DEVICE memory; scalars and sizes are host values.
// - `stream` is a cudaStream_t passed as void* (NULL = the legacy default stream). Every call
//   only enqueues work on it and returns; nothing synchronises the host.
// - No layer allocates. Where a deterministic two-pass reduction needs room, the caller passes
//   `scratch` of the size the matching *_scratch_* function gives.
// - Results are run-to-run deterministic: no floating-point atomics anywhere; every sum has a
//   fixed order that depends only on the sizes (not on the GPU or the launch).
// - Randomness: a DropoutKey's sample_ids points to DEVICE memory ([B] global sample ids); the
//   masks are bit-identical to the CPU's for the same key (same Philox streams, layers_dropout.c).
// - Invalid sizes or a failing CUDA/cuBLAS call end the run via eir_die, naming the call.
// Available only when the build has the CUDA backend (EIR_HAVE_CUDA).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/cuda_common.h"  // int cuda_device_count(void)

#ifdef __cplusplus
extern "C" {
#endif
#include "model/layers.h"  // DropoutKey, PoolKind, RMSNORM_EPS (C linkage in the .cu files too)

// ---------------------------------------------------------------------------------------------
// Device, memory, streams, events, cuBLAS handle (cuda_common.cu): what C callers (the tests,
// later the model) need without including CUDA headers.
// ---------------------------------------------------------------------------------------------
void cuda_set_device(int device);
// Peak rates of the current device, for benchmarks: multiprocessors, clock (kHz), plain fp32
// FLOP/s (FMA = 2), memory bandwidth in bytes/s (from the memory clock and bus width; 0 where the
// runtime does not report them). name receives the device name.
typedef struct {
    char name[256];
    int sm_count, clock_khz, major, minor;
    double fp32_flops, mem_bytes_per_s;
} CudaDeviceInfo;
void cuda_device_info(CudaDeviceInfo *info);
void *cuda_malloc(size_t bytes);  // dies on failure
void cuda_free(void *p);          // NULL is fine
void cuda_memcpy_h2d(void *dst, const void *src, size_t bytes);  // synchronous
// Synchronous, on the legacy default stream, which does NOT wait for the non-blocking streams the
// model runs on: synchronise the producing stream first (as every caller does).
void cuda_memcpy_d2h(void *dst, const void *src, size_t bytes);
void cuda_memcpy_d2d(void *dst, const void *src, size_t bytes, void *stream);
void cuda_memset_zero(void *p, size_t bytes, void *stream);
void cuda_memcpy_h2d_async(void *dst, const void *src, size_t bytes, void *stream);  // src: pinned to be async
void cuda_memcpy_d2h_async(void *dst, const void *src, size_t bytes, void *stream);  // dst: pinned
// Page-locked host memory (zeroed), for asynchronous copies; dies on failure.
void *cuda_host_alloc(size_t bytes);
void cuda_host_free(void *p);
void *cuda_stream_create(void);  // a non-blocking stream
void cuda_stream_destroy(void *stream);
void cuda_stream_synchronize(void *stream);
void cuda_device_synchronize(void);
void *cuda_event_create(void);
void cuda_event_destroy(void *event);
void cuda_event_record(void *event, void *stream);
void cuda_event_synchronize(void *event);
// `stream` waits on the device for the event's latest record (the host goes on).
void cuda_stream_wait_event(void *stream, void *event);
// Milliseconds between two recorded events (waits for the second).
float cuda_event_elapsed_ms(void *start, void *stop);
// Precision of the linear layers' matrix products; everything else (norms, softmax, optimizer,
// the fp32 master weights and gradients) stays fp32.
//   FP32: plain sgemm, the CPU's results to fp32 rounding.
//   TF32: operands rounded to TF32 (10-bit mantissa) on the tensor cores, fp32 accumulation.
//   BF16: operands rounded to bfloat16 (7-bit mantissa) on the tensor cores, fp32 accumulation
//         (cuBLAS's CUBLAS_COMPUTE_32F_FAST_16BF: the weights stay fp32 masters in memory).
typedef enum { CUDA_MATH_FP32 = 0, CUDA_MATH_TF32 = 1, CUDA_MATH_BF16 = 2 } CudaMath;
// cuBLAS handle for the linear layers, fp32 math until cuda_blas_set_math changes it.
// One handle per host thread that issues work.
void *cuda_blas_create(void);
void cuda_blas_set_math(void *blas, CudaMath math);
void cuda_blas_destroy(void *blas);

// ---------------------------------------------------------------------------------------------
// Dropout (layers_dropout.cu)
// ---------------------------------------------------------------------------------------------
// As dropout_forward / dropout_backward: mask receives B * dropout_mask_words(D) words, identical
// to the CPU's. p <= 0: out = inp (copy unless aliased), mask untouched.
void dropout_forward_cuda(float *out, uint32_t *mask, const float *inp, int B, size_t D, float p,
                          const DropoutKey *key, void *stream);
void dropout_backward_cuda(float *dinp, const float *dout, const uint32_t *mask, int B, size_t D, float p,
                           void *stream);

// ---------------------------------------------------------------------------------------------
// Embedding, mixup, position, windows (layers_embed.cu)
// ---------------------------------------------------------------------------------------------
// out[n] = table[tokens[n]]. A token outside [0, V) gives a row of NaN (the device cannot die
// cleanly; the caller validates tokens on the host, as model_forward does, before the upload).
void embedding_forward_cuda(float *out, const int32_t *tokens, const float *table, int N, int V, int d, void *stream);
// dtable[tokens[n]] += dout[n]: chunk partials in token order, then added in chunk order (no
// atomics): deterministic, equal to the CPU's token-order sums to fp32 rounding. scratch:
// embedding_backward_cuda_scratch_floats(N, V, d) floats (0 for vocabularies above 384, which
// take a row-per-warp kernel that is bit-identical to the CPU).
size_t embedding_backward_cuda_scratch_floats(int N, int V, int d);
void embedding_backward_cuda(float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d,
                             float *scratch, void *stream);
void mixup_forward_cuda(float *out, const float *inp, const int32_t *perm, float lambda, int B, size_t D, void *stream);
void mixup_backward_cuda(float *dinp, const float *dout, const int32_t *perm, float lambda, int B, size_t D,
                         void *stream);
// pos (L, d) or NULL; out may alias emb; demb may alias dout; dpos += batch sum in batch order.
void embed_position_forward_cuda(float *out, const float *emb, const float *pos, int B, int L, int d, float scale,
                                 void *stream);
void embed_position_backward_cuda(float *demb, float *dpos, const float *dout, int B, int L, int d, float scale,
                                  void *stream);
void window_pad_forward_cuda(float *out, const float *inp, int B, int L, int Lp, int d, void *stream);
void window_pad_backward_cuda(float *dinp, const float *dout, int B, int L, int Lp, int d, void *stream);

// ---------------------------------------------------------------------------------------------
// Normalisation, column sums, linear maps, elementwise (layers_norm.cu, layers_linear.cu,
// layers_act.cu)
// ---------------------------------------------------------------------------------------------
// Room for the deterministic column sums (parameter gradients of per-feature vectors): partial
// sums of fixed chunks of rows, added in chunk order.
size_t colsum_cuda_scratch_floats(int N, int C);
// dst[c] += alpha * sum_r a[r,c] * b[r,c] (b NULL: plain column sums).
void colsum_add_cuda(float *dst, const float *a, const float *b, int N, int C, float alpha, float *scratch,
                     void *stream);

void rmsnorm_forward_cuda(float *out, float *rstd, const float *inp, const float *weight, int N, int C, float eps,
                          void *stream);
// ADDS the input gradient into dinp; dweight += sum_r dout * xhat. scratch: colsum_cuda_scratch_floats(N, C).
void rmsnorm_backward_cuda(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const float *rstd, int N, int C, float *scratch, void *stream);

// out (N, out_dim) = inp @ weight^T + bias through cuBLAS sgemm (fp32); bias may be NULL.
void linear_forward_cuda(void *blas, float *out, const float *inp, const float *weight, const float *bias, int N,
                         int in, int out_dim, void *stream);
// dinp = (or += when accumulate_dinp) dout @ weight; dweight += dout^T @ inp; dbias += colsum(dout).
// dinp and dbias may be NULL. scratch: colsum_cuda_scratch_floats(N, out_dim) floats when dbias
// is given (else may be NULL). cuBLAS sums the whole N in one call: no chunk partials needed.
void linear_backward_cuda(void *blas, float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int N, int in, int out_dim, bool accumulate_dinp, float *scratch,
                          void *stream);

// out = x + scale * gamma (.) y; x may be NULL; out may alias x.
void layerscale_residual_forward_cuda(float *out, const float *x, const float *y, const float *gamma, float scale,
                                      int N, int C, void *stream);
// dy = scale * gamma (.) dout; dgamma += scale * sum_r dout (.) y (dgamma may be NULL).
// scratch: colsum_cuda_scratch_floats(N, C) when dgamma is given.
void layerscale_residual_backward_cuda(float *dy, float *dgamma, const float *dout, const float *y,
                                       const float *gamma, float scale, int N, int C, float *scratch, void *stream);
void swiglu_forward_cuda(float *out, const float *h, int N, int F, void *stream);
void swiglu_backward_cuda(float *dh, const float *dout, const float *h, int N, int F, void *stream);
// dst[k] += src[k] for k < n.
void add_inplace_cuda(float *dst, const float *src, size_t n, void *stream);
void gelu_forward_cuda(float *out, const float *inp, size_t n, void *stream);
void gelu_backward_cuda(float *dinp, const float *dout, const float *inp, size_t n, void *stream);

// ---------------------------------------------------------------------------------------------
// Rotary embedding and window attention (layers_rope.cu, layers_attention.cu)
// ---------------------------------------------------------------------------------------------
// cos_t, sin_t: the (W, dh/2) tables of rope_tables, uploaded. In place, as rope_forward/backward.
void rope_forward_cuda(float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t,
                       void *stream);
void rope_backward_cuda(float *dx, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t,
                        void *stream);
// As window_attention_forward / _backward (same qkv, out, lse and mask layouts; the mask is
// bit-identical to the CPU's, window_attention_mask_words(B, T, W, heads) words). One thread
// block per (sample, window, head) holds that unit's keys and values in shared memory; each
// thread owns query rows (forward: scores, softmax, dropout, P.V fused; backward: the
// probabilities recomputed from lse, as flash attention does). dh <= 64; the unit must fit in
// shared memory (W * dh <= ~14000 floats for the backward pass; the tutorial's 128 x 8 uses 17 KB).
void window_attention_forward_cuda(float *out, float *lse, uint32_t *mask, const float *qkv, int B, int T, int W,
                                   int d, int heads, bool causal, float p_drop, const DropoutKey *key, void *stream);
// out: the forward pass's output (D_i = dO_i . O_i comes from it).
void window_attention_backward_cuda(float *dqkv, const float *dout, const float *qkv, const float *out,
                                    const float *lse, const uint32_t *mask, int B, int T, int W, int d, int heads,
                                    bool causal, float p_drop, void *stream);

// ---------------------------------------------------------------------------------------------
// Pooling per window (layers_pool.cu)
// ---------------------------------------------------------------------------------------------
void pool_forward_cuda(float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d, PoolKind kind,
                       int ld_out, void *stream);
void pool_backward_cuda(float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d,
                        PoolKind kind, int ld_out, void *stream);
void window_broadcast_add_forward_cuda(float *out, const float *x, const float *y, const float *gamma, int N, int W,
                                       int d, void *stream);
void window_sum_cuda(float *out, const float *inp, int N, int W, int d, void *stream);

// ---------------------------------------------------------------------------------------------
// Losses (layers_loss.cu)
// ---------------------------------------------------------------------------------------------
// As crossentropy_forward_backward (double inside, one thread per row, the CPU's operation
// order): if dlogits != NULL ADDS grad_scale * d(row loss)/d(logits) for every used row.
// result (device, 2 doubles) receives {sum of the row losses, rows used}, summed in row order.
// row_scratch: 2*B doubles. The mixup loss is two calls, as model_loss makes them: labels as they
// are with grad_scale lambda/(denominator*T), then with perm and (1-lambda)/(denominator*T).
void crossentropy_forward_backward_cuda(float *dlogits, double *result, double *row_scratch, const float *logits,
                                        const int32_t *labels, const int32_t *perm, int B, int K, float smoothing,
                                        float grad_scale, void *stream);
// As mse_forward_backward (K = 1, NaN targets skipped); same result / row_scratch contract.
void mse_forward_backward_cuda(float *dpred, double *result, double *row_scratch, const float *pred,
                               const float *target, const int32_t *perm, int B, float grad_scale, void *stream);

// ---------------------------------------------------------------------------------------------
// Optimizer (optimizer.cu; the CPU twin is train/optimizer.c)
// ---------------------------------------------------------------------------------------------
// One AdamW update of n contiguous elements, torch's single-tensor formula with the bias
// corrections computed on the host in double exactly as adamw_update does (step is 1-based).
void adamw_update_cuda(float *param, const float *grad, float *m, float *v, size_t n, double lr, double b1,
                       double b2, double eps, double wd, long step, void *stream);
// Global-norm helpers, two-pass and deterministic (fixed chunks of the buffer, summed in order).
size_t grad_norm_cuda_scratch_doubles(size_t n);
// *sumsq (device double) = sum of grad^2 accumulated in double.
void grad_sum_squares_cuda(double *sumsq, const float *grad, size_t n, double *scratch, void *stream);
void grad_scale_cuda(float *grad, size_t n, float factor, void *stream);
// torch's clip_grad_norm_ without a host round trip: f = min(1, max_norm / (sqrt(*sumsq) + 1e-6))
// read on the device, grad *= f when f < 1.
void grad_clip_cuda(float *grad, size_t n, const double *sumsq, double max_norm, void *stream);

#ifdef __cplusplus
}
#endif
