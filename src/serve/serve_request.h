// serve_request.h: the body of POST /predict (spec §6) -> a job of decoded samples, or the reason
// it is refused. Body: a JSON array of objects, one per sample, each holding every model input
// name with the base64 of the raw file (Python's non-validating b64decode). Unlike EIR (422/500,
// extra keys ignored) every mistake is a 400 naming the item and key; too many items is a 413.
#pragma once
#include <stddef.h>

#include "serve/serve.h"
#include "serve/serve_batcher.h"

typedef struct {
    int status;         // 400 or 413
    char message[640];  // says what is wrong and where (item index, key)
} RequestError;

// Returns the job, or NULL with *e set. crops: the crop mode (infer/crops.h); with 1 each value
// is cut to its input's max_length (all that is read), otherwise kept whole, and each item's
// forward rows (job->item_rows) are its crop count.
ServeJob *predict_request_parse(const char *body, size_t len, const ServeModel *m, long max_items, int crops,
                                RequestError *e);
