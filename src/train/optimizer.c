// optimizer.c: AdamW and gradient clipping on flat float buffers, OpenMP across elements.
#include "train/optimizer.h"

#include <math.h>

void adamw_update(float *param, const float *grad, float *m, float *v, size_t n, const AdamWStep *s, double wd) {
    // torch's single-tensor AdamW: p *= 1 - lr*wd; m, v updated; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
    const float b1 = (float)s->b1, b2 = (float)s->b2;
    const double bc1 = 1.0 - pow(s->b1, (double)s->step);
    const double bc2 = 1.0 - pow(s->b2, (double)s->step);
    const float step_size = (float)(s->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - s->lr * wd);
    const float eps = (float)s->eps;
    #pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
    }
}

double grad_sum_squares(const float *grad, size_t n) {
    double s = 0;
    #pragma omp parallel for reduction(+ : s) schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) s += (double)grad[i] * grad[i];
    return s;
}

double grad_clip_factor(double total_norm, double max_norm) {
    if (!(max_norm > 0)) return 1.0;
    double f = max_norm / (total_norm + 1e-6);
    return f < 1.0 ? f : 1.0;
}

void grad_scale(float *grad, size_t n, float factor) {
    #pragma omp parallel for schedule(static) if (n > 32768)
    for (size_t i = 0; i < n; i++) grad[i] *= factor;
}
