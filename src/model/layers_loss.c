// layers_loss.c: per-target losses (spec §4.1): cross-entropy with optional label smoothing over
// the rows whose label is present, and squared error with NaN targets masked. They return sums
// and counts; the model divides (by the local or the global count) and weights mixup terms.
#include <math.h>

#include "model/layers.h"

double crossentropy_forward_backward(float *dlogits, const float *logits, const int32_t *labels, const int32_t *perm,
                                     int B, int K, float smoothing, float grad_scale, int *n_valid) {
    double total = 0.0;
    int n = 0;
    for (int b = 0; b < B; b++) {
        int y = labels[perm ? perm[b] : b];
        if (y < 0) continue;
        if (y >= K) y = K - 1;  // never happens with a consistent label encoder; keeps memory safe
        const float *x = logits + (size_t)b * K;
        double m = x[0];
        for (int k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
        double se = 0.0;
        for (int k = 0; k < K; k++) se += exp((double)x[k] - m);
        double lse = m + log(se);
        double sum_logp = 0.0;
        for (int k = 0; k < K; k++) sum_logp += (double)x[k] - lse;
        double nll = lse - (double)x[y];
        total += (1.0 - smoothing) * nll - smoothing * sum_logp / K;
        n++;
        if (dlogits) {
            float *g = dlogits + (size_t)b * K;
            for (int k = 0; k < K; k++) {
                double p = exp((double)x[k] - lse);
                double t = (k == y ? 1.0 - smoothing : 0.0) + smoothing / K;
                g[k] += grad_scale * (float)(p - t);
            }
        }
    }
    *n_valid = n;
    return total;
}

double mse_forward_backward(float *dpred, const float *pred, const float *target, const int32_t *perm, int B,
                            float grad_scale, int *n_valid) {
    double total = 0.0;
    int n = 0;
    for (int b = 0; b < B; b++) {
        float y = target[perm ? perm[b] : b];
        if (isnan(y)) continue;
        double diff = (double)pred[b] - (double)y;
        total += diff * diff;
        n++;
        if (dpred) dpred[b] += grad_scale * (float)(2.0 * diff);
    }
    *n_valid = n;
    return total;
}
