// fuzz_predict_request.c: the body of POST /predict (serve/serve_request.c): JSON, item objects,
// input names, base64 values, max_items. Any body gives a job or a 400/413 with a message.
#include <stdint.h>

#include "serve/serve_request.h"

static ServeModel model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    ModelConfig *mc = &model.config;
    mc->n_inputs = 2;
    const char *names[] = {"txt", "bin"};
    int lengths[] = {64, 16};
    for (int i = 0; i < 2; i++) {
        strcpy(mc->inputs[i].name, names[i]);
        mc->inputs[i].max_length = lengths[i];
    }
    mc->n_targets = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    RequestError e;
    int crops = size & 1 ? 1 : 0;  // both ways of keeping values: cut to max_length (1) and whole (all)
    ServeJob *job = predict_request_parse((const char *)data, size, &model, 8, crops, &e);
    if (job) {
        job_free(job);
    } else if ((e.status != 400 && e.status != 413) || !e.message[0]) {
        abort();  // every refusal is a 400 or 413 that says why
    }
    return 0;
}
