// serve.h: what the parts of eir-serve share: the command-line options and the description of the
// served model (read once from the model file; spec §6, §10).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "infer/model_io.h"

typedef struct {
    const char *model_path;
    const char *host;
    int port;                   // 0: any free port (printed when listening)
    int threads;                // CPU threads for inference, all workers together
    int workers;                // inference worker threads, each with its own model copy
    int max_batch;              // rows per forward pass
    long max_delay_us;          // how long a partial batch waits for more items
    long max_queue_items;       // queued items before new requests get 503
    long max_items;             // items per request
    size_t max_body_bytes;      // request body limit
    long request_timeout_ms;    // an item still queued after this long is answered 503
    int idle_timeout_s;         // HTTP/1 request and HTTP/2 idle timeout
    int drain_timeout_s;        // SIGTERM: longest wait for in-flight requests
    const char *tls_cert, *tls_key;
    int crops;                  // crop mode (infer/crops.h): 1 = EIR's first max_length bytes; CROPS_ALL (0)
                                // or N: the mean over a value's crops (set it: 0 is "all")
    int cuda_device;            // -1: the forward pass runs on the CPU; else this CUDA device
    char device_name[32];       // "cpu" or "cuda:N", for /info and the log
} ServeOptions;

// The served model as the HTTP side sees it: inputs, targets, size, file.
typedef struct {
    ModelConfig config;
    ModelMeta meta;
    size_t num_parameters;
    char *path;  // as given on the command line
} ServeModel;
