// layers_norm.cu: RMSNorm (torch.nn.RMSNorm, spec §3.1) and the deterministic column sums that
// the parameter gradients of per-feature vectors need (norm weights, LayerScale, biases) on the
// GPU; the CPU twins are in layers_norm.c.
//
// Column sums without atomics: pass 1 sums fixed chunks of COLSUM_ROWS rows per column (inside a
// chunk: 8 interleaved row groups, then the 8 partials in order), pass 2 adds the chunk partials
// (16 interleaved chunk groups, then the 16 sums in order). The order depends only on (N, C), so every run and every GPU gives the same
// bits; it is not the CPU's row-by-row order, hence equal to the CPU's only to rounding.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

#define COLSUM_ROWS 256
#define COLSUM_GROUPS 8

extern "C" size_t colsum_cuda_scratch_floats(int N, int C) {
    return N > 0 && C > 0 ? (size_t)cdiv((size_t)N, COLSUM_ROWS) * (size_t)C : 0;
}

// grid (ceil(C/32), chunks), block (32, COLSUM_GROUPS)
__global__ void colsum_partial_kernel(float *partial, const float *a, const float *b, const float *rs, int N, int C) {
    __shared__ float part[COLSUM_GROUPS][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int r0 = blockIdx.y * COLSUM_ROWS;
    const int r1 = r0 + COLSUM_ROWS < N ? r0 + COLSUM_ROWS : N;
    float acc = 0.0f;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += COLSUM_GROUPS) {
            float x = a[(size_t)r * C + c];
            if (b) x *= b[(size_t)r * C + c];
            if (rs) x *= rs[r];
            acc += x;
        }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float s = part[0][threadIdx.x];
        for (int g = 1; g < COLSUM_GROUPS; g++) s += part[g][threadIdx.x];
        partial[(size_t)blockIdx.y * C + c] = s;
    }
}

// grid ceil(C/32), block (32, COLSUM_FINISH_GROUPS): group g adds chunks g, g + G, g + 2G, ... in
// order (four loads in flight), then the groups' sums are added in group order. At batch 256 of
// 1024 tokens a column has 1024 chunk partials: one thread per column would wait on each in turn.
#define COLSUM_FINISH_GROUPS 16
__global__ void colsum_finish_kernel(float *dst, const float *partial, int chunks, int C, float alpha) {
    __shared__ float part[COLSUM_FINISH_GROUPS][33];
    const int G = COLSUM_FINISH_GROUPS;
    const int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < C) {
        int k = threadIdx.y;
        for (; k + 3 * G < chunks; k += 4 * G) {
            float p0 = partial[(size_t)k * C + c], p1 = partial[(size_t)(k + G) * C + c];
            float p2 = partial[(size_t)(k + 2 * G) * C + c], p3 = partial[(size_t)(k + 3 * G) * C + c];
            s += p0;
            s += p1;
            s += p2;
            s += p3;
        }
        for (; k < chunks; k += G) s += partial[(size_t)k * C + c];
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = part[0][threadIdx.x];
        for (int g = 1; g < G; g++) t += part[g][threadIdx.x];
        dst[c] += alpha * t;
    }
}

void colsum_scaled_cuda(float *dst, const float *a, const float *b, const float *rs, int N, int C, float alpha,
                        float *scratch, cudaStream_t stream) {
    if (N <= 0 || C <= 0) return;
    if (!scratch) eir_die("colsum_cuda: no scratch (colsum_cuda_scratch_floats(%d, %d) floats needed)", N, C);
    int chunks = (int)cdiv((size_t)N, COLSUM_ROWS);
    if (chunks > 65535) eir_die("colsum_cuda: %d rows exceed %d", N, 65535 * COLSUM_ROWS);
    dim3 grid(cdiv((size_t)C, 32), (unsigned)chunks), block(32, COLSUM_GROUPS);
    colsum_partial_kernel<<<grid, block, 0, stream>>>(scratch, a, b, rs, N, C);
    CUDA_LAUNCH_CHECK("colsum_partial_kernel");
    colsum_finish_kernel<<<cdiv((size_t)C, 32), dim3(32, COLSUM_FINISH_GROUPS), 0, stream>>>(dst, scratch, chunks, C,
                                                                                          alpha);
    CUDA_LAUNCH_CHECK("colsum_finish_kernel");
}

extern "C" void colsum_add_cuda(float *dst, const float *a, const float *b, int N, int C, float alpha, float *scratch,
                                void *stream) {
    colsum_scaled_cuda(dst, a, b, NULL, N, C, alpha, scratch, STREAM(stream));
}

// ---- RMSNorm: one warp per row ----------------------------------------------------------------------
#define NORM_ROWS_PER_BLOCK 8

__global__ void rmsnorm_forward_kernel(float *out, float *rstd, const float *inp, const float *weight, int N, int C,
                                       float eps) {
    const int row = blockIdx.x * NORM_ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float ss = 0.0f;
    for (int c = lane; c < C; c += 32) ss += x[c] * x[c];
    ss = warp_sum(ss);
    float r = 1.0f / sqrtf(ss / (float)C + eps);  // IEEE sqrt and division, as the CPU's
    float *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = x[c] * r * weight[c];
    if (lane == 0) rstd[row] = r;
}

extern "C" void rmsnorm_forward_cuda(float *out, float *rstd, const float *inp, const float *weight, int N, int C,
                                     float eps, void *stream) {
    if (N <= 0 || C <= 0) return;
    rmsnorm_forward_kernel<<<cdiv((size_t)N, NORM_ROWS_PER_BLOCK), 32 * NORM_ROWS_PER_BLOCK, 0, STREAM(stream)>>>(
        out, rstd, inp, weight, N, C, eps);
    CUDA_LAUNCH_CHECK("rmsnorm_forward_kernel");
}

// dx += r * (g*w - x * r * m), m = r * mean(g*w*x)   (adds: the residual stream's gradient)
__global__ void rmsnorm_backward_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                        const float *rstd, int N, int C) {
    const int row = blockIdx.x * NORM_ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *g = dout + (size_t)row * C, *x = inp + (size_t)row * C;
    float dot = 0.0f;
    for (int c = lane; c < C; c += 32) dot += g[c] * weight[c] * x[c];
    dot = warp_sum(dot);
    const float r = rstd[row];
    const float m = dot * r / (float)C;
    float *dx = dinp + (size_t)row * C;
    for (int c = lane; c < C; c += 32) dx[c] += r * (g[c] * weight[c] - x[c] * r * m);
}

extern "C" void rmsnorm_backward_cuda(float *dinp, float *dweight, const float *dout, const float *inp,
                                      const float *weight, const float *rstd, int N, int C, float *scratch,
                                      void *stream) {
    if (N <= 0 || C <= 0) return;
    // dweight[c] += sum_r dout[r,c] * x[r,c] * rstd[r]  (= dout * xhat)
    if (dweight) colsum_scaled_cuda(dweight, dout, inp, rstd, N, C, 1.0f, scratch, STREAM(stream));
    rmsnorm_backward_kernel<<<cdiv((size_t)N, NORM_ROWS_PER_BLOCK), 32 * NORM_ROWS_PER_BLOCK, 0, STREAM(stream)>>>(
        dinp, dout, inp, weight, rstd, N, C);
    CUDA_LAUNCH_CHECK("rmsnorm_backward_kernel");
}
