// fuzz_csv.c: the labels CSV reader (data/csv.c): any bytes parse to a table or to one error
// message, never a crash; every cell of a parsed table is readable.
#include <stdint.h>
#include <string.h>

#include "data/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    CsvTable t;
    char err[512];
    if (csv_parse((const char *)data, size, "fuzz.csv", &t, err, sizeof err) != 0) return 0;
    size_t total = 0;
    for (int c = 0; c < t.n_cols; c++) total += strlen(t.header[c]);
    for (int r = 0; r < t.n_rows; r++)
        for (int c = 0; c < t.n_cols; c++)
            if (t.rows[r].fields[c]) total += strlen(t.rows[r].fields[c]);
    (void)csv_column(&t, "ID");
    (void)total;
    csv_free(&t);
    return 0;
}
