// layers_embed.c: token embedding, mixup of embeddings, sqrt(d) scale + position, window padding
// (spec §3.1 steps 1-4, §4.2). These are memory-bound loops over (B, L, d).
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/util.h"
#include "model/layers.h"
#include "model/simd.h"

void embedding_forward(float *out, const int32_t *tokens, const float *table, int N, int V, int d) {
    for (int n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= V) eir_die("embedding_forward: token %d at %d outside [0, %d)", tokens[n], n, V);
#pragma omp parallel for schedule(static) if ((size_t)N * d >= EIR_PAR_MIN)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * d, table + (size_t)tokens[n] * d, (size_t)d * sizeof(float));
}

void embedding_backward(float *dtable, const float *dout, const int32_t *tokens, int N, int V, int d) {
    // Each thread owns the table rows v with v % nthreads == t and scans all tokens in order, so
    // every row is summed in token order whatever the thread count.
#pragma omp parallel if ((size_t)N * d >= EIR_PAR_MIN)
    {
        int nt = 1, t = 0;
#ifdef _OPENMP
        nt = omp_get_num_threads();
        t = omp_get_thread_num();
#endif
        for (int n = 0; n < N; n++) {
            int v = tokens[n];
            if (v % nt != t) continue;
            float *row = dtable + (size_t)v * d;
            const float *g = dout + (size_t)n * d;
            for (int k = 0; k < d; k++) row[k] += g[k];
        }
    }
    (void)V;
}

void mixup_forward(float *out, const float *inp, const int32_t *perm, float lambda, int B, size_t D) {
    float mu = 1.0f - lambda;
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * D, *y = inp + (size_t)perm[b] * D;
        float *o = out + (size_t)b * D;
        for (size_t i = 0; i < D; i++) o[i] = lambda * x[i] + mu * y[i];
    }
}

void mixup_backward(float *dinp, const float *dout, const int32_t *perm, float lambda, int B, size_t D) {
    float mu = 1.0f - lambda;
    // Row b of dinp collects lambda*dout[b] and (1-lambda)*dout[b'] for every b' with perm[b'] = b;
    // parallel over element ranges so no two threads touch one float.
    const size_t chunk = 4096;
    long nchunks = (long)((D + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (long c = 0; c < nchunks; c++) {
        size_t lo = (size_t)c * chunk, hi = lo + chunk < D ? lo + chunk : D;
        for (int b = 0; b < B; b++) {
            float *g = dinp + (size_t)b * D;
            const float *d = dout + (size_t)b * D;
            for (size_t i = lo; i < hi; i++) g[i] = lambda * d[i];
        }
        for (int b = 0; b < B; b++) {
            float *g = dinp + (size_t)perm[b] * D;
            const float *d = dout + (size_t)b * D;
            for (size_t i = lo; i < hi; i++) g[i] += mu * d[i];
        }
    }
}

void embed_position_forward(float *out, const float *emb, const float *pos, int B, int L, int d, float scale) {
    size_t D = (size_t)L * d;
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *e = emb + (size_t)b * D;
        float *o = out + (size_t)b * D;
        if (pos)
            for (size_t i = 0; i < D; i++) o[i] = scale * e[i] + pos[i];
        else
            for (size_t i = 0; i < D; i++) o[i] = scale * e[i];
    }
}

void embed_position_backward(float *demb, float *dpos, const float *dout, int B, int L, int d, float scale) {
    size_t D = (size_t)L * d;
    if (dpos) {
        // sum over the batch first (dout is still intact), in batch order per element
        const size_t chunk = 1024;
        long nchunks = (long)((D + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
        for (long c = 0; c < nchunks; c++) {
            size_t lo = (size_t)c * chunk, hi = lo + chunk < D ? lo + chunk : D;
            for (int b = 0; b < B; b++) {
                const float *g = dout + (size_t)b * D;
                for (size_t i = lo; i < hi; i++) dpos[i] += g[i];
            }
        }
    }
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * D;
        float *o = demb + (size_t)b * D;
        for (size_t i = 0; i < D; i++) o[i] = scale * g[i];
    }
}

void sinusoid_position_table(float *pe, int L, int d) {
    // As torch computes it: div_term in float32 = exp(arange(0, d, 2) * (-ln(10000)/d)),
    // then sin/cos of float32 position * div_term.
    float k = (float)(-log(10000.0) / d);
    for (int p = 0; p < L; p++)
        for (int i = 0; 2 * i < d; i++) {
            float div = expf((float)(2 * i) * k);
            float a = (float)p * div;
            pe[(size_t)p * d + 2 * i] = sinf(a);
            if (2 * i + 1 < d) pe[(size_t)p * d + 2 * i + 1] = cosf(a);
        }
}

void window_pad_forward(float *out, const float *inp, int B, int L, int Lp, int d) {
    size_t pad = (size_t)(Lp - L) * d, D = (size_t)L * d;
#pragma omp parallel for schedule(static) if ((size_t)B * Lp * d >= EIR_PAR_MIN)
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * Lp * d;
        memset(o, 0, pad * sizeof(float));
        memcpy(o + pad, inp + (size_t)b * D, D * sizeof(float));
    }
}

void window_pad_backward(float *dinp, const float *dout, int B, int L, int Lp, int d) {
    size_t pad = (size_t)(Lp - L) * d, D = (size_t)L * d;
#pragma omp parallel for schedule(static) if ((size_t)B * D >= EIR_PAR_MIN)
    for (int b = 0; b < B; b++) memcpy(dinp + (size_t)b * D, dout + (size_t)b * Lp * d + pad, D * sizeof(float));
}
