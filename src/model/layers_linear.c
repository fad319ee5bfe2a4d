// layers_linear.c: nn.Linear over all rows at once with OpenBLAS sgemm (row-major; the weight is
// PyTorch's (out, in) layout, so the forward is inp @ W^T).
//
// Threads: the model uses ONE pool, OpenMP's. OpenBLAS runs single-threaded (set here before
// every call) and each OpenMP thread multiplies its own block of rows; the pthread pool of
// OpenBLAS spinning next to OpenMP's cost ~20% on two cores.
#include <cblas.h>
#include <string.h>

#include "common/util.h"
#include "model/layers.h"
#include "model/layers_gemm.h"
#include "model/simd.h"

void openblas_set_num_threads(int num_threads);  // OpenBLAS extension (declared by its cblas.h too)

// Work below this many multiply-adds stays on one thread.
#define LINEAR_PAR_MIN (1L << 20)
// Fixed block sizes: the same sgemm calls happen whatever the thread count, so results are
// bit-identical with 1 or n threads (OpenBLAS rounds differently for other shapes).
#define ROW_BLOCK 1024   // rows of inp / dout per forward and input-gradient call
#define GRAD_CHUNK 8192  // rows summed per weight-gradient call
#define SUB_BLOCK 256    // rows per forward call (see linear_forward)

static bool go_parallel(long work) {
    openblas_set_num_threads(1);
    return work >= LINEAR_PAR_MIN;
}

size_t linear_backward_scratch_floats(int N, int in, int out_dim) {
    int chunks = (N + GRAD_CHUNK - 1) / GRAD_CHUNK;
    return chunks > 1 ? (size_t)chunks * in * out_dim : 0;
}

// The row block of one sgemm call (see linear_forward).
static int call_rows(int N, int block) {
    if (block < 1 || N % block != 0) eir_die("linear_forward: %d rows are not a multiple of the block of %d", N, block);
    // Calls of at most SUB_BLOCK rows where the block halves evenly: a batch of one sample still
    // splits over the threads, and a call's output stays in L2 for the op that reads it next. The
    // split depends on the block alone, so a sample's rows go through the same calls in any batch.
    while (block > SUB_BLOCK && block % 2 == 0) block /= 2;
    return block;
}

static void forward_call(float *out, const float *inp, const float *weight, const float *bias, int lo, int rows,
                         int in, int out_dim) {
    float beta = 0.0f;
    if (bias) {
        for (int n = lo; n < lo + rows; n++) memcpy(out + (size_t)n * out_dim, bias, (size_t)out_dim * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in, 1.0f, inp + (size_t)lo * in, in, weight, in,
                beta, out + (size_t)lo * out_dim, out_dim);
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int in, int out_dim,
                    int block) {
    if (N <= 0) return;
    block = call_rows(N, block);
    int nblk = N / block;
#pragma omp parallel for schedule(static) if (go_parallel((long)N * in * out_dim) && nblk > 1)
    for (int k = 0; k < nblk; k++) forward_call(out, inp, weight, bias, k * block, block, in, out_dim);
}

void linear_swiglu_forward(float *out, float *h, const float *inp, const float *w12, int N, int in, int F, int block) {
    if (N <= 0) return;
    block = call_rows(N, block);
    int nblk = N / block;
#pragma omp parallel for schedule(static) if (go_parallel((long)N * in * 2 * F) && nblk > 1)
    for (int k = 0; k < nblk; k++) {
        forward_call(h, inp, w12, NULL, k * block, block, in, 2 * F);
        swiglu_forward_rows(out + (size_t)k * block * F, h + (size_t)k * block * 2 * F, block, F);
    }
}

// The packed-panel product (layers_gemm.c) where it applies: no bias, out_dim a multiple of the
// panel width, enough rows to pay for packing the weight (the transformer layers: >= one
// sample's padded length), and a pack buffer that holds it. Returns the panel width, 0 if not.
#define PACKED_MIN_ROWS 128
static int packed_width(const float *bias, int N, int in, int out_dim, size_t pack_floats) {
    if (bias || N < PACKED_MIN_ROWS || gemm_pack_floats(in, out_dim) > pack_floats) return 0;
    int nc = gemm_panel_width();
    return nc && out_dim % nc == 0 ? nc : 0;
}

// out = inp @ weight^T in blocks of call_rows(N, block) rows over the threads, after every thread
// packed its share of the weight's panels; g != NULL: out = h (N, 2F) of the fused W1/W2 and its
// SwiGLU gate into g (N, F), computed on the product's registers (keep_out false: h not stored).
static void packed_forward(float *out, bool keep_out, float *g, int F, const float *inp, const float *weight, int N, int in,
                           int out_dim, int block, float *pack, int nc) {
    block = call_rows(N, block);
    int nblk = N / block, np = out_dim / nc;
#pragma omp parallel if (go_parallel((long)N * in * out_dim) && nblk > 1)
    {
#pragma omp for schedule(static)
        for (int p = 0; p < np; p++) {
            if (g)
                gemm_pack_swiglu_panels(pack, weight, in, F, nc, p, p + 1);
            else
                gemm_pack_panels(pack, weight, in, nc, p, p + 1);
        }
#pragma omp for schedule(static)
        for (int k = 0; k < nblk; k++) {
            size_t lo = (size_t)k * block;
            if (g)
                gemm_packed_swiglu_rows(keep_out ? out + lo * out_dim : NULL, g + lo * F, inp + lo * in, pack, block, in, F);
            else
                gemm_packed_rows(out + lo * out_dim, inp + lo * in, pack, block, in, out_dim);
        }
    }
}

void linear_forward_packed(float *out, const float *inp, const float *weight, const float *bias, int N, int in,
                           int out_dim, int block, float *pack, size_t pack_floats) {
    int nc = packed_width(bias, N, in, out_dim, pack_floats);
    if (!nc) {
        linear_forward(out, inp, weight, bias, N, in, out_dim, block);
        return;
    }
    packed_forward(out, true, NULL, 0, inp, weight, N, in, out_dim, block, pack, nc);
}

void linear_swiglu_forward_packed(float *out, float *h, bool keep_h, const float *inp, const float *w12, int N, int in,
                                  int F, int block, float *pack, size_t pack_floats) {
    int nc = packed_width(NULL, N, in, 2 * F, pack_floats);
    if (!nc) {
        linear_swiglu_forward(out, h, inp, w12, N, in, F, block);
        return;
    }
    packed_forward(h, keep_h, out, F, inp, w12, N, in, 2 * F, block, pack, nc);
}

// The input gradient dout (N, K) @ M (K, n) from the packed product, M packed as it is, in
// SUB_BLOCK-row blocks over the threads: into dinp (N, n), or with h != NULL (M = w3, n = F)
// through the SwiGLU gate's backward into dh (N, 2F).
static void packed_input_grad(float *dinp, float *dh, const float *h, const float *dout, const float *M, int N, int K,
                              int n, float *pack, int nc) {
    int nblk = (N + SUB_BLOCK - 1) / SUB_BLOCK, np = n / nc;
#pragma omp parallel if (go_parallel((long)N * n * K) && nblk > 1)
    {
#pragma omp for schedule(static)
        for (int p = 0; p < np; p++) gemm_pack_nn_panels(pack, M, K, n, nc, p, p + 1);
#pragma omp for schedule(static)
        for (int k = 0; k < nblk; k++) {
            size_t lo = (size_t)k * SUB_BLOCK;
            int rows = N - (int)lo < SUB_BLOCK ? N - (int)lo : SUB_BLOCK;
            if (h)
                gemm_swiglu_bwd_rows(dh + lo * 2 * n, h + lo * 2 * n, dout + lo * K, pack, rows, K, n);
            else
                gemm_packed_rows(dinp + lo * n, dout + lo * K, pack, rows, K, n);
        }
    }
}

void linear_backward_packed(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int N, int in, int out_dim, bool accumulate_dinp, float *scratch,
                            float *pack, size_t pack_floats) {
    // dinp (N, in) = dout (N, out_dim) @ weight (out_dim, in): K = out_dim, in outputs
    int nc = dinp && !accumulate_dinp ? packed_width(NULL, N, out_dim, in, pack_floats) : 0;
    if (!nc) {
        linear_backward(dinp, dweight, dbias, dout, inp, weight, N, in, out_dim, accumulate_dinp, scratch);
        return;
    }
    linear_backward(NULL, dweight, dbias, dout, inp, weight, N, in, out_dim, false, scratch);
    packed_input_grad(dinp, NULL, NULL, dout, weight, N, out_dim, in, pack, nc);
}

void linear_swiglu_backward_packed(float *dh, float *dw3, const float *dout, const float *g, const float *h,
                                   const float *w3, int N, int F, int d, float *dg, float *pack, size_t pack_floats,
                                   float *scratch) {
    int nc = packed_width(NULL, N, d, F, pack_floats);  // the product dg (N, F) = dout (N, d) @ w3 (d, F)
    if (!nc) {
        linear_backward(dg, dw3, NULL, dout, g, w3, N, F, d, false, scratch);
        swiglu_backward(dh, dg, h, N, F);
        return;
    }
    linear_backward(NULL, dw3, NULL, dout, g, w3, N, F, d, false, scratch);
    packed_input_grad(NULL, dh, h, dout, w3, N, d, F, pack, nc);
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int in, int out_dim, bool accumulate_dinp, float *scratch) {
    if (N <= 0) return;
    bool par = go_parallel((long)N * in * out_dim);
    if (dinp) {  // (N, in) = dout (N, out) @ W (out, in), in blocks of rows
        int nblk = (N + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel for schedule(static) if (par)
        for (int k = 0; k < nblk; k++) {
            int lo = k * ROW_BLOCK, hi = lo + ROW_BLOCK < N ? lo + ROW_BLOCK : N;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, in, out_dim, 1.0f, dout + (size_t)lo * out_dim,
                        out_dim, weight, in, accumulate_dinp ? 1.0f : 0.0f, dinp + (size_t)lo * in, in);
        }
    }
    // dweight (out, in) += dout^T (out, N) @ inp (N, in). Several chunks of rows: each chunk's
    // product goes to its own scratch slice, then the slices are added in chunk order.
    int chunks = (N + GRAD_CHUNK - 1) / GRAD_CHUNK;
    size_t wn = (size_t)in * out_dim;
    if (chunks == 1) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in, N, 1.0f, dout, out_dim, inp, in, 1.0f, dweight,
                    in);
    } else {
#pragma omp parallel for schedule(static) if (par)
        for (int c = 0; c < chunks; c++) {
            int lo = c * GRAD_CHUNK, hi = lo + GRAD_CHUNK < N ? lo + GRAD_CHUNK : N;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in, hi - lo, 1.0f, dout + (size_t)lo * out_dim,
                        out_dim, inp + (size_t)lo * in, in, 0.0f, scratch + (size_t)c * wn, in);
        }
        long nb = (long)((wn + 1023) / 1024);
#pragma omp parallel for schedule(static) if (par && wn >= 4096)
        for (long b = 0; b < nb; b++) {
            size_t lo = (size_t)b * 1024, hi = lo + 1024 < wn ? lo + 1024 : wn;
            for (int c = 0; c < chunks; c++) {
                const float *p = scratch + (size_t)c * wn;
                for (size_t i = lo; i < hi; i++) dweight[i] += p[i];
            }
        }
    }
    if (dbias) colsum_add(dbias, dout, NULL, N, out_dim, 1.0f);
}
