// csv.h: an RFC 4180 CSV reader for the label files (spec §2.1), and the cell quoting of the
// CSV files eir-dist writes.
// Quoted fields with "" escapes, commas and line breaks inside quotes, CRLF or LF line ends, a
// UTF-8 byte order mark at the start is skipped. Empty cells (quoted or not) are missing (NULL),
// as polars reads them. Every row remembers the 1-based line of the file it starts on, so label
// errors can point at the line. Errors come back as a message; the caller decides whether to die.
#pragma once
#include <stddef.h>

#include "common/util.h"  // StrBuf

// Size of the error buffers the data layer fills (messages are truncated to fit).
#define EIR_ERR_LEN 2048

typedef struct {
    char **fields;  // n_cols pointers into the table's text; NULL = missing (empty cell)
    int line;       // 1-based line on which the row starts
} CsvRow;

typedef struct {
    char *path;      // name used in messages (copy)
    int n_cols;
    char **header;   // n_cols column names (never NULL; an empty name is "")
    int header_line;
    CsvRow *rows;    // data rows, file order; fully blank lines are skipped
    int n_rows;
    char *text;      // one buffer holding every unescaped, NUL-terminated field
    char **cells;    // one block holding every row's field pointers
} CsvTable;

// Parses data[0..len) (need not be NUL-terminated). name is used in messages only.
// Returns 0, or -1 with a message "name:line: ..." in err (and *out left empty).
int csv_parse(const char *data, size_t len, const char *name, CsvTable *out, char *err, size_t errlen);
// Reads and parses a file; -1 with a message on I/O or format errors.
int csv_read_file(const char *path, CsvTable *out, char *err, size_t errlen);
// Same, but a failure ends the program with exit code 2 (eir_die_user).
void csv_read_file_or_die(const char *path, CsvTable *out);
// Index of the column named name, or -1.
int csv_column(const CsvTable *t, const char *name);
void csv_free(CsvTable *t);
// Appends one CSV cell: as is, or quoted ("" for ") when it holds a comma, quote or line break.
void csv_append_cell(StrBuf *sb, const char *s);
