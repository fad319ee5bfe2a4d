// fuzz_config.c: the YAML config loader with --x.y=z overrides (src/config/): input = global YAML
// \0 input YAML \0 output YAML \0 overrides (one per line, "g.key=value" without the "--"). Any
// bytes load or give one error message (file, line, key), never a crash or an exit; a loaded
// config writes its effective YAML.
#include <stdint.h>

#include "config/config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"g.yaml", "i.yaml", "o.yaml"};
    ConfigSources src;
    memset(&src, 0, sizeof src);
    StrList *lists[] = {&src.global_files, &src.input_files, &src.output_files};
    for (int k = 0; k < 3; k++) {
        size_t n;
        char *part = fuzz_part(data, size, k, &n);
        strlist_push(lists[k], fuzz_write_file(names[k], part, n));
        free(part);
    }
    char *ov = fuzz_part(data, size, 3, NULL);
    for (char *line = strtok(ov, "\n"); line; line = strtok(NULL, "\n")) strlist_push(&src.overrides, line);
    free(ov);
    ExperimentConfig cfg;
    char err[4096];
    if (config_try_load_flags(&cfg, &src, CONFIG_NO_PATH_CHECKS, err, sizeof err) == 0) {
        static const char *const which[] = {"global_config", "input_configs", "output_configs", "fusion_config"};
        for (int k = 0; k < 4; k++) free(config_effective_yaml(&cfg, which[k], k == 1));
        config_free(&cfg);
    }
    config_sources_free(&src);
    return 0;
}
