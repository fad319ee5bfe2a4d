// fuzz_base64.c: Python-compatible non-validating base64 decoding (serve_base64.c), the first
// thing eir-serve does with a request's bytes. Checks: no memory error; the decoded length never
// exceeds 3/4 of the input; into a smaller buffer (the model reads max_length bytes) exactly its
// room is written, the same bytes as the full decode, and the full length is still reported.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t cap = size / 4 * 3 + 3;
    uint8_t *out = malloc(cap);
    size_t n = 0, m = 0;
    char err[256];
    int rc = b64_decode_python((const char *)data, size, out, cap, &n, err, sizeof err);
    if (rc == 0 && n > cap) abort();
    size_t half = cap / 2;
    uint8_t *small = malloc(half ? half : 1);  // exactly its room: ASan sees any write past it
    int rc2 = b64_decode_python((const char *)data, size, small, half, &m, err, sizeof err);
    if (rc2 != rc || (rc == 0 && (m != n || memcmp(small, out, n < half ? n : half) != 0))) abort();
    free(small);
    free(out);
    return 0;
}
