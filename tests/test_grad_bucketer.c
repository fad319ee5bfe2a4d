// test_grad_bucketer.c: the one bucketing rule of the MPI and NCCL gradient reducers: buckets
// tile the buffer from its end, each at least the bucket size except the last, sent as soon as
// backward has finished them; out-of-order, overlapping or missing ranges stop the run.
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dist/grad_bucketer.h"
#include "test_util.h"

typedef struct {
    size_t lo[64], hi[64];
    void *stream[64];
    int sent, waits, sent_at_wait;
} Recorder;

static void rec_send(void *ctx, size_t lo, size_t hi, void *stream) {
    Recorder *r = ctx;
    r->lo[r->sent] = lo, r->hi[r->sent] = hi, r->stream[r->sent] = stream;
    r->sent++;
}
static void rec_wait(void *ctx, void *stream) {
    Recorder *r = ctx;
    r->waits++;
    r->sent_at_wait = r->sent;
}

static GradTransport transport(Recorder *r) {
    return (GradTransport){.send = rec_send, .wait = rec_wait, .ctx = r, .name = "test"};
}

// ranges of sizes `sizes` reported from the end of a buffer of n floats
static void report(GradBucketer *b, const size_t *sizes, int k, void *stream) {
    size_t hi = b->n;
    for (int i = 0; i < k; i++) {
        grad_bucketer_ready(b, hi - sizes[i], sizes[i], stream);
        hi -= sizes[i];
    }
}

// runs fn in a child; true when it exited with a non-zero status (eir_die)
static bool dies(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(0);  // 0: counted as "did not die"
        fn();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) != 0;
}

static void gap(void) {  // [90, 100) then [70, 80): [80, 90) skipped
    Recorder r = {0};
    GradBucketer b;
    grad_bucketer_init(&b, transport(&r), 100, 10);
    grad_bucketer_begin(&b);
    grad_bucketer_ready(&b, 90, 10, NULL);
    grad_bucketer_ready(&b, 70, 10, NULL);
}
static void overlap(void) {  // [90, 100) then [85, 95)
    Recorder r = {0};
    GradBucketer b;
    grad_bucketer_init(&b, transport(&r), 100, 10);
    grad_bucketer_begin(&b);
    grad_bucketer_ready(&b, 90, 10, NULL);
    grad_bucketer_ready(&b, 85, 10, NULL);
}
static void missing(void) {  // finish with [0, 50) never reported
    Recorder r = {0};
    GradBucketer b;
    grad_bucketer_init(&b, transport(&r), 100, 10);
    grad_bucketer_begin(&b);
    grad_bucketer_ready(&b, 50, 50, NULL);
    grad_bucketer_finish(&b, NULL);
}
static void twice(void) {  // the first range reported again in the same step
    Recorder r = {0};
    GradBucketer b;
    grad_bucketer_init(&b, transport(&r), 100, 0);
    grad_bucketer_begin(&b);
    grad_bucketer_ready(&b, 60, 40, NULL);
    grad_bucketer_ready(&b, 60, 40, NULL);
}

int main(void) {
    int stream_tag;
    void *s = &stream_tag;
    {  // bucket of 25 floats over ranges 10, 20, 5, 30, 35: sent after 30 (10+20), 35 (5+30), then 35
        Recorder r = {0};
        GradBucketer b;
        grad_bucketer_init(&b, transport(&r), 100, 25);
        for (int step = 0; step < 2; step++) {  // the same buckets every step
            r = (Recorder){0};
            grad_bucketer_begin(&b);
            size_t sizes[] = {10, 20, 5, 30, 35};
            report(&b, sizes, 2, s);
            CHECK_EQ_INT(r.sent, 1);  // sent before backward goes on
            grad_bucketer_ready(&b, 65, 5, s);
            CHECK_EQ_INT(r.sent, 1);  // 5 < 25: waits
            grad_bucketer_ready(&b, 35, 30, s);
            CHECK_EQ_INT(r.sent, 2);
            grad_bucketer_ready(&b, 0, 35, s);
            CHECK_EQ_INT(r.sent, 3);
            grad_bucketer_finish(&b, s);
            CHECK_EQ_INT(r.sent, 3);  // nothing left
            size_t want_lo[] = {70, 35, 0}, want_hi[] = {100, 70, 35};
            for (int i = 0; i < 3; i++) {
                CHECK_EQ_INT(r.lo[i], want_lo[i]);
                CHECK_EQ_INT(r.hi[i], want_hi[i]);
                CHECK(r.stream[i] == s);
            }
            CHECK_EQ_INT(r.waits, 1);
            CHECK_EQ_INT(r.sent_at_wait, 3);
            CHECK_EQ_INT(b.buckets_sent, 3);
        }
    }
    {  // the tail below the bucket size goes in finish, before the wait
        Recorder r = {0};
        GradBucketer b;
        grad_bucketer_init(&b, transport(&r), 100, 60);
        grad_bucketer_begin(&b);
        report(&b, (size_t[]){70, 20, 10}, 3, NULL);
        CHECK_EQ_INT(r.sent, 1);
        grad_bucketer_finish(&b, NULL);
        CHECK_EQ_INT(r.sent, 2);
        CHECK_EQ_INT(r.lo[1], 0);
        CHECK_EQ_INT(r.hi[1], 30);
        CHECK_EQ_INT(r.sent_at_wait, 2);
    }
    {  // bucket size 0: one send of the whole buffer in finish
        Recorder r = {0};
        GradBucketer b;
        grad_bucketer_init(&b, transport(&r), 100, 0);
        grad_bucketer_begin(&b);
        report(&b, (size_t[]){50, 1, 49}, 3, NULL);
        CHECK_EQ_INT(r.sent, 0);
        grad_bucketer_finish(&b, NULL);
        CHECK_EQ_INT(r.sent, 1);
        CHECK_EQ_INT(r.lo[0], 0);
        CHECK_EQ_INT(r.hi[0], 100);
    }
    {  // empty ranges are allowed and change nothing
        Recorder r = {0};
        GradBucketer b;
        grad_bucketer_init(&b, transport(&r), 10, 4);
        grad_bucketer_begin(&b);
        report(&b, (size_t[]){0, 10, 0}, 3, NULL);
        grad_bucketer_finish(&b, NULL);
        CHECK_EQ_INT(r.sent, 1);
    }
    CHECK(dies(gap));
    CHECK(dies(overlap));
    CHECK(dies(missing));
    CHECK(dies(twice));
    TEST_MAIN_END();
}
