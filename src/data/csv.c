// csv.c: RFC 4180 CSV parsing into one text buffer plus one block of field pointers.
// Unescaped text is never longer than the input (every field but the last gives up a separator
// byte for its NUL), so the text buffer is sized once and field pointers stay valid while parsing.
#include "data/csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"


int csv_parse(const char *data, size_t len, const char *name, CsvTable *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    if (len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB && (unsigned char)data[2] == 0xBF)
        pos = 3;

    char *text = malloc_check(len + 1);
    size_t tlen = 0;
    // Field offsets into text (SIZE_MAX = missing) for all rows, flattened; fixed up to pointers at the end.
    size_t *offs = NULL, noffs = 0, capoffs = 0;
    int *row_lines = NULL, nrows = 0, caprows = 0;  // includes the header row
    int n_cols = -1, header_line = 0;
    int line = 1;

    while (pos < len) {
        // Fully blank line: skip it (a one-column file's empty cell is indistinguishable; treat as blank).
        if (data[pos] == '\n' || data[pos] == '\r') {
            if (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n') pos++;
            pos++;
            line++;
            continue;
        }
        int row_line = line;
        size_t row_first = noffs;
        for (;;) {
            size_t start = tlen;
            if (pos < len && data[pos] == '"') {
                int open_line = line;
                pos++;
                for (;;) {
                    if (pos >= len) {
                        free(text); free(offs); free(row_lines);
                        return err_fail(err, errlen, "%s:%d: unterminated quoted field (the quote opened here is still open at the end of the file, line %d)",
                                    name, open_line, line);
                    }
                    char c = data[pos];
                    if (c == '"') {
                        if (pos + 1 < len && data[pos + 1] == '"') { text[tlen++] = '"'; pos += 2; continue; }
                        pos++;
                        break;
                    }
                    if (c == '\0') {
                        free(text); free(offs); free(row_lines);
                        return err_fail(err, errlen, "%s:%d: NUL byte inside a field (not a text CSV file?)", name, line);
                    }
                    if (c == '\n' || (c == '\r' && !(pos + 1 < len && data[pos + 1] == '\n'))) line++;
                    text[tlen++] = c;
                    pos++;
                }
                if (pos < len && data[pos] != ',' && data[pos] != '\n' && data[pos] != '\r') {
                    free(text); free(offs); free(row_lines);
                    return err_fail(err, errlen, "%s:%d: unexpected character '%c' after a closing quote (a quote inside a quoted field must be doubled: \"\")",
                                name, line, data[pos]);
                }
            } else {
                // Unquoted: up to the next comma or line end. A stray quote is kept literally (lenient).
                while (pos < len && data[pos] != ',' && data[pos] != '\n' && data[pos] != '\r') {
                    if (data[pos] == '\0') {
                        free(text); free(offs); free(row_lines);
                        return err_fail(err, errlen, "%s:%d: NUL byte inside a field (not a text CSV file?)", name, line);
                    }
                    text[tlen++] = data[pos++];
                }
            }
            text[tlen++] = '\0';
            if (noffs == capoffs) {
                capoffs = capoffs ? 2 * capoffs : 256;
                offs = realloc_check(offs, capoffs * sizeof *offs);
            }
            offs[noffs++] = (tlen - 1 == start) ? SIZE_MAX : start;
            if (pos < len && data[pos] == ',') { pos++; continue; }
            // End of row: a line end or the end of the data.
            if (pos < len) {
                if (data[pos] == '\r' && pos + 1 < len && data[pos + 1] == '\n') pos++;
                pos++;
                line++;
            }
            break;
        }
        int nf = (int)(noffs - row_first);
        if (n_cols < 0) {
            n_cols = nf;
            header_line = row_line;
        } else if (nf != n_cols) {
            free(text); free(offs); free(row_lines);
            return err_fail(err, errlen, "%s:%d: row has %d field%s but the header (line %d) has %d",
                        name, row_line, nf, nf == 1 ? "" : "s", header_line, n_cols);
        }
        if (nrows == caprows) {
            caprows = caprows ? 2 * caprows : 256;
            row_lines = realloc_check(row_lines, (size_t)caprows * sizeof *row_lines);
        }
        row_lines[nrows++] = row_line;
    }

    if (n_cols < 0) {
        free(text); free(offs); free(row_lines);
        return err_fail(err, errlen, "%s: the file is empty (no header line)", name);
    }
    // Header names must be distinct so a column is found unambiguously.
    for (int i = 0; i < n_cols; i++) {
        const char *a = offs[i] == SIZE_MAX ? "" : text + offs[i];
        for (int j = 0; j < i; j++) {
            const char *b = offs[j] == SIZE_MAX ? "" : text + offs[j];
            if (strcmp(a, b) == 0) {
                err_fail(err, errlen, "%s:%d: column name '%s' appears twice in the header", name, header_line, a);
                free(text); free(offs); free(row_lines);
                return -1;
            }
        }
    }

    out->path = strdup_check(name);
    out->text = text;
    out->n_cols = n_cols;
    out->header_line = header_line;
    out->n_rows = nrows - 1;
    out->cells = malloc_check(noffs * sizeof(char *));
    // An empty header name points at its own NUL so header entries are never NULL.
    for (size_t i = 0; i < noffs; i++)
        out->cells[i] = offs[i] == SIZE_MAX ? (i < (size_t)n_cols ? text + tlen - 1 : NULL) : text + offs[i];
    out->header = out->cells;
    out->rows = malloc_check((size_t)(nrows > 1 ? nrows - 1 : 1) * sizeof(CsvRow));
    for (int r = 1; r < nrows; r++) {
        out->rows[r - 1].fields = out->cells + (size_t)r * (size_t)n_cols;
        out->rows[r - 1].line = row_lines[r];
    }
    free(offs);
    free(row_lines);
    return 0;
}

int csv_read_file(const char *path, CsvTable *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return err_fail(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    StrBuf sb = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_append(&sb, buf, n);
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        sb_free(&sb);
        return err_fail(err, errlen, "read error on '%s': %s", path, strerror(saved));
    }
    int rc = csv_parse(sb.data ? sb.data : "", sb.len, path, out, err, errlen);
    sb_free(&sb);
    return rc;
}

void csv_read_file_or_die(const char *path, CsvTable *out) {
    char err[EIR_ERR_LEN];
    if (csv_read_file(path, out, err, sizeof err) != 0) eir_die_user("%s", err);
}

int csv_column(const CsvTable *t, const char *name) {
    for (int i = 0; i < t->n_cols; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

void csv_free(CsvTable *t) {
    free(t->path);
    free(t->text);
    free(t->cells);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

void csv_append_cell(StrBuf *sb, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        sb_puts(sb, s);
        return;
    }
    sb_puts(sb, "\"");
    for (; *s; s++) {
        if (*s == '"') sb_puts(sb, "\"\"");
        else sb_append(sb, s, 1);
    }
    sb_puts(sb, "\"");
}
