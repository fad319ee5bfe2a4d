// optimizer.cu: AdamW and global-norm gradient clipping on the GPU (spec §4.3), the twins of
// train/optimizer.c over the same flat buffers.
// - AdamW is elementwise; its operations are spelled with the _rn intrinsics in the CPU's order
//   (no fma contraction, IEEE sqrt and division), so the update is bit-identical to the CPU's.
// - The squared norm is a two-pass reduction in double: fixed chunks of NORM_CHUNK elements, each
//   reduced by one block in a fixed tree, then the chunk sums by one block in a fixed tree. The
//   order depends only on n: deterministic on any GPU (not the CPU's order; equal to ~1e-15).
#include <math.h>

#include "model/cuda_common.h"
#include "model/layers_cuda.h"

#define NORM_THREADS 256
#define NORM_PER_THREAD 32
#define NORM_CHUNK (NORM_THREADS * NORM_PER_THREAD)

__global__ void adamw_kernel(float *param, const float *grad, float *m, float *v, size_t n, float b1, float b2,
                             float one_minus_b1, float one_minus_b2, float step_size, float bc2_sqrt, float decay,
                             float eps) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grad[i];
    float p = __fmul_rn(param[i], decay);
    float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(one_minus_b1, g));
    float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(one_minus_b2, g), g));
    m[i] = mi;
    v[i] = vi;
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
    param[i] = __fsub_rn(p, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
}

extern "C" void adamw_update_cuda(float *param, const float *grad, float *m, float *v, size_t n, double lr, double b1,
                                  double b2, double eps, double wd, long step, void *stream) {
    if (n == 0) return;
    // host-side constants exactly as adamw_update computes them
    const float b1f = (float)b1, b2f = (float)b2;
    const double bc1 = 1.0 - pow(b1, (double)step);
    const double bc2 = 1.0 - pow(b2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - lr * wd);
    adamw_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(param, grad, m, v, n, b1f, b2f, 1.0f - b1f, 1.0f - b2f,
                                                           step_size, bc2_sqrt, decay, (float)eps);
    CUDA_LAUNCH_CHECK("adamw_kernel");
}

// Fixed-shape tree over NORM_THREADS values in shared memory; thread 0 returns the sum.
__device__ double block_sum_d(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = NORM_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

__global__ void __launch_bounds__(NORM_THREADS) sumsq_partial_kernel(double *partial, const float *grad, size_t n) {
    __shared__ double sh[NORM_THREADS];
    size_t lo = (size_t)blockIdx.x * NORM_CHUNK;
    double s = 0.0;
    for (int k = 0; k < NORM_PER_THREAD; k++) {
        size_t i = lo + (size_t)k * NORM_THREADS + threadIdx.x;  // coalesced
        if (i < n) s += (double)grad[i] * grad[i];
    }
    double t = block_sum_d(s, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

__global__ void __launch_bounds__(NORM_THREADS) sumsq_finish_kernel(double *sumsq, const double *partial, size_t np) {
    __shared__ double sh[NORM_THREADS];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < np; i += NORM_THREADS) s += partial[i];
    double t = block_sum_d(s, sh);
    if (threadIdx.x == 0) *sumsq = t;
}

extern "C" size_t grad_norm_cuda_scratch_doubles(size_t n) { return n ? cdiv(n, NORM_CHUNK) : 1; }

extern "C" void grad_sum_squares_cuda(double *sumsq, const float *grad, size_t n, double *scratch, void *stream) {
    size_t np = n ? cdiv(n, NORM_CHUNK) : 0;
    if (np) {
        if (!scratch) eir_die("grad_sum_squares_cuda: no scratch (grad_norm_cuda_scratch_doubles(%zu))", n);
        if (np > 0x7FFFFFFFu) eir_die("grad_sum_squares_cuda: %zu elements are too many", n);
        sumsq_partial_kernel<<<(unsigned)np, NORM_THREADS, 0, STREAM(stream)>>>(scratch, grad, n);
        CUDA_LAUNCH_CHECK("sumsq_partial_kernel");
    }
    sumsq_finish_kernel<<<1, NORM_THREADS, 0, STREAM(stream)>>>(sumsq, scratch, np);
    CUDA_LAUNCH_CHECK("sumsq_finish_kernel");
}

__global__ void grad_scale_kernel(float *grad, size_t n, float factor) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) grad[i] *= factor;
}

extern "C" void grad_scale_cuda(float *grad, size_t n, float factor, void *stream) {
    if (n == 0) return;
    grad_scale_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(grad, n, factor);
    CUDA_LAUNCH_CHECK("grad_scale_kernel");
}

// grad_clip_factor (train/optimizer.c) evaluated on the device, so the step needs no host sync.
__global__ void grad_clip_kernel(float *grad, size_t n, const double *sumsq, double max_norm) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double f = max_norm / (sqrt(*sumsq) + 1e-6);
    if (f < 1.0) grad[i] *= (float)f;
}

extern "C" void grad_clip_cuda(float *grad, size_t n, const double *sumsq, double max_norm, void *stream) {
    if (n == 0 || !(max_norm > 0)) return;
    grad_clip_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(grad, n, sumsq, max_norm);
    CUDA_LAUNCH_CHECK("grad_clip_kernel");
}
