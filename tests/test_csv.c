// test_csv.c: the RFC 4180 reader: quoting, escapes, embedded separators and line breaks, CRLF,
// BOM, missing cells, line numbers, and each error with its message.
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/csv.h"
#include "test_util.h"

static int parse(const char *text, CsvTable *t, char *err) {
    err[0] = '\0';
    return csv_parse(text, strlen(text), "t.csv", t, err, EIR_ERR_LEN);
}

static void test_basic(void) {
    CsvTable t;
    char err[EIR_ERR_LEN];
    CHECK_EQ_INT(parse("ID,Label,Age\na,x,1\nb,,2\nc,z,\n", &t, err), 0);
    CHECK_EQ_INT(t.n_cols, 3);
    CHECK_EQ_INT(t.n_rows, 3);
    CHECK_STR(t.header[0], "ID");
    CHECK_STR(t.header[2], "Age");
    CHECK_EQ_INT(t.header_line, 1);
    CHECK_STR(t.rows[0].fields[1], "x");
    CHECK(t.rows[1].fields[1] == NULL);  // empty cell = missing
    CHECK(t.rows[2].fields[2] == NULL);  // trailing empty cell
    CHECK_EQ_INT(t.rows[0].line, 2);
    CHECK_EQ_INT(t.rows[2].line, 4);
    CHECK_EQ_INT(csv_column(&t, "Label"), 1);
    CHECK_EQ_INT(csv_column(&t, "label"), -1);
    csv_free(&t);

    // no final newline
    CHECK_EQ_INT(parse("a,b\n1,2", &t, err), 0);
    CHECK_EQ_INT(t.n_rows, 1);
    CHECK_STR(t.rows[0].fields[1], "2");
    csv_free(&t);

    // trailing comma at the very end: one more (empty) field
    CHECK_EQ_INT(parse("a,b\n1,", &t, err), 0);
    CHECK_EQ_INT(t.n_rows, 1);
    CHECK(t.rows[0].fields[1] == NULL);
    csv_free(&t);
}

static void test_quotes(void) {
    CsvTable t;
    char err[EIR_ERR_LEN];
    const char *text =
        "ID,Text,N\n"
        "\"a\",\"hello, world\",1\n"               // line 2: embedded comma
        "b,\"say \"\"hi\"\"\",2\n"                // line 3: escaped quotes
        "c,\"two\nlines\r\nthree\",3\n"           // lines 4-6: embedded LF and CRLF
        "d,\"\",4\n"                              // line 7: quoted empty = missing
        "e,plain\"quote,5\n";                     // line 8: stray quote in an unquoted field kept
    CHECK_EQ_INT(parse(text, &t, err), 0);
    CHECK_EQ_INT(t.n_rows, 5);
    CHECK_STR(t.rows[0].fields[0], "a");
    CHECK_STR(t.rows[0].fields[1], "hello, world");
    CHECK_STR(t.rows[1].fields[1], "say \"hi\"");
    CHECK_STR(t.rows[2].fields[1], "two\nlines\r\nthree");
    CHECK(t.rows[3].fields[1] == NULL);
    CHECK_STR(t.rows[4].fields[1], "plain\"quote");
    CHECK_EQ_INT(t.rows[0].line, 2);
    CHECK_EQ_INT(t.rows[1].line, 3);
    CHECK_EQ_INT(t.rows[2].line, 4);
    CHECK_EQ_INT(t.rows[3].line, 7);
    CHECK_EQ_INT(t.rows[4].line, 8);
    csv_free(&t);

    // quoted header names
    CHECK_EQ_INT(parse("\"ID\",\"Two words\"\n1,2\n", &t, err), 0);
    CHECK_EQ_INT(csv_column(&t, "Two words"), 1);
    csv_free(&t);
}

static void test_line_ends_bom(void) {
    CsvTable t;
    char err[EIR_ERR_LEN];
    CHECK_EQ_INT(parse("\xEF\xBB\xBFID,Y\r\na,1\r\n\r\nb,2\r\n", &t, err), 0);
    CHECK_STR(t.header[0], "ID");  // BOM stripped
    CHECK_EQ_INT(t.n_rows, 2);      // blank line skipped
    CHECK_STR(t.rows[0].fields[1], "1");  // no stray CR
    CHECK_STR(t.rows[1].fields[0], "b");
    CHECK_EQ_INT(t.rows[1].line, 4);
    csv_free(&t);

    // mixed LF / CRLF, blank lines at the start and end
    CHECK_EQ_INT(parse("\n\nID,Y\na,1\r\nb,2\n\n\n", &t, err), 0);
    CHECK_EQ_INT(t.header_line, 3);
    CHECK_EQ_INT(t.n_rows, 2);
    CHECK_EQ_INT(t.rows[1].line, 5);
    csv_free(&t);

    // a BOM-only / whitespace-free empty file is an error, header-only is fine here (labels decide)
    CHECK_EQ_INT(parse("ID,Y\n", &t, err), 0);
    CHECK_EQ_INT(t.n_rows, 0);
    csv_free(&t);
}

static void test_errors(void) {
    CsvTable t;
    char err[EIR_ERR_LEN];

    CHECK_EQ_INT(parse("ID,Y\na,1\nb,2,3\n", &t, err), -1);
    CHECK_MSG(strstr(err, "t.csv:3:") && strstr(err, "3 fields") && strstr(err, "has 2"), "%s", err);

    CHECK_EQ_INT(parse("ID,Y\na,1\nb\n", &t, err), -1);
    CHECK_MSG(strstr(err, "t.csv:3:") && strstr(err, "1 field "), "%s", err);

    CHECK_EQ_INT(parse("ID,Y\na,1\nb,\"open\nstill open\n", &t, err), -1);
    CHECK_MSG(strstr(err, "t.csv:3:") && strstr(err, "unterminated"), "%s", err);

    CHECK_EQ_INT(parse("ID,Y\na,\"x\"y\n", &t, err), -1);
    CHECK_MSG(strstr(err, "t.csv:2:") && strstr(err, "after a closing quote"), "%s", err);

    CHECK_EQ_INT(parse("", &t, err), -1);
    CHECK_MSG(strstr(err, "t.csv") && strstr(err, "empty"), "%s", err);
    CHECK_EQ_INT(parse("\xEF\xBB\xBF\n\n", &t, err), -1);
    CHECK_MSG(strstr(err, "empty"), "%s", err);

    CHECK_EQ_INT(parse("ID,Y,ID\n1,2,3\n", &t, err), -1);
    CHECK_MSG(strstr(err, "t.csv:1:") && strstr(err, "'ID' appears twice"), "%s", err);

    const char nul[] = "ID,Y\na,b\0c\n";
    CHECK_EQ_INT(csv_parse(nul, sizeof nul - 1, "t.csv", &t, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "t.csv:2:") && strstr(err, "NUL"), "%s", err);

    CHECK_EQ_INT(csv_read_file("/nonexistent/dir/labels.csv", &t, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "/nonexistent/dir/labels.csv"), "%s", err);
}

// csv_read_file_or_die ends the program with code 2 and the message on stderr.
static void test_die(void) {
    char dir[] = "/tmp/eir_csv_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], errpath[256];
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("ID,Y\r\n1,2\r\n3\r\n", f);
    fclose(f);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        CHECK(freopen(errpath, "w", stderr) != NULL);
        CsvTable t;
        csv_read_file_or_die(path, &t);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 2);
    char msg[1024] = {0};
    f = fopen(errpath, "r");
    CHECK(f != NULL);
    if (f) {
        size_t n = fread(msg, 1, sizeof msg - 1, f);
        msg[n] = '\0';
        fclose(f);
    }
    CHECK_MSG(strstr(msg, "bad.csv:3:"), "stderr was: %s", msg);
    unlink(path);
    unlink(errpath);
    rmdir(dir);
}

int main(void) {
    test_basic();
    test_quotes();
    test_line_ends_bom();
    test_errors();
    test_die();
    TEST_MAIN_END();
}
