// bench_gpu_kernels.c: micro-benchmark of the CUDA window attention and linear layers at the
// tutorial's sizes (spec §3.1: L 1024, d 64, W 128, 8 heads of 8, F 256; rows N = batch x 1024),
// timed with CUDA events after warm-up, against the GPU's plain-fp32 peak (these kernels use no
// tensor cores: fp32 FFMA in the attention, fp32 sgemm in cuBLAS). bench/gpu.sh runs it.
//
//   eir-bench-gpu-kernels [--batch B]... [--iters N] [--warmup N]      (default: --batch 64 --batch 256)
//
// FLOPs: "model" counts the attention's matrix products once (forward 2 products, backward 4,
// 2 FLOPs per multiply-add); "executed" adds the score recomputation these kernels do (forward
// computes q.k twice: 1.5x; backward recomputes scores and dP in three passes: 2.25x). Linear:
// 2*N*in*out forward, twice that backward (dinp and dweight). One JSON line per batch at the end.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EIR_HAVE_CUDA
#include "common/rng.h"
#include "model/layers_cuda.h"

enum { L = 1024, D = 64, W = 128, HEADS = 8, F = 256, DH = D / HEADS, NWIN = L / W };

typedef struct {
    int iters, warmup;
    void *stream, *ev0, *ev1;
} Timer;

typedef void (*BenchFn)(void *ctx);

static double time_ms(Timer *t, BenchFn fn, void *ctx) {
    for (int i = 0; i < t->warmup; i++) fn(ctx);
    cuda_event_record(t->ev0, t->stream);
    for (int i = 0; i < t->iters; i++) fn(ctx);
    cuda_event_record(t->ev1, t->stream);
    return cuda_event_elapsed_ms(t->ev0, t->ev1) / t->iters;
}

typedef struct {
    int B;
    float *qkv, *out, *lse, *dout, *dqkv;
    uint32_t *mask;
    float p;
    DropoutKey key;
    void *stream, *blas;
    // linear
    float *x, *w, *y, *dy, *dx, *dw;
    int N, in, out_dim;
} Ctx;

static void att_fwd(void *p) {
    Ctx *c = p;
    window_attention_forward_cuda(c->out, c->lse, c->p > 0 ? c->mask : NULL, c->qkv, c->B, L, W, D, HEADS, false, c->p,
                                  &c->key, c->stream);
}
static void att_bwd(void *p) {
    Ctx *c = p;
    window_attention_backward_cuda(c->dqkv, c->dout, c->qkv, c->out, c->lse, c->p > 0 ? c->mask : NULL, c->B, L, W, D, HEADS,
                                   false, c->p, c->stream);
}
static void lin_fwd(void *p) {
    Ctx *c = p;
    linear_forward_cuda(c->blas, c->y, c->x, c->w, NULL, c->N, c->in, c->out_dim, c->stream);
}
static void lin_bwd(void *p) {
    Ctx *c = p;
    linear_backward_cuda(c->blas, c->dx, c->dw, NULL, c->dy, c->x, c->w, c->N, c->in, c->out_dim, false, NULL, c->stream);
}

// Uniform random floats on the device (xorshift on the host: fast for the ~10^8 values of batch 256).
static float *dev_random(size_t n, float lo, float hi, uint64_t seed) {
    float *h = malloc(n * sizeof(float));
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (seed * 0xD1B54A32D192ED03ull);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h[i] = lo + (hi - lo) * (float)((x >> 40) * (1.0 / 16777216.0));
    }
    float *d = cuda_malloc(n * sizeof(float));
    cuda_memcpy_h2d(d, h, n * sizeof(float));
    free(h);
    return d;
}

static void row(const char *name, double ms, double model_flops, double exec_flops, double peak) {
    double tf = model_flops / (ms * 1e-3) / 1e12, te = exec_flops / (ms * 1e-3) / 1e12;
    printf("  %-34s %9.3f ms  %8.2f GFLOP  %7.2f TFLOP/s model  %7.2f executed  %5.1f%% of fp32 peak\n", name, ms,
           model_flops / 1e9, tf, te, 100.0 * te * 1e12 / peak);
}

static void bench_batch(int B, Timer *t, void *blas, const CudaDeviceInfo *info, char *json, size_t jn) {
    size_t N = (size_t)B * L;
    printf("batch %d (N = %zu rows; %d windows x %d heads per sample)\n", B, N, NWIN, HEADS);
    Ctx c = {.B = B, .stream = t->stream, .blas = blas};
    c.qkv = dev_random(N * 3 * D, -1.5f, 1.5f, 1);
    c.dout = dev_random(N * D, -1, 1, 2);
    c.out = cuda_malloc(N * D * sizeof(float));
    c.lse = cuda_malloc(N * HEADS * sizeof(float));
    c.dqkv = cuda_malloc(N * 3 * D * sizeof(float));
    size_t mw = window_attention_mask_words(B, L, W, HEADS);
    c.mask = cuda_malloc(mw * sizeof(uint32_t));
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)B);
    for (int b = 0; b < B; b++) ids[b] = (uint64_t)b;
    uint64_t *d_ids = cuda_malloc(sizeof(uint64_t) * (size_t)B);
    cuda_memcpy_h2d(d_ids, ids, sizeof(uint64_t) * (size_t)B);
    c.key = (DropoutKey){.seed = 1, .purpose = rng_purpose(RNG_DROPOUT, 1), .step = 1, .sample_ids = d_ids};
    free(ids);

    double units = (double)B * NWIN * HEADS, w2dh = (double)W * W * DH;
    double att_f = units * 4 * w2dh, att_b = units * 8 * w2dh;
    double peak = info->fp32_flops;
    c.p = 0.0f;
    double ms_af = time_ms(t, att_fwd, &c), ms_ab = time_ms(t, att_bwd, &c);
    row("attention forward", ms_af, att_f, 1.5 * att_f, peak);
    row("attention backward", ms_ab, att_b, 2.25 * att_b, peak);
    c.p = 0.1f;
    double ms_afd = time_ms(t, att_fwd, &c), ms_abd = time_ms(t, att_bwd, &c);
    row("attention forward, dropout 0.1", ms_afd, att_f, 1.5 * att_f, peak);
    row("attention backward, dropout 0.1", ms_abd, att_b, 2.25 * att_b, peak);
    int n = snprintf(json, jn,
                     "{\"batch\":%d,\"gpu\":\"%s\",\"fp32_peak_tflops\":%.1f,\"attention_fwd_ms\":%.4f,"
                     "\"attention_bwd_ms\":%.4f,\"attention_fwd_dropout_ms\":%.4f,\"attention_bwd_dropout_ms\":%.4f",
                     B, info->name, peak / 1e12, ms_af, ms_ab, ms_afd, ms_abd);

    struct {
        const char *name;
        int in, out;
    } lin[] = {{"qkv_proj", D, 3 * D}, {"out_proj", D, D}, {"ffn_w12", D, 2 * F}, {"ffn_w3", F, D}};
    double lin_total = 0.0;
    for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++) {
        c.N = (int)N, c.in = lin[k].in, c.out_dim = lin[k].out;
        c.x = dev_random(N * c.in, -1, 1, 10 + k);
        c.w = dev_random((size_t)c.in * c.out_dim, -0.1f, 0.1f, 20 + k);
        c.dy = dev_random(N * c.out_dim, -1, 1, 30 + k);
        c.y = cuda_malloc(N * c.out_dim * sizeof(float));
        c.dx = cuda_malloc(N * c.in * sizeof(float));
        c.dw = cuda_malloc((size_t)c.in * c.out_dim * sizeof(float));
        cuda_memset_zero(c.dw, (size_t)c.in * c.out_dim * sizeof(float), NULL);
        double fl = 2.0 * (double)N * c.in * c.out_dim;
        double ms_f = time_ms(t, lin_fwd, &c), ms_b = time_ms(t, lin_bwd, &c);
        char nm[64];
        snprintf(nm, sizeof nm, "linear %s %dx%d forward", lin[k].name, c.in, c.out_dim);
        row(nm, ms_f, fl, fl, peak);
        snprintf(nm, sizeof nm, "linear %s %dx%d backward", lin[k].name, c.in, c.out_dim);
        row(nm, ms_b, 2 * fl, 2 * fl, peak);
        lin_total += ms_f + ms_b;
        n += snprintf(json + n, jn - (size_t)n, ",\"linear_%s_fwd_ms\":%.4f,\"linear_%s_bwd_ms\":%.4f", lin[k].name, ms_f,
                      lin[k].name, ms_b);
        cuda_free(c.x), cuda_free(c.w), cuda_free(c.dy), cuda_free(c.y), cuda_free(c.dx), cuda_free(c.dw);
    }
    // one transformer layer's attention + linear share, x4 layers, forward + backward (dropout on)
    double layer_ms = ms_afd + ms_abd + lin_total;
    printf("  => 4 layers x (attention + 4 linear layers), fwd + bwd: %.2f ms per batch of %d (%.0f samples/s "
           "from these kernels alone)\n",
           4 * layer_ms, B, B / (4 * layer_ms * 1e-3));
    snprintf(json + n, jn - (size_t)n, ",\"four_layers_attention_linear_ms\":%.4f}", 4 * layer_ms);
    cuda_free(c.qkv), cuda_free(c.dout), cuda_free(c.out), cuda_free(c.lse), cuda_free(c.dqkv), cuda_free(c.mask);
    cuda_free((void *)c.key.sample_ids);
}
#endif

int main(int argc, char **argv) {
#ifndef EIR_HAVE_CUDA
    (void)argc, (void)argv;
    fprintf(stderr, "eir-bench-gpu-kernels: built without the CUDA backend\n");
    return 77;
#else
    int batches[16], nb = 0;
    Timer t = {.iters = 20, .warmup = 3};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc && nb < 16)
            batches[nb++] = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            t.iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            t.warmup = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--batch B]... [--iters N] [--warmup N]\n", argv[0]);
            return 2;
        }
    }
    if (nb == 0) batches[nb++] = 64, batches[nb++] = 256;
    if (t.iters < 1) t.iters = 1;
    if (cuda_device_count() == 0) {
        fprintf(stderr, "eir-bench-gpu-kernels: no CUDA device\n");
        return 77;
    }
    CudaDeviceInfo info;
    cuda_device_info(&info);
    printf("GPU %s: sm_%d%d, %d SMs at %.0f MHz: plain fp32 peak %.1f TFLOP/s (FFMA, no tensor cores); memory "
           "%.2f TB/s (from clocks)\n",
           info.name, info.major, info.minor, info.sm_count, info.clock_khz / 1e3, info.fp32_flops / 1e12,
           info.mem_bytes_per_s / 1e12);
    t.stream = cuda_stream_create();
    t.ev0 = cuda_event_create();
    t.ev1 = cuda_event_create();
    void *blas = cuda_blas_create();
    char json[16][2048];
    for (int i = 0; i < nb; i++) bench_batch(batches[i], &t, blas, &info, json[i], sizeof json[i]);
    for (int i = 0; i < nb; i++) printf("%s\n", json[i]);
    cuda_blas_destroy(blas);
    cuda_event_destroy(t.ev0);
    cuda_event_destroy(t.ev1);
    cuda_stream_destroy(t.stream);
    return 0;
#endif
}
