// lr_schedule.c: EIR's warmup + plateau / cosine / cycle learning-rate schedules (spec §4.4).
#include "train/lr_schedule.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void lr_schedule_init(LRSchedule *s, SchedKind kind, double lr, double lr_lb, int warmup_steps,
                      int iters_per_epoch, int total_iters, int plateau_patience, double plateau_factor) {
    s->kind = kind;
    s->lr = lr;
    s->lr_lb = lr_lb;
    s->warmup_steps = warmup_steps < 0 ? 0 : warmup_steps;
    s->iters_per_epoch = iters_per_epoch < 1 ? 1 : iters_per_epoch;
    s->total_iters = total_iters;
    s->plateau_patience = plateau_patience;
    s->plateau_factor = plateau_factor;
    s->current_lr = lr;
    s->best = -INFINITY;
    s->num_bad = 0;
    s->n_reductions = 0;
}

static double half_cosine(double start, double end, double progress) {
    if (progress > 1) progress = 1;
    return start + (end - start) / 2 * (1 - cos(M_PI * progress));
}

double lr_schedule_lr(const LRSchedule *s, long step) {
    long w = s->warmup_steps;
    if (s->kind == SCHED_PLATEAU) {
        // ignite's warmup: the LR set after iteration i-1 is lr_lb + (lr - lr_lb) * (i-1) / w
        if (w > 0 && step <= w) return s->lr_lb + (s->lr - s->lr_lb) * (double)(step - 1) / (double)w;
        return s->current_lr;
    }
    // cosine / cycle: warmup from lr_lb to lr over w + 1 steps (step 1 = lr_lb, step w+1 = lr)
    if (w > 0 && step <= w + 1) return s->lr_lb + (s->lr - s->lr_lb) * (double)(step - 1) / (double)w;
    long t = step - (w + 1);  // steps since the end of warmup
    if (s->kind == SCHED_COSINE) {
        long span = (long)s->total_iters - w;
        if (span < 1) span = 1;
        return half_cosine(s->lr, s->lr_lb, (double)t / (double)span);
    }
    // cycle: first cycle one epoch, each restart doubles its length
    long len = s->iters_per_epoch;
    while (t >= len) {
        t -= len;
        len *= 2;
    }
    return half_cosine(s->lr, s->lr_lb, (double)t / (double)len);
}

bool lr_schedule_on_validation(LRSchedule *s, long step, double perf_average) {
    if (s->kind != SCHED_PLATEAU) return false;
    if (step <= s->warmup_steps) return false;
    if (s->current_lr == s->lr_lb) return false;
    if (isnan(perf_average)) perf_average = -INFINITY;
    // torch ReduceLROnPlateau(mode="max", threshold_mode="rel", threshold=1e-4)
    if (perf_average > s->best * (1.0 + 1e-4) || (isinf(s->best) && perf_average > s->best)) {
        s->best = perf_average;
        s->num_bad = 0;
    } else {
        s->num_bad++;
    }
    if (s->num_bad > s->plateau_patience - 1) {
        double old = s->current_lr;
        double next = fmax(old * s->plateau_factor, s->lr_lb);
        s->num_bad = 0;
        if (old - next > 1e-8) {
            s->current_lr = next;
            s->n_reductions++;
            return true;
        }
    }
    return false;
}
