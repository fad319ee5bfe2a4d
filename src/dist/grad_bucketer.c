// grad_bucketer.c: contiguous gradient buckets in the order backward finishes them.
#include "dist/grad_bucketer.h"

#include "common/util.h"

void grad_bucketer_init(GradBucketer *b, GradTransport tr, size_t n, size_t bucket_floats) {
    *b = (GradBucketer){.tr = tr, .n = n, .bucket_floats = bucket_floats, .unsent_hi = n, .lo = n};
}

void grad_bucketer_begin(GradBucketer *b) {
    b->unsent_hi = b->lo = b->n;
    b->buckets_sent = 0;
}

static void send_unsent(GradBucketer *b, void *stream) {
    if (b->unsent_hi <= b->lo) return;
    b->tr.send(b->tr.ctx, b->lo, b->unsent_hi, stream);
    b->unsent_hi = b->lo;
    b->buckets_sent++;
}

void grad_bucketer_ready(GradBucketer *b, size_t offset, size_t count, void *stream) {
    if (count > b->lo || offset != b->lo - count)
        eir_die("%s gradient all-reduce: backward reported [%zu, %zu) but the next range must end at %zu "
                "(ranges tile the buffer from its end, model.h)", b->tr.name, offset, offset + count, b->lo);
    b->lo = offset;
    if (b->bucket_floats && b->unsent_hi - b->lo >= b->bucket_floats) send_unsent(b, stream);
}

void grad_bucketer_finish(GradBucketer *b, void *stream) {
    if (b->lo != 0)
        eir_die("%s gradient all-reduce: backward left [0, %zu) unreported (ranges tile the buffer, model.h)",
                b->tr.name, b->lo);
    send_unsent(b, stream);
    b->tr.wait(b->tr.ctx, stream);
}
