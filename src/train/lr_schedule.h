// lr_schedule.h: learning rate per optimizer step (spec §4.4): linear warmup from lr_lb, then
// "plateau" (ReduceLROnPlateau on validation perf-average), "cosine" or "cycle" (cosine restarts).
#pragma once
#include <stdbool.h>

typedef enum { SCHED_PLATEAU, SCHED_COSINE, SCHED_CYCLE } SchedKind;

typedef struct {
    // settings
    SchedKind kind;
    double lr, lr_lb;
    int warmup_steps;
    int iters_per_epoch, total_iters;  // for cosine / cycle
    int plateau_patience;              // EIR's lr_plateau_patience (torch patience = this - 1)
    double plateau_factor;
    // plateau state (part of the resumable training state)
    double current_lr;     // the rate of the next step after warmup (plateau)
    double best;           // best perf-average seen (-inf at start)
    int num_bad;           // consecutive non-improving checks
    int n_reductions;
} LRSchedule;

void lr_schedule_init(LRSchedule *s, SchedKind kind, double lr, double lr_lb, int warmup_steps,
                      int iters_per_epoch, int total_iters, int plateau_patience, double plateau_factor);
// Learning rate used by optimizer step `step` (1-based global iteration).
double lr_schedule_lr(const LRSchedule *s, long step);
// Plateau: called after the validation at iteration `step` with its perf-average. Returns true
// when the rate was reduced. No-op for cosine/cycle and during warmup (as EIR).
bool lr_schedule_on_validation(LRSchedule *s, long step, double perf_average);
