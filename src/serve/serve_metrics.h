// serve_metrics.h: the server's counters and histograms, written by the event loop and the
// inference workers, rendered for GET /metrics in the Prometheus text format (version 0.0.4).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct ServeMetrics ServeMetrics;

ServeMetrics *metrics_create(void);
void metrics_free(ServeMetrics *m);

// One HTTP answer (every status, including the ones h2o writes itself); label: the route's path,
// or "other" for any path that is not a route.
void metrics_count_response(ServeMetrics *m, const char *label, int status);
// A /predict request answered with 200: its items and the time from arrival to the answer.
void metrics_observe_predict(ServeMetrics *m, int items, double seconds);
// A request whose client went away before its answer was ready.
void metrics_count_cancelled(ServeMetrics *m);
// One forward pass of the workers: rows and seconds.
void metrics_observe_batch(ServeMetrics *m, int rows, double seconds);
// Time an item waited in the queue before a worker took it.
void metrics_observe_queue_wait(ServeMetrics *m, double seconds);

// Gauges sampled when /metrics is rendered.
typedef struct {
    int ready;               // 1 when serving, 0 while loading or draining
    int draining;
    long queue_items, queue_capacity;
    long inflight_requests;  // requests the node has not finished answering
    int workers, threads_per_worker, max_batch;
    size_t model_parameters;
    long http2_body_limit_answers;  // 413s the HTTP/2 body guard wrote itself (serve_h2_guard.c)
} MetricsGauges;

// Appends the exposition text to sb.
void metrics_render(ServeMetrics *m, const MetricsGauges *g, StrBuf *sb);
