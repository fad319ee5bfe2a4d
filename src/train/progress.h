// progress.h: the console progress of a run: a one-line bar on a terminal (epoch, step, loss,
// learning rate, samples/s, ETA), plain periodic lines otherwise (logs, Slurm output files).
#pragma once
#include <stdbool.h>

typedef struct {
    bool enabled, tty;
    long iters_per_epoch;
    int n_epochs;
    int global_batch;
    double t_start, t_last;
    long first_step;  // step at which timing started (resume)
    long last_step;
} Progress;

void progress_init(Progress *p, bool enabled, long iters_per_epoch, int n_epochs, int global_batch);
void progress_update(Progress *p, long epoch, long iter_in_epoch, long step, double loss, double lr);
void progress_end_epoch(Progress *p);
// "1,069,634" (static buffer, one call at a time).
const char *progress_thousands(long v);
