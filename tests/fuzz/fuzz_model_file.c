// fuzz_model_file.c: the model-file loader (infer/model_io.c) past the checksum: input = the
// model_config JSON \0 the targets JSON, written as the metadata of a safetensors file with a
// valid checksum and no tensors, then loaded as eir-predict and eir-serve load a model. Any
// configuration is refused with a message before anything large is allocated (the memory check
// runs under a 256 MiB --max-memory), or builds a model that then lacks its tensors.
#include <stdint.h>

#include "common/safetensors.h"
#include "common/sysmem.h"
#include "fuzz_common.h"
#include "infer/model_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    sysmem_set_limit(256u << 20);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *mcj = fuzz_part(data, size, 0, NULL), *tj = fuzz_part(data, size, 1, NULL);
    SafeTensorsWriter *w = safetensors_writer_new();
    safetensors_writer_set_metadata(w, "eir_dist_format", "model");
    safetensors_writer_set_metadata(w, "format_version", "1");
    safetensors_writer_set_metadata(w, "model_config", mcj);
    safetensors_writer_set_metadata(w, "targets", tj);
    const char *path = fuzz_write_file("model.safetensors", "", 0);
    char err[2048];
    if (safetensors_write(w, path, true, err, sizeof err) == 0) {
        Model m;
        ModelMeta meta;
        if (model_io_load(path, &m, &meta, err, sizeof err) == 0) {
            model_free(&m);
            model_meta_free(&meta);
        }
    }
    safetensors_writer_free(w);
    free(mcj);
    free(tj);
    return 0;
}
