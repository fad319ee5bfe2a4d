// layers_pool.cu: pooling of each window over its W token positions on the GPU, windows
// concatenated along the feature axis (spec §3.1 step 6; the CPU twin is layers_pool.c). One
// thread per output feature walks the window's positions in order, so the average is summed and
// the max (first maximum wins) is found exactly as on the CPU: bit-identical results.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

__global__ void pool_forward_kernel(float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d,
                                    PoolKind kind, int ld_out) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (b, c, k)
    if (idx >= (size_t)B * C * d) return;
    size_t bc = idx / d;
    int k = (int)(idx % d), b = (int)(bc / C), c = (int)(bc % C);
    const float *x = inp + bc * W * d + k;
    float *o = out + (size_t)b * ld_out + (size_t)c * d + k;
    if (kind == POOL_AVG) {
        float s = 0.0f;
        for (int w = 0; w < W; w++) s += x[(size_t)w * d];
        *o = s / (float)W;
    } else {
        float m = x[0];
        int32_t am = 0;
        for (int w = 1; w < W; w++)
            if (x[(size_t)w * d] > m) {
                m = x[(size_t)w * d];
                am = w;
            }
        *o = m;
        argmax[idx] = am;
    }
}

// POOL_NONE: row b of out holds the C*W*d values of sample b.
__global__ void pool_copy_kernel(float *out, const float *inp, int B, size_t per, int ld_out, bool backward) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * per) return;
    size_t b = idx / per, r = idx % per;
    if (backward)
        out[idx] = inp[b * (size_t)ld_out + r];
    else
        out[b * (size_t)ld_out + r] = inp[idx];
}

__global__ void pool_backward_kernel(float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d,
                                     PoolKind kind, int ld_out) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (b, c, w, k)
    if (idx >= (size_t)B * C * W * d) return;
    int k = (int)(idx % d);
    size_t bcw = idx / d;
    int w = (int)(bcw % W);
    size_t bc = bcw / W;
    int b = (int)(bc / C), c = (int)(bc % C);
    float g = dout[(size_t)b * ld_out + (size_t)c * d + k];
    if (kind == POOL_AVG)
        dinp[idx] = g * (1.0f / (float)W);
    else
        dinp[idx] = argmax[bc * d + k] == w ? g : 0.0f;
}

extern "C" void pool_forward_cuda(float *out, int32_t *argmax, const float *inp, int B, int C, int W, int d,
                                  PoolKind kind, int ld_out, void *stream) {
    if (kind == POOL_NONE) {
        size_t per = (size_t)C * W * d;
        if (B <= 0 || per == 0) return;
        pool_copy_kernel<<<cdiv((size_t)B * per, 256), 256, 0, STREAM(stream)>>>(out, inp, B, per, ld_out, false);
        CUDA_LAUNCH_CHECK("pool_copy_kernel");
        return;
    }
    if (kind == POOL_MAX && !argmax) eir_die("pool_forward_cuda: max pooling needs an argmax buffer");
    size_t n = (size_t)B * C * d;
    if (n == 0) return;
    pool_forward_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(out, argmax, inp, B, C, W, d, kind, ld_out);
    CUDA_LAUNCH_CHECK("pool_forward_kernel");
}

extern "C" void pool_backward_cuda(float *dinp, const float *dout, const int32_t *argmax, int B, int C, int W, int d,
                                   PoolKind kind, int ld_out, void *stream) {
    if (kind == POOL_NONE) {
        size_t per = (size_t)C * W * d;
        if (B <= 0 || per == 0) return;
        pool_copy_kernel<<<cdiv((size_t)B * per, 256), 256, 0, STREAM(stream)>>>(dinp, dout, B, per, ld_out, true);
        CUDA_LAUNCH_CHECK("pool_copy_kernel");
        return;
    }
    size_t n = (size_t)B * C * W * d;
    if (n == 0) return;
    pool_backward_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(dinp, dout, argmax, B, C, W, d, kind, ld_out);
    CUDA_LAUNCH_CHECK("pool_backward_kernel");
}

// The global stage's broadcast back into the windows and its backward's window sums (the CPU
// twins are in layers_pool.c; the sum walks the rows in order, as there).
__global__ void window_broadcast_add_kernel(float *out, const float *x, const float *y, const float *gamma, int N, int W,
                                            int d) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (n, w, k)
    if (idx >= (size_t)N * W * d) return;
    int k = (int)(idx % d);
    size_t n = idx / d / W;
    out[idx] = x[idx] + gamma[k] * y[n * d + k];
}

__global__ void window_sum_kernel(float *out, const float *inp, int N, int W, int d) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (n, k)
    if (idx >= (size_t)N * d) return;
    size_t n = idx / d;
    int k = (int)(idx % d);
    const float *x = inp + n * W * d + k;
    float s = 0.0f;
    for (int w = 0; w < W; w++) s += x[(size_t)w * d];
    out[idx] = s;
}

extern "C" void window_broadcast_add_forward_cuda(float *out, const float *x, const float *y, const float *gamma, int N,
                                                  int W, int d, void *stream) {
    size_t n = (size_t)N * W * d;
    if (n == 0) return;
    window_broadcast_add_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(out, x, y, gamma, N, W, d);
    CUDA_LAUNCH_CHECK("window_broadcast_add_kernel");
}

extern "C" void window_sum_cuda(float *out, const float *inp, int N, int W, int d, void *stream) {
    size_t n = (size_t)N * d;
    if (n == 0) return;
    window_sum_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(out, inp, N, W, d);
    CUDA_LAUNCH_CHECK("window_sum_kernel");
}
