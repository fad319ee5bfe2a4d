// serve_batcher.c: the job queue and the inference workers (see serve_batcher.h).
//
// Batch forming, in forward rows (an item's rows are its crops: 1 without --crops): a worker
// wakes when items are queued and takes them once max_batch rows are waiting, or once the oldest
// queued item has waited max_delay_us (items that already waited while every worker was busy go
// at once). Idle workers share what is queued: a worker takes whole items up to
// ceil(queued rows / idle workers) rows (at most max_batch; at least one item), so two idle
// workers split one burst instead of one taking it all while the other sleeps. The queue's
// capacity (--max-queue-items) counts items.
//
// Threads: every worker runs `threads / workers` OpenMP threads (set in the worker thread: the
// OpenMP thread count is per thread) and OpenBLAS runs single-threaded, so the workers together
// never use more threads than --threads.
#include "serve/serve_batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/util.h"
#include "data/csv.h"  // EIR_ERR_LEN
#include "serve/serve_json.h"
#include "infer/crops.h"
#include "infer/inference.h"

void openblas_set_num_threads(int num_threads);  // OpenBLAS extension

typedef struct {
    Batcher *b;
    int index, omp_threads;
    pthread_t tid;
    bool started;
} Worker;

struct Batcher {
    const ServeOptions *opt;
    ServeMetrics *metrics;
    h2o_multithread_receiver_t *done, *control;
    h2o_multithread_message_t control_msg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ServeJob *head, *tail;  // FIFO of jobs with untaken items
    long queued_items, capacity;
    int64_t queued_rows;    // forward rows of the queued items
    int idle_workers;       // workers looking for items (not computing)
    bool stopping;
    int n_loaded, n_failed;
    char load_error[EIR_ERR_LEN];
    Worker *workers;
    int n_workers;
};

ServeJob *job_create(int n_items, int n_inputs, size_t data_bytes) {
    size_t slots = (size_t)n_items * (size_t)n_inputs;
    ServeJob *job = calloc_check(1, sizeof *job);
    job->n_items = n_items;
    job->n_inputs = n_inputs;
    job->bytes = calloc_check(slots, sizeof *job->bytes);
    job->lens = calloc_check(slots, sizeof *job->lens);
    job->item_rows = malloc_check(sizeof *job->item_rows * (size_t)(n_items ? n_items : 1));
    for (int i = 0; i < n_items; i++) job->item_rows[i] = 1;
    job->n_rows = n_items;
    job->item_json = calloc_check((size_t)n_items, sizeof *job->item_json);
    job->item_len = calloc_check((size_t)n_items, sizeof *job->item_len);
    job->data = malloc_check(data_bytes ? data_bytes : 1);
    atomic_init(&job->remaining, n_items);
    atomic_init(&job->failed_status, 0);
    return job;
}

void job_free(ServeJob *job) {
    if (!job) return;
    for (int i = 0; i < job->n_items; i++) free(job->item_json[i]);
    free(job->item_json);
    free(job->item_len);
    free(job->data);
    free(job->bytes);
    free(job->lens);
    free(job->item_rows);
    free(job);
}

// Items finished by this thread; the one that finishes the last item hands the job to the loop.
static void job_items_done(Batcher *b, ServeJob *job, int n) {
    if (atomic_fetch_sub_explicit(&job->remaining, n, memory_order_acq_rel) == n)
        h2o_multithread_send_message(b->done, &job->msg);
}

static void add_seconds(struct timespec *ts, double s) {
    time_t whole = (time_t)s;
    ts->tv_sec += whole;
    ts->tv_nsec += (long)((s - (double)whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

typedef struct {
    ServeJob *job;
    int first, count;
} Piece;  // items [first, first+count) of one job inside a batch

// Waits for items and takes a batch. Returns the number of pieces, 0 when stopping.
static int take_batch(Batcher *b, Piece *pieces, double *t_take) {
    const ServeOptions *o = b->opt;
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    b->idle_workers++;
    for (;;) {
        while (!b->stopping && b->queued_items == 0) PTHREAD_CHECK(pthread_cond_wait(&b->cv, &b->mu));
        if (b->queued_items == 0) {  // stopping and nothing left
            b->idle_workers--;
            PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
            return 0;
        }
        // wait for a full batch or the oldest item's deadline
        double deadline = b->head->t_enqueue + (double)o->max_delay_us * 1e-6;
        while (!b->stopping && b->queued_items > 0 && b->queued_rows < o->max_batch && now_seconds() < deadline) {
            // condition variables use CLOCK_REALTIME; convert the monotonic deadline
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            add_seconds(&ts, deadline - now_seconds());
            int rc = pthread_cond_timedwait(&b->cv, &b->mu, &ts);
            if (rc != 0 && rc != ETIMEDOUT) eir_die("pthread_cond_timedwait: %s", strerror(rc));
            if (b->queued_items > 0) deadline = b->head->t_enqueue + (double)o->max_delay_us * 1e-6;
        }
        if (b->queued_items > 0) break;  // else another worker took them: wait again
    }
    int64_t share = (b->queued_rows + b->idle_workers - 1) / b->idle_workers, taken = 0;
    if (share > o->max_batch) share = o->max_batch;
    int n_pieces = 0;
    while (b->head && taken < share) {
        ServeJob *job = b->head;
        // whole items while they fit in the share; the first one always
        int k = 0;
        while (job->next_item + k < job->n_items &&
               (taken == 0 || taken + job->item_rows[job->next_item + k] <= share)) {
            taken += job->item_rows[job->next_item + k];
            b->queued_rows -= job->item_rows[job->next_item + k];
            k++;
        }
        if (k == 0) break;  // the next item does not fit: it starts the next batch
        pieces[n_pieces++] = (Piece){job, job->next_item, k};
        job->next_item += k;
        b->queued_items -= k;
        if (job->next_item == job->n_items) {  // fully taken: leaves the queue
            b->head = job->next;
            if (!b->head) b->tail = NULL;
            job->next = NULL;
            job->queued = false;
        }
    }
    b->idle_workers--;
    *t_take = now_seconds();
    if (b->queued_items > 0) PTHREAD_CHECK(pthread_cond_signal(&b->cv));  // leftovers for another idle worker
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    return n_pieces;
}

static void report_loaded(Batcher *b, const char *err) {
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    if (err) {
        if (!b->n_failed) snprintf(b->load_error, sizeof b->load_error, "%s", err);
        b->n_failed++;
    } else {
        b->n_loaded++;
    }
    bool last = b->n_loaded + b->n_failed == b->n_workers;
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    if (last) h2o_multithread_send_message(b->control, &b->control_msg);
}

// One worker's items of the batch being run, for the crop source's callbacks (crops.h).
typedef struct {
    Batcher *b;
    const ModelMeta *meta;
    int n_inputs;
    ServeJob **job;  // [max_batch]: item i of the batch is item idx[i] of job[i]
    int *idx;
    StrBuf sb;
} WorkerItems;

static int64_t item_length(void *ctx, int64_t i, int input) {
    const WorkerItems *w = ctx;
    return (int64_t)w->job[i]->lens[(size_t)w->idx[i] * (size_t)w->n_inputs + (size_t)input];
}

// The decoded value stays in the job's memory: crops point into it.
static const uint8_t *item_window(void *ctx, int64_t i, int input, int64_t start, int64_t n, uint8_t *buf) {
    (void)n, (void)buf;
    const WorkerItems *w = ctx;
    return w->job[i]->bytes[(size_t)w->idx[i] * (size_t)w->n_inputs + (size_t)input] + start;
}

static void item_done(void *ctx, int64_t i, int64_t n_crops, float *const *outputs, float *const *scores) {
    (void)n_crops, (void)scores;
    WorkerItems *w = ctx;
    w->sb.len = 0;
    json_render_outputs(&w->sb, w->meta, (const float *const *)outputs);
    char *text = malloc_check(w->sb.len + 1);
    memcpy(text, w->sb.data, w->sb.len);
    text[w->sb.len] = '\0';
    w->job[i]->item_json[w->idx[i]] = text;
    w->job[i]->item_len[w->idx[i]] = w->sb.len;
}

static void item_pass(void *ctx, int rows, double seconds) {
    metrics_observe_batch(((WorkerItems *)ctx)->b->metrics, rows, seconds);
}

static const CropSource ITEM_SOURCE = {item_length, item_window, item_done, item_pass};

static void *worker_main(void *arg) {
    Worker *w = arg;
    Batcher *b = w->b;
    const ServeOptions *o = b->opt;
#ifdef _OPENMP
    omp_set_num_threads(w->omp_threads);
#endif
    Predictor p;
    char err[EIR_ERR_LEN];
    if (predictor_open_device(&p, o->model_path, o->max_batch, o->cuda_device, err, sizeof err) != 0) {
        report_loaded(b, err);
        return NULL;
    }
    report_loaded(b, NULL);
    CropPredictor cp;
    crop_predictor_init(&cp, &p, o->crops);
    Piece *pieces = malloc_check(sizeof(Piece) * (size_t)o->max_batch);
    WorkerItems items = {.b = b, .meta = &p.meta, .n_inputs = p.model.config.n_inputs};
    items.job = malloc_check(sizeof(ServeJob *) * (size_t)o->max_batch);  // a batch has <= max_batch items
    items.idx = malloc_check(sizeof(int) * (size_t)o->max_batch);
    for (;;) {
        double t_take;
        int n_pieces = take_batch(b, pieces, &t_take);
        if (n_pieces == 0) break;
        // gather the items; items of requests that waited too long are not computed
        int n = 0;
        for (int q = 0; q < n_pieces; q++) {
            ServeJob *job = pieces[q].job;
            for (int i = 0; i < pieces[q].count; i++) metrics_observe_queue_wait(b->metrics, t_take - job->t_enqueue);
            bool late = o->request_timeout_ms > 0 && (t_take - job->t_arrival) * 1e3 > (double)o->request_timeout_ms;
            if (late) atomic_store(&job->failed_status, 503);
            if (late || atomic_load(&job->failed_status)) continue;
            for (int i = 0; i < pieces[q].count; i++, n++) {
                items.job[n] = job;
                items.idx[n] = pieces[q].first + i;
            }
        }
        // every item's crops, in passes of up to max_batch rows; each item's JSON when its last crop is done
        if (n > 0 && crop_predictor_run(&cp, &ITEM_SOURCE, &items, n) != 0)
            eir_die("eir-serve: a crop of a decoded request could not be read");  // item_window cannot fail
        for (int q = 0; q < n_pieces; q++) job_items_done(b, pieces[q].job, pieces[q].count);
    }
    sb_free(&items.sb);
    free(items.job);
    free(items.idx);
    free(pieces);
    crop_predictor_free(&cp);
    predictor_close(&p);
    return NULL;
}

Batcher *batcher_start(const ServeOptions *opt, ServeMetrics *metrics, h2o_multithread_receiver_t *done,
                       h2o_multithread_receiver_t *control) {
    Batcher *b = calloc_check(1, sizeof *b);
    b->opt = opt;
    b->metrics = metrics;
    b->done = done;
    b->control = control;
    b->capacity = opt->max_queue_items;
    PTHREAD_CHECK(pthread_mutex_init(&b->mu, NULL));
    PTHREAD_CHECK(pthread_cond_init(&b->cv, NULL));
    // OpenBLAS' own pool would run beside every worker's: keep it single-threaded.
    openblas_set_num_threads(1);
    b->n_workers = opt->workers;
    b->workers = calloc_check((size_t)b->n_workers, sizeof(Worker));
    for (int i = 0; i < b->n_workers; i++) {
        Worker *w = &b->workers[i];
        w->b = b;
        w->index = i;
        // split the threads as evenly as possible
        w->omp_threads = opt->threads / opt->workers + (i < opt->threads % opt->workers ? 1 : 0);
        if (w->omp_threads < 1) w->omp_threads = 1;
        int rc = pthread_create(&w->tid, NULL, worker_main, w);
        if (rc != 0) eir_die("pthread_create: %s", strerror(rc));
        w->started = true;
    }
    return b;
}

bool batcher_loaded(Batcher *b) {
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    bool ok = b->n_loaded == b->n_workers;
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    return ok;
}

const char *batcher_load_error(Batcher *b) {
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    const char *e = b->n_failed ? b->load_error : NULL;
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    return e;
}

int batcher_submit(Batcher *b, ServeJob *job) {
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    if (b->stopping || b->queued_items + job->n_items > b->capacity) {
        PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
        return -1;
    }
    job->t_enqueue = now_seconds();
    job->next_item = 0;
    job->next = NULL;
    job->queued = true;
    if (b->tail) b->tail->next = job;
    else b->head = job;
    b->tail = job;
    b->queued_items += job->n_items;
    b->queued_rows += job->n_rows;
    PTHREAD_CHECK(pthread_cond_broadcast(&b->cv));
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    return 0;
}

bool batcher_withdraw(Batcher *b, ServeJob *job) {
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    int untaken = 0;
    if (job->queued) {
        untaken = job->n_items - job->next_item;
        b->queued_items -= untaken;
        for (int i = job->next_item; i < job->n_items; i++) b->queued_rows -= job->item_rows[i];
        job->next_item = job->n_items;
        // unlink
        ServeJob **pp = &b->head, *prev = NULL;
        while (*pp && *pp != job) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = job->next;
            if (b->tail == job) b->tail = prev;
        }
        job->next = NULL;
        job->queued = false;
    }
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    if (untaken == 0) return false;  // every item is with a worker: the last one sends "done"
    // withdrawn items count as done; if that was the last of them, no worker holds the job
    return atomic_fetch_sub_explicit(&job->remaining, untaken, memory_order_acq_rel) == untaken;
}

long batcher_queued_items(Batcher *b) {
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    long n = b->queued_items;
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    return n;
}

long batcher_capacity(const Batcher *b) { return b->capacity; }

int batcher_threads_per_worker(const Batcher *b) { return b->n_workers ? b->workers[0].omp_threads : 0; }

void batcher_stop(Batcher *b, bool discard_queue) {
    if (!b) return;
    PTHREAD_CHECK(pthread_mutex_lock(&b->mu));
    b->stopping = true;
    while (discard_queue && b->head) {
        ServeJob *job = b->head;
        b->head = job->next;
        atomic_fetch_sub(&job->remaining, job->n_items - job->next_item);
        job->next_item = job->n_items;
        job->next = NULL;
        job->queued = false;
    }
    if (discard_queue) {
        b->tail = NULL;
        b->queued_items = 0;
        b->queued_rows = 0;
    }
    PTHREAD_CHECK(pthread_cond_broadcast(&b->cv));
    PTHREAD_CHECK(pthread_mutex_unlock(&b->mu));
    for (int i = 0; i < b->n_workers; i++)
        if (b->workers[i].started) PTHREAD_CHECK(pthread_join(b->workers[i].tid, NULL));
    PTHREAD_CHECK(pthread_cond_destroy(&b->cv));
    PTHREAD_CHECK(pthread_mutex_destroy(&b->mu));
    free(b->workers);
    free(b);
}
