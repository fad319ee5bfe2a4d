// layers_embed.cu: token embedding, mixup of embeddings, sqrt(d) scale + position, window
// padding on the GPU (spec §3.1 steps 1-4, §4.2; the CPU twins are in layers_embed.c).
// Memory-bound elementwise kernels. Where the CPU loop is plain C (no fma contraction under
// -std=c11), the products and sums are spelled with __fmul_rn/__fadd_rn so that nvcc does not
// fuse them either: those results are bit-identical to the CPU's.
#include "model/cuda_common.h"
#include "model/layers_cuda.h"

#define EW_THREADS 256

// ---- embedding ---------------------------------------------------------------------------------
__global__ void embedding_forward_kernel(float *out, const int32_t *tokens, const float *table, int N, int V, int d) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * d) return;
    size_t n = idx / d, k = idx % d;
    int t = tokens[n];
    out[idx] = (t >= 0 && t < V) ? table[(size_t)t * d + k] : __int_as_float(0x7FC00000);  // NaN marks a bad token
}

extern "C" void embedding_forward_cuda(float *out, const int32_t *tokens, const float *table, int N, int V, int d,
                                       void *stream) {
    size_t n = (size_t)N * d;
    if (n == 0) return;
    embedding_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, tokens, table, N, V, d);
    CUDA_LAUNCH_CHECK("embedding_forward_kernel");
}

// Deterministic scatter-add without atomics, whatever the token distribution. Text is skewed (a
// space can be 15% of all bytes), so a warp that owns a table row and adds its tokens' gradient
// rows one dependent load at a time would take tens of ms per step on one row: instead,
// - pass 1: a block takes a chunk of EMB_CHUNK tokens and a slice of 32 features; each lane owns
//   one feature column of a V x 32 table in shared memory (no two threads touch a word, so no
//   barriers), adds the chunk's gradient rows into it in token order, loading EMB_UNROLL rows
//   before adding them, and writes the table to the chunk's partial;
// - pass 2: each (v, k) is dtable + the chunk partials in chunk order.
// The order depends on N alone: the same bits on every run and GPU, equal to the CPU's
// token-order sums to fp32 rounding. Vocabularies above EMB_MAX_V (the table would not fit the
// default 48 KB of shared memory) take embedding_backward_rows_kernel below.
#define EMB_CHUNK 512
#define EMB_UNROLL 16
#define EMB_SLICE 32
#define EMB_MAX_V (48 * 1024 / (EMB_SLICE * (int)sizeof(float)))  // 384: bytes (~260) fit

extern "C" size_t embedding_backward_cuda_scratch_floats(int N, int V, int d) {
    if (N <= 0 || V <= 0 || d <= 0 || V > EMB_MAX_V) return 0;
    return cdiv((size_t)N, EMB_CHUNK) * (size_t)V * (size_t)d;
}

// grid (chunks, ceil(d / 32)), block 32, V * 32 floats of dynamic shared memory
__global__ void __launch_bounds__(EMB_SLICE)
    embedding_backward_partial_kernel(float *partial, const float *dout, const int32_t *tokens, int N, int V, int d) {
    extern __shared__ float4 smem4[];
    float *part = reinterpret_cast<float *>(smem4);
    const int lane = threadIdx.x, k = blockIdx.y * EMB_SLICE + lane;
    const int n0 = blockIdx.x * EMB_CHUNK, n1 = N - n0 < EMB_CHUNK ? N : n0 + EMB_CHUNK;
    for (int v = 0; v < V; v++) part[v * EMB_SLICE + lane] = 0.0f;
    for (int n = n0; n < n1; n += EMB_UNROLL) {
        int tk[EMB_UNROLL];
        float gv[EMB_UNROLL];
#pragma unroll
        for (int u = 0; u < EMB_UNROLL; u++) {
            const int m = n + u;
            tk[u] = m < n1 ? tokens[m] : -1;
            gv[u] = m < n1 && k < d ? dout[(size_t)m * d + k] : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < EMB_UNROLL; u++)
            if ((unsigned)tk[u] < (unsigned)V) part[tk[u] * EMB_SLICE + lane] = __fadd_rn(part[tk[u] * EMB_SLICE + lane], gv[u]);
    }
    if (k < d)
        for (int v = 0; v < V; v++) partial[((size_t)blockIdx.x * V + v) * d + k] = part[v * EMB_SLICE + lane];
}

__global__ void embedding_backward_finish_kernel(float *dtable, const float *partial, int chunks, size_t Vd) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= Vd) return;
    float s = dtable[i];
    int c = 0;
    for (; c + 8 <= chunks; c += 8) {  // eight loads in flight, then the adds in chunk order
        float p[8];
#pragma unroll
        for (int u = 0; u < 8; u++) p[u] = partial[(size_t)(c + u) * Vd + i];
#pragma unroll
        for (int u = 0; u < 8; u++) s = __fadd_rn(s, p[u]);
    }
    for (; c < chunks; c++) s = __fadd_rn(s, partial[(size_t)c * Vd + i]);
    dtable[i] = s;
}

// Large vocabularies: a warp owns one table row v and 32 of its features; the block's 8 warps share
// tiles of tokens staged in shared memory, and each warp finds its row's tokens with a ballot per
// 32 tokens, adding them in token order (the CPU's order exactly). Fast for spread-out tokens,
// slow for a very frequent one.
#define EMB_ROWS_PER_BLOCK 8
#define EMB_TILE 2048

__global__ void __launch_bounds__(32 * EMB_ROWS_PER_BLOCK)
    embedding_backward_rows_kernel(float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d) {
    __shared__ int32_t tile[EMB_TILE];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int v = blockIdx.x * EMB_ROWS_PER_BLOCK + warp;
    const int k = blockIdx.y * 32 + lane;
    const bool active = v < V && k < d;
    float acc = active ? dtable[(size_t)v * d + k] : 0.0f;
    for (int t0 = 0; t0 < N; t0 += EMB_TILE) {
        int nt = N - t0 < EMB_TILE ? N - t0 : EMB_TILE;
        for (int i = threadIdx.x; i < nt; i += blockDim.x) tile[i] = tokens[t0 + i];
        __syncthreads();
        for (int base = 0; base < nt; base += 32) {
            int tok = base + lane < nt ? tile[base + lane] : -1;
            uint32_t hits = __ballot_sync(0xFFFFFFFFu, tok == v);
            while (hits) {
                int bit = __ffs((int)hits) - 1;
                hits &= hits - 1;
                if (active) acc = __fadd_rn(acc, dout[(size_t)(t0 + base + bit) * d + k]);
            }
        }
        __syncthreads();
    }
    if (active) dtable[(size_t)v * d + k] = acc;
}

extern "C" void embedding_backward_cuda(float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d,
                                        float *scratch, void *stream) {
    if (N <= 0 || V <= 0 || d <= 0) return;
    if (V > EMB_MAX_V) {
        dim3 grid(cdiv((size_t)V, EMB_ROWS_PER_BLOCK), cdiv((size_t)d, 32));
        embedding_backward_rows_kernel<<<grid, 32 * EMB_ROWS_PER_BLOCK, 0, STREAM(stream)>>>(dtable, dout, tokens, N,
                                                                                             V, d);
        CUDA_LAUNCH_CHECK("embedding_backward_rows_kernel");
        return;
    }
    if (!scratch)
        eir_die("embedding_backward_cuda: no scratch (embedding_backward_cuda_scratch_floats(%d, %d, %d) floats needed)",
                N, V, d);
    const size_t chunks = cdiv((size_t)N, EMB_CHUNK), Vd = (size_t)V * d;
    dim3 grid((unsigned)chunks, cdiv((size_t)d, EMB_SLICE));
    embedding_backward_partial_kernel<<<grid, EMB_SLICE, (size_t)V * EMB_SLICE * sizeof(float), STREAM(stream)>>>(
        scratch, dout, tokens, N, V, d);
    CUDA_LAUNCH_CHECK("embedding_backward_partial_kernel");
    embedding_backward_finish_kernel<<<cdiv(Vd, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dtable, scratch,
                                                                                             (int)chunks, Vd);
    CUDA_LAUNCH_CHECK("embedding_backward_finish_kernel");
}

// ---- mixup ---------------------------------------------------------------------------------------
__global__ void mixup_forward_kernel(float *out, const float *inp, const int32_t *perm, float lambda, float mu, int B,
                                     size_t D) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * D) return;
    size_t b = idx / D, i = idx % D;
    out[idx] = __fadd_rn(__fmul_rn(lambda, inp[idx]), __fmul_rn(mu, inp[(size_t)perm[b] * D + i]));
}

extern "C" void mixup_forward_cuda(float *out, const float *inp, const int32_t *perm, float lambda, int B, size_t D,
                                   void *stream) {
    size_t n = (size_t)B * D;
    if (n == 0) return;
    mixup_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, inp, perm, lambda,
                                                                                  1.0f - lambda, B, D);
    CUDA_LAUNCH_CHECK("mixup_forward_kernel");
}

// One thread per element index i walks the rows in the CPU's order: first lambda*dout[b] for
// every b, then += (1-lambda)*dout[b'] into row perm[b'] for b' ascending. Threads own disjoint
// columns, so any perm (even one that is not a permutation) is race-free.
__global__ void mixup_backward_kernel(float *dinp, const float *dout, const int32_t *perm, float lambda, float mu,
                                      int B, size_t D) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= D) return;
    for (int b = 0; b < B; b++) dinp[(size_t)b * D + i] = __fmul_rn(lambda, dout[(size_t)b * D + i]);
    for (int b = 0; b < B; b++) {
        float *g = dinp + (size_t)perm[b] * D + i;
        *g = __fadd_rn(*g, __fmul_rn(mu, dout[(size_t)b * D + i]));
    }
}

extern "C" void mixup_backward_cuda(float *dinp, const float *dout, const int32_t *perm, float lambda, int B,
                                    size_t D, void *stream) {
    if (B <= 0 || D == 0) return;
    mixup_backward_kernel<<<cdiv(D, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dinp, dout, perm, lambda,
                                                                                   1.0f - lambda, B, D);
    CUDA_LAUNCH_CHECK("mixup_backward_kernel");
}

// ---- sqrt(d) scale + position ----------------------------------------------------------------------
__global__ void embed_position_forward_kernel(float *out, const float *emb, const float *pos, size_t BD, size_t D,
                                              float scale) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= BD) return;
    float s = __fmul_rn(scale, emb[idx]);
    out[idx] = pos ? __fadd_rn(s, pos[idx % D]) : s;
}

extern "C" void embed_position_forward_cuda(float *out, const float *emb, const float *pos, int B, int L, int d,
                                            float scale, void *stream) {
    size_t D = (size_t)L * d, n = (size_t)B * D;
    if (n == 0) return;
    embed_position_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, emb, pos, n, D, scale);
    CUDA_LAUNCH_CHECK("embed_position_forward_kernel");
}

// One thread per position element: dpos[i] += dout[0][i] + dout[1][i] + ... in batch order (the
// CPU's), and demb = scale*dout, each element read before it is written (demb may alias dout).
__global__ void embed_position_backward_kernel(float *demb, float *dpos, const float *dout, int B, size_t D,
                                               float scale) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= D) return;
    float acc = dpos ? dpos[i] : 0.0f;
    for (int b = 0; b < B; b++) {
        float g = dout[(size_t)b * D + i];
        acc = __fadd_rn(acc, g);
        demb[(size_t)b * D + i] = __fmul_rn(scale, g);
    }
    if (dpos) dpos[i] = acc;
}

extern "C" void embed_position_backward_cuda(float *demb, float *dpos, const float *dout, int B, int L, int d,
                                             float scale, void *stream) {
    size_t D = (size_t)L * d;
    if (B <= 0 || D == 0) return;
    embed_position_backward_kernel<<<cdiv(D, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(demb, dpos, dout, B, D,
                                                                                           scale);
    CUDA_LAUNCH_CHECK("embed_position_backward_kernel");
}

// ---- front padding into windows ----------------------------------------------------------------------
__global__ void window_pad_forward_kernel(float *out, const float *inp, int B, int L, int Lp, int d) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t per = (size_t)Lp * d;
    if (idx >= (size_t)B * per) return;
    size_t b = idx / per, r = idx % per, pad = (size_t)(Lp - L) * d;
    out[idx] = r < pad ? 0.0f : inp[b * (size_t)L * d + (r - pad)];
}

__global__ void window_pad_backward_kernel(float *dinp, const float *dout, int B, int L, int Lp, int d) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t per = (size_t)L * d;
    if (idx >= (size_t)B * per) return;
    size_t b = idx / per, r = idx % per, pad = (size_t)(Lp - L) * d;
    dinp[idx] = dout[b * (size_t)Lp * d + pad + r];
}

extern "C" void window_pad_forward_cuda(float *out, const float *inp, int B, int L, int Lp, int d, void *stream) {
    size_t n = (size_t)B * Lp * d;
    if (n == 0) return;
    window_pad_forward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(out, inp, B, L, Lp, d);
    CUDA_LAUNCH_CHECK("window_pad_forward_kernel");
}

extern "C" void window_pad_backward_cuda(float *dinp, const float *dout, int B, int L, int Lp, int d, void *stream) {
    size_t n = (size_t)B * L * d;
    if (n == 0) return;
    window_pad_backward_kernel<<<cdiv(n, EW_THREADS), EW_THREADS, 0, STREAM(stream)>>>(dinp, dout, B, L, Lp, d);
    CUDA_LAUNCH_CHECK("window_pad_backward_kernel");
}
