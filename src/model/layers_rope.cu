// layers_rope.cu: interleaved rotary position embedding on queries and keys on the GPU, positions
// 0..W-1 restarting in every window (spec §3.1 step 5; the CPU twin is layers_rope.c). One thread
// per rotated pair, in place.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

// sign = +1: rotate by +angle (forward); -1: by -angle (the transpose, for the gradient).
__global__ void rope_kernel(float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t,
                            const float *sin_t, float sign) {
    const int half = dh / 2;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t per_row = (size_t)n_heads * half;
    if (idx >= (size_t)N * per_row) return;
    size_t r = idx / per_row, rem = idx % per_row;
    int h = (int)(rem / half), i = (int)(rem % half), p = (int)(r % W);
    float *v = x + r * ld + (size_t)h * dh;
    float x0 = v[2 * i], x1 = v[2 * i + 1];
    float cs = cos_t[(size_t)p * half + i], sn = sign * sin_t[(size_t)p * half + i];
    v[2 * i] = x0 * cs - x1 * sn;
    v[2 * i + 1] = x1 * cs + x0 * sn;
}

static void rope_launch(float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t, const float *sin_t,
                        float sign, void *stream) {
    size_t n = (size_t)N * n_heads * (dh / 2);
    if (n == 0) return;
    rope_kernel<<<cdiv(n, 256), 256, 0, STREAM(stream)>>>(x, N, ld, W, n_heads, dh, cos_t, sin_t, sign);
    CUDA_LAUNCH_CHECK("rope_kernel");
}

extern "C" void rope_forward_cuda(float *x, int N, int ld, int W, int n_heads, int dh, const float *cos_t,
                                  const float *sin_t, void *stream) {
    rope_launch(x, N, ld, W, n_heads, dh, cos_t, sin_t, 1.0f, stream);
}

extern "C" void rope_backward_cuda(float *dx, int N, int ld, int W, int n_heads, int dh, const float *cos_t,
                                   const float *sin_t, void *stream) {
    rope_launch(dx, N, ld, W, n_heads, dh, cos_t, sin_t, -1.0f, stream);
}
