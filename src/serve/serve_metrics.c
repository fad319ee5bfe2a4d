// serve_metrics.c: counters and fixed-bucket histograms behind one mutex. Updates are a few per
// request or batch, far below what a mutex costs to matter; the loop thread and the workers share it.
#include "serve/serve_metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/fmt.h"

#define MAX_BUCKETS 16
#define MAX_RESPONSE_KEYS 64

typedef struct {
    int n;
    double le[MAX_BUCKETS];        // upper bounds, ascending (+Inf implied)
    uint64_t count[MAX_BUCKETS + 1];  // per bucket (not cumulative); last = above every bound
    double sum;
    uint64_t total;
} Histogram;

typedef struct {
    char path[32];  // a route's path, or "other" (serve_http.c decides: clients cannot grow the set)
    int status;
    uint64_t count;
} ResponseCount;

struct ServeMetrics {
    pthread_mutex_t mu;
    ResponseCount responses[MAX_RESPONSE_KEYS];
    int n_responses;
    uint64_t items, batches, cancelled;
    Histogram batch_rows, queue_wait, latency, forward;
};

static void hist_init(Histogram *h, const double *le, int n) {
    memset(h, 0, sizeof *h);
    h->n = n;
    memcpy(h->le, le, sizeof(double) * (size_t)n);
}

static void hist_observe(Histogram *h, double v) {
    int b = 0;
    while (b < h->n && v > h->le[b]) b++;
    h->count[b]++;
    h->sum += v;
    h->total++;
}

ServeMetrics *metrics_create(void) {
    ServeMetrics *m = calloc_check(1, sizeof *m);
    PTHREAD_CHECK(pthread_mutex_init(&m->mu, NULL));
    static const double rows[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    static const double secs[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    hist_init(&m->batch_rows, rows, (int)(sizeof rows / sizeof *rows));
    hist_init(&m->queue_wait, secs, (int)(sizeof secs / sizeof *secs));
    hist_init(&m->latency, secs, (int)(sizeof secs / sizeof *secs));
    hist_init(&m->forward, secs, (int)(sizeof secs / sizeof *secs));
    return m;
}

void metrics_free(ServeMetrics *m) {
    if (!m) return;
    PTHREAD_CHECK(pthread_mutex_destroy(&m->mu));
    free(m);
}

void metrics_count_response(ServeMetrics *m, const char *label, int status) {
    PTHREAD_CHECK(pthread_mutex_lock(&m->mu));
    int i = 0;
    while (i < m->n_responses && (m->responses[i].status != status || strcmp(m->responses[i].path, label))) i++;
    if (i == m->n_responses && i < MAX_RESPONSE_KEYS) {
        snprintf(m->responses[i].path, sizeof m->responses[i].path, "%s", label);
        m->responses[i].status = status;
        m->n_responses++;
    }
    if (i < MAX_RESPONSE_KEYS) m->responses[i].count++;
    PTHREAD_CHECK(pthread_mutex_unlock(&m->mu));
}

void metrics_observe_predict(ServeMetrics *m, int items, double seconds) {
    PTHREAD_CHECK(pthread_mutex_lock(&m->mu));
    m->items += (uint64_t)items;
    hist_observe(&m->latency, seconds);
    PTHREAD_CHECK(pthread_mutex_unlock(&m->mu));
}

void metrics_count_cancelled(ServeMetrics *m) {
    PTHREAD_CHECK(pthread_mutex_lock(&m->mu));
    m->cancelled++;
    PTHREAD_CHECK(pthread_mutex_unlock(&m->mu));
}

void metrics_observe_batch(ServeMetrics *m, int rows, double seconds) {
    PTHREAD_CHECK(pthread_mutex_lock(&m->mu));
    m->batches++;
    hist_observe(&m->batch_rows, rows);
    hist_observe(&m->forward, seconds);
    PTHREAD_CHECK(pthread_mutex_unlock(&m->mu));
}

void metrics_observe_queue_wait(ServeMetrics *m, double seconds) {
    PTHREAD_CHECK(pthread_mutex_lock(&m->mu));
    hist_observe(&m->queue_wait, seconds);
    PTHREAD_CHECK(pthread_mutex_unlock(&m->mu));
}

static void render_hist(StrBuf *sb, const char *name, const char *help, const Histogram *h) {
    char num[40];
    sb_printf(sb, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < h->n; b++) {
        cum += h->count[b];
        sb_printf(sb, "%s_bucket{le=\"%s\"} %llu\n", name, fmt_double_repr(num, sizeof num, h->le[b]),
                  (unsigned long long)cum);
    }
    sb_printf(sb, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->total);
    sb_printf(sb, "%s_sum %s\n%s_count %llu\n", name, fmt_double_repr(num, sizeof num, h->sum), name,
              (unsigned long long)h->total);
}

static void render_gauge(StrBuf *sb, const char *name, const char *help, long long v) {
    sb_printf(sb, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

void metrics_render(ServeMetrics *m, const MetricsGauges *g, StrBuf *sb) {
    PTHREAD_CHECK(pthread_mutex_lock(&m->mu));
    sb_puts(sb, "# HELP eir_serve_requests_total HTTP requests answered, by path and status code.\n"
                "# TYPE eir_serve_requests_total counter\n");
    for (int i = 0; i < m->n_responses; i++)
        sb_printf(sb, "eir_serve_requests_total{path=\"%s\",code=\"%d\"} %llu\n", m->responses[i].path,
                  m->responses[i].status, (unsigned long long)m->responses[i].count);
    sb_puts(sb, "# HELP eir_serve_errors_total HTTP requests answered with a status >= 400, by status code.\n"
                "# TYPE eir_serve_errors_total counter\n");
    int codes[MAX_RESPONSE_KEYS], n_codes = 0;
    for (int i = 0; i < m->n_responses; i++) {
        int c = m->responses[i].status, k = 0;
        if (c < 400) continue;
        while (k < n_codes && codes[k] != c) k++;
        if (k == n_codes) codes[n_codes++] = c;
    }
    for (int k = 0; k < n_codes; k++) {
        uint64_t total = 0;
        for (int i = 0; i < m->n_responses; i++)
            if (m->responses[i].status == codes[k]) total += m->responses[i].count;
        sb_printf(sb, "eir_serve_errors_total{code=\"%d\"} %llu\n", codes[k], (unsigned long long)total);
    }
    sb_printf(sb,
              "# HELP eir_serve_items_total Samples predicted and answered.\n# TYPE eir_serve_items_total counter\n"
              "eir_serve_items_total %llu\n",
              (unsigned long long)m->items);
    sb_printf(sb,
              "# HELP eir_serve_batches_total Forward passes run by the workers.\n"
              "# TYPE eir_serve_batches_total counter\neir_serve_batches_total %llu\n",
              (unsigned long long)m->batches);
    sb_printf(sb,
              "# HELP eir_serve_cancelled_total Requests whose client disconnected before the answer.\n"
              "# TYPE eir_serve_cancelled_total counter\neir_serve_cancelled_total %llu\n",
              (unsigned long long)m->cancelled);
    render_hist(sb, "eir_serve_batch_size", "Rows per forward pass (items pooled from all requests).", &m->batch_rows);
    render_hist(sb, "eir_serve_queue_wait_seconds", "Time an item waited in the queue before a worker took it.",
                &m->queue_wait);
    render_hist(sb, "eir_serve_request_duration_seconds",
                "Latency of successful /predict requests, from the complete request to the answer.", &m->latency);
    render_hist(sb, "eir_serve_forward_seconds", "Duration of one forward pass.", &m->forward);
    PTHREAD_CHECK(pthread_mutex_unlock(&m->mu));
    render_gauge(sb, "eir_serve_ready", "1 when the node accepts predictions, 0 while loading or draining.", g->ready);
    render_gauge(sb, "eir_serve_draining", "1 after SIGTERM, while in-flight requests finish.", g->draining);
    render_gauge(sb, "eir_serve_queue_items", "Items waiting for a worker.", g->queue_items);
    render_gauge(sb, "eir_serve_queue_capacity_items", "Items the queue holds before answering 503.", g->queue_capacity);
    render_gauge(sb, "eir_serve_inflight_requests", "Requests received and not yet fully answered.", g->inflight_requests);
    render_gauge(sb, "eir_serve_workers", "Inference worker threads (one model copy each).", g->workers);
    render_gauge(sb, "eir_serve_threads_per_worker", "OpenMP threads of each worker.", g->threads_per_worker);
    render_gauge(sb, "eir_serve_max_batch", "Largest forward pass, in rows.", g->max_batch);
    render_gauge(sb, "eir_serve_model_parameters", "Parameters of the served model.", (long long)g->model_parameters);
    sb_printf(sb, "# HELP eir_serve_http2_body_limit_413_total HTTP/2 requests answered 413 while their body was still "
                  "arriving (not in eir_serve_requests_total).\n# TYPE eir_serve_http2_body_limit_413_total counter\n"
                  "eir_serve_http2_body_limit_413_total %ld\n",
              g->http2_body_limit_answers);
}
