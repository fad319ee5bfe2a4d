// serve_batcher.h: dynamic batching. Requests become jobs (decoded bytes of n items); jobs wait in
// one bounded FIFO; worker threads, each with its own Predictor (a Predictor holds activations),
// take up to max_batch rows across jobs (an item is one row, or with --crops one row per crop;
// an item with more crops than max_batch goes alone, over several passes), run the forward
// pass, render each item's JSON (the mean over its crops) and,
// when a job's last item is done, hand the job back to the event loop through an h2o
// multithread message. Workers never touch h2o requests (spec §10).
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "serve/serve.h"
#include "serve/serve_metrics.h"

typedef struct ServeJob {
    // Set by the loop thread before batcher_submit, read-only afterwards.
    int n_items, n_inputs;
    const uint8_t **bytes;  // [n_items * n_inputs]: each decoded value (its first max_length bytes without --crops)
    size_t *lens;
    int64_t *item_rows;     // [n_items]: forward rows of each item (1, or its crop count)
    int64_t n_rows;         // their sum
    uint8_t *data;          // the block the bytes point into
    double t_arrival;       // now_seconds() when the request was complete
    // Results: one JSON text per item, written by whichever worker ran it.
    char **item_json;
    size_t *item_len;
    atomic_int remaining;      // items not yet finished (computed, skipped or withdrawn)
    atomic_int failed_status;  // 0, or the status the whole request is answered with (503 timeout)
    // Batcher state, under its lock.
    int next_item;  // first item not taken by a worker
    double t_enqueue;
    struct ServeJob *next;
    bool queued;
    // Loop-thread state.
    h2o_multithread_message_t msg;  // "all items done", sent by the worker that finished the last one
    void *owner;                    // the HTTP side's handle for the request; NULL once the client is gone
    bool batcher_done;              // the batcher no longer refers to the job
} ServeJob;

// A job for n_items samples with room for data_bytes of decoded input (job->data).
ServeJob *job_create(int n_items, int n_inputs, size_t data_bytes);
void job_free(ServeJob *job);

typedef struct Batcher Batcher;

// Starts the workers; each loads its own Predictor from opt->model_path. `done` receives finished
// jobs (their `msg`); `control` receives one message when every worker is loaded or one failed
// (then see batcher_loaded / batcher_load_error). Both receivers belong to the loop thread.
Batcher *batcher_start(const ServeOptions *opt, ServeMetrics *metrics, h2o_multithread_receiver_t *done,
                       h2o_multithread_receiver_t *control);
// Outcome of loading, for the control message: 0 = all workers ready, else a message.
const char *batcher_load_error(Batcher *b);
bool batcher_loaded(Batcher *b);
// Queues the job's items. Returns 0, or -1 when the queue has no room for them (answer 503).
int batcher_submit(Batcher *b, ServeJob *job);
// The client is gone: withdraws the items no worker took yet. Returns true when no worker holds
// any of the job's items any more (no "done" message will come: the caller owns the job again).
bool batcher_withdraw(Batcher *b, ServeJob *job);
long batcher_queued_items(Batcher *b);
long batcher_capacity(const Batcher *b);
int batcher_threads_per_worker(const Batcher *b);
// Stops the workers and joins them; frees the batcher. Queued items are run first, unless
// discard_queue (the drain timed out): then they are dropped (their jobs stay with their owners).
void batcher_stop(Batcher *b, bool discard_queue);
