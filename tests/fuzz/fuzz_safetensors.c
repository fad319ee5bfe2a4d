// fuzz_safetensors.c: the safetensors reader under model files, training states and checkpoints
// (common/safetensors.c): header JSON, dtypes, shapes, offsets, the checksum. Any bytes open or
// give one error message; every tensor of an opened file can be copied, and its bytes lie inside the file.
#include <stdint.h>

#include "common/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("st.safetensors", data, size);
    for (int flags = ST_OPEN_DEFAULT; flags <= ST_OPEN_SKIP_CHECKSUM; flags++) {
        char err[1024];
        SafeTensors *st = safetensors_open(path, flags, err, sizeof err);
        if (!st) continue;
        for (int i = 0; i < safetensors_count(st); i++) {
            const StTensor *t = safetensors_tensor_at(st, i);
            if (t->nbytes > (64u << 20)) continue;
            void *buf = malloc(t->nbytes ? t->nbytes : 1);
            (void)safetensors_copy(st, t->name, t->dtype, buf, t->numel, err, sizeof err);
            free(buf);
            // every byte the table promises lies inside the mapping
            const volatile uint8_t *p = t->data;
            uint8_t acc = 0;
            for (size_t b = 0; b < t->nbytes; b++) acc ^= p[b];
            (void)acc;
        }
        for (int i = 0; i < safetensors_metadata_count(st); i++) {
            const char *k, *v;
            safetensors_metadata_at(st, i, &k, &v);
            (void)strlen(k), (void)strlen(v);
        }
        safetensors_close(st);
    }
    return 0;
}
