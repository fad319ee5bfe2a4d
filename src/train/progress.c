// progress.c: console progress bar / periodic progress lines.
#include "train/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

void progress_init(Progress *p, bool enabled, long iters_per_epoch, int n_epochs, int global_batch) {
    memset(p, 0, sizeof *p);
    p->enabled = enabled && log_enabled();
    p->tty = isatty(STDOUT_FILENO);
    p->iters_per_epoch = iters_per_epoch;
    p->n_epochs = n_epochs;
    p->global_batch = global_batch;
    p->t_start = p->t_last = now_seconds();
    p->first_step = -1;
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) { snprintf(buf, n, "--:--"); return; }
    long t = (long)s;
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void progress_update(Progress *p, long epoch, long iter_in_epoch, long step, double loss, double lr) {
    if (!p->enabled) return;
    double now = now_seconds();
    if (p->first_step < 0) {
        p->first_step = step - 1;
        p->t_start = now;
    }
    bool last = iter_in_epoch == p->iters_per_epoch;
    // terminal: redraw at most 10x per second; pipe: a line every 30 s and at epoch ends
    if (p->tty ? (now - p->t_last < 0.1 && !last) : (now - p->t_last < 30.0 && !last)) return;
    p->t_last = now;
    long done = step - p->first_step;
    double rate = done > 0 && now > p->t_start ? done * (double)p->global_batch / (now - p->t_start) : 0;
    long left = (long)p->n_epochs * p->iters_per_epoch - step;
    char eta[32];
    fmt_eta(eta, sizeof eta, rate > 0 ? left * (double)p->global_batch / rate : -1);
    if (p->tty) {
        int width = 24, fill = (int)(width * iter_in_epoch / (p->iters_per_epoch ? p->iters_per_epoch : 1));
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        printf("\r\033[Kepoch %ld/%d [%s] %ld/%ld | step %ld | loss %.4f | lr %.2e | %.1f samples/s | ETA %s",
               epoch + 1, p->n_epochs, bar, iter_in_epoch, p->iters_per_epoch, step, loss, lr, rate, eta);
        fflush(stdout);
        log_set_line_clear(true);
    } else {
        printf("epoch %ld/%d  iter %ld/%ld  step %ld  loss %.4f  lr %.2e  %.1f samples/s  ETA %s\n", epoch + 1,
               p->n_epochs, iter_in_epoch, p->iters_per_epoch, step, loss, lr, rate, eta);
        fflush(stdout);
    }
}

void progress_end_epoch(Progress *p) {
    if (p->enabled && p->tty) log_set_line_clear(true);
}

const char *progress_thousands(long v) {
    static char out[48];
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%ld", v < 0 ? -v : v);
    int n = (int)strlen(tmp), o = 0;
    if (v < 0) out[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = 0;
    return out;
}
