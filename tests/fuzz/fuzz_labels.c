// fuzz_labels.c: the labels CSV as eir-dist reads it (data/labels.c over data/csv.c): the ID
// column, a categorical and a continuous target, duplicate and missing IDs, numbers. Any bytes
// give a label set or one error message, never a crash.
#include <stdint.h>

#include "config/config.h"
#include "data/labels.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    OutputConfig oc;
    memset(&oc, 0, sizeof oc);
    oc.output_source = (char *)fuzz_write_file("labels.csv", data, size);
    oc.output_name = "out";
    strlist_push(&oc.target_cat_columns, "Label");
    strlist_push(&oc.target_con_columns, "Value");
    LabelSet ls;
    char err[EIR_ERR_LEN];
    if (labels_load(&ls, &oc, 1, err, sizeof err) == 0) {
        for (int64_t i = 0; i < ls.n_ids && i < 4; i++) (void)labels_row_has_target(&ls, i);
        labels_free(&ls);
    }
    strlist_free(&oc.target_cat_columns);
    strlist_free(&oc.target_con_columns);
    return 0;
}
