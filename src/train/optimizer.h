// optimizer.h: AdamW over contiguous ranges of the flat parameter buffer, and global-norm
// gradient clipping (spec §4.3). Matches torch.optim.AdamW (eps 1e-8, amsgrad off, decoupled
// weight decay applied only to tensors with >= 2 dims: the caller passes wd = 0 for the others).
#pragma once
#include <stddef.h>

typedef struct {
    double lr, b1, b2, eps, wd;
    long step;  // 1-based step number used for the bias corrections
} AdamWStep;

// One AdamW update of n contiguous elements.
void adamw_update(float *param, const float *grad, float *m, float *v, size_t n, const AdamWStep *s, double wd);
// L2 norm of a gradient buffer, accumulated in double.
double grad_sum_squares(const float *grad, size_t n);
// Scales grad by min(1, max_norm / (norm + 1e-6)) as torch's clip_grad_norm_; returns the factor.
double grad_clip_factor(double total_norm, double max_norm);
void grad_scale(float *grad, size_t n, float factor);
