// layers_act.cu: elementwise layers on the GPU: LayerScale + residual add (+ stochastic-depth
// scale), the SwiGLU gate of the transformer FFN, exact (erf) GELU of the MLP blocks. The CPU
// twins are in layers_act.c; SwiGLU uses the same sigmoid_approx polynomial (cuda_common.h).
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

#define EW_THREADS 256

__global__ void layerscale_residual_forward_kernel(float *out, const float *x, const float *y, const float *gamma,
                                                   float s, size_t n, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    float v = s * (gamma[idx % C] * y[idx]);
    out[idx] = x ? x[idx] + v : v;
}

extern "C" void layerscale_residual_forward_cuda(float *out, const float *x, const float *y, const float *gamma,
                                                 float scale, int N, int C, void *stream) {
    size_t n = (size_t)N * C;
    if (n == 0) return;
    layerscale_residual_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, x, y, gamma,
                                                                                               scale, n, C);
    CUDA_LAUNCH_CHECK("layerscale_residual_forward_kernel");
}

__global__ void layerscale_residual_backward_kernel(float *dy, const float *dout, const float *gamma, float s,
                                                    size_t n, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n) return;
    dy[idx] = s * gamma[idx % C] * dout[idx];
}

extern "C" void layerscale_residual_backward_cuda(float *dy, float *dgamma, const float *dout, const float *y,
                                                  const float *gamma, float scale, int N, int C, float *scratch,
                                                  void *stream) {
    size_t n = (size_t)N * C;
    if (n == 0) return;
    // dgamma first (reads dout), then dy: dy may alias dout, as on the CPU
    if (dgamma) colsum_scaled_cuda(dgamma, dout, y, NULL, N, C, scale, scratch, STREAM(stream));
    layerscale_residual_backward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dy, dout, gamma,
                                                                                                scale, n, C);
    CUDA_LAUNCH_CHECK("layerscale_residual_backward_kernel");
}

// h rows are [a (F) | b (F)]: out = SiLU(a) * b
__global__ void swiglu_forward_kernel(float *out, const float *h, int N, int F) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * F) return;
    size_t n = idx / F, j = idx % F;
    const float *hr = h + n * 2 * (size_t)F;
    float a = hr[j], b = hr[F + j];
    out[idx] = a * sigmoid_approx_dev(a) * b;
}

__global__ void swiglu_backward_kernel(float *dh, const float *dout, const float *h, int N, int F) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * F) return;
    size_t n = idx / F, j = idx % F;
    const float *hr = h + n * 2 * (size_t)F;
    float *dr = dh + n * 2 * (size_t)F;
    float a = hr[j], b = hr[F + j], g = dout[idx];
    float s = sigmoid_approx_dev(a);
    float silu = a * s;
    dr[F + j] = g * silu;
    dr[j] = g * b * (s * (1.0f + a * (1.0f - s)));
}

extern "C" void swiglu_forward_cuda(float *out, const float *h, int N, int F, void *stream) {
    size_t n = (size_t)N * F;
    if (n == 0) return;
    swiglu_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, h, N, F);
    CUDA_LAUNCH_CHECK("swiglu_forward_kernel");
}

extern "C" void swiglu_backward_cuda(float *dh, const float *dout, const float *h, int N, int F, void *stream) {
    size_t n = (size_t)N * F;
    if (n == 0) return;
    swiglu_backward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dh, dout, h, N, F);
    CUDA_LAUNCH_CHECK("swiglu_backward_kernel");
}

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

__global__ void gelu_backward_kernel(float *dinp, const float *dout, const float *inp, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float inv_sqrt_2pi = 0.3989422804014327f;
    float x = inp[i];
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    float pdf = expf(-0.5f * x * x) * inv_sqrt_2pi;
    dinp[i] = dout[i] * (cdf + x * pdf);
}

extern "C" void gelu_forward_cuda(float *out, const float *inp, size_t n, void *stream) {
    if (n == 0) return;
    gelu_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, inp, n);
    CUDA_LAUNCH_CHECK("gelu_forward_kernel");
}

extern "C" void gelu_backward_cuda(float *dinp, const float *dout, const float *inp, size_t n, void *stream) {
    if (n == 0) return;
    gelu_backward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dinp, dout, inp, n);
    CUDA_LAUNCH_CHECK("gelu_backward_kernel");
}

__global__ void add_inplace_kernel(float *dst, const float *src, size_t n) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < n) dst[idx] += src[idx];
}
extern "C" void add_inplace_cuda(float *dst, const float *src, size_t n, void *stream) {
    if (n == 0) return;
    add_inplace_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dst, src, n);
    CUDA_LAUNCH_CHECK("add_inplace_kernel");
}
