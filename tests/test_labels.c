// test_labels.c: label CSVs -> encoded targets (classes as strings in code point order,
// train-only standardisation, missing values) and every user error with its message.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/labels.h"
#include "test_util.h"

static char g_dir[] = "/tmp/eir_labels_XXXXXX";
static char g_paths[16][256];
static int g_npaths = 0;

static const char *write_csv(const char *name, const char *text) {
    char *p = g_paths[g_npaths++];
    snprintf(p, 256, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

static OutputConfig make_output(const char *src, const char *name, int ncat, const char **cat, int ncon, const char **con) {
    OutputConfig oc;
    memset(&oc, 0, sizeof oc);
    oc.output_source = (char *)src;
    oc.output_name = (char *)name;
    oc.target_cat_columns.n = ncat;
    oc.target_cat_columns.items = (char **)cat;
    oc.target_con_columns.n = ncon;
    oc.target_con_columns.items = (char **)con;
    return oc;
}

static int load(const char *csv_text, int ncat, const char **cat, int ncon, const char **con, LabelSet *ls, char *err) {
    const char *p = write_csv("l.csv", csv_text);
    g_npaths--;  // reuse the slot
    OutputConfig oc = make_output(p, "out", ncat, cat, ncon, con);
    err[0] = '\0';
    return labels_load(ls, &oc, 1, err, EIR_ERR_LEN);
}

static void test_encoding(void) {
    LabelSet ls;
    char err[EIR_ERR_LEN];
    const char *cat[] = {"Grade"};
    const char *con[] = {"Age"};
    // Grade as strings even though numeric: "1" < "10" < "2" (numpy unique order).
    const char *text =
        "Age,ID,Grade,Other\n"
        "10,s3,2,x\n"
        "40,s1,10,y\n"
        "20,s2,,z\n"
        "30,s0,1,w\n"
        ",s4,,v\n";  // s4: every target missing
    CHECK_EQ_INT(load(text, 1, cat, 1, con, &ls, err), 0);
    CHECK_MSG(err[0] == '\0', "%s", err);
    CHECK_EQ_INT(ls.n_ids, 5);
    CHECK_STR(ls.ids[0], "s0");
    CHECK_STR(ls.ids[4], "s4");
    CHECK_EQ_INT(ls.n_targets, 2);
    CHECK(ls.targets[0].categorical);
    CHECK(!ls.targets[1].categorical);
    CHECK_EQ_INT(ls.targets[0].n_classes, 3);
    CHECK_STR(ls.targets[0].classes[0], "1");
    CHECK_STR(ls.targets[0].classes[1], "10");
    CHECK_STR(ls.targets[0].classes[2], "2");
    // values [id x target] before fitting: s0 -> ("1"=0, 30), s1 -> ("10"=1, 40), s2 -> (-1, 20), s3 -> ("2"=2, 10)
    CHECK_EQ_INT((int)ls.values[0 * 2 + 0], 0);
    CHECK_CLOSE(ls.values[0 * 2 + 1], 30.0, 1e-6);
    CHECK_EQ_INT((int)ls.values[1 * 2 + 0], 1);
    CHECK(isnan(ls.values[4 * 2 + 1]));  // s4's Age
    CHECK_EQ_INT((int)ls.values[2 * 2 + 0], -1);
    CHECK_EQ_INT((int)ls.values[3 * 2 + 0], 2);
    CHECK(labels_row_has_target(&ls, 0));
    CHECK(!labels_row_has_target(&ls, 4));
    CHECK_EQ_INT(labels_find(&ls, "s3"), 3);
    CHECK_EQ_INT(labels_find(&ls, "s9"), -1);

    // Fit on train = {s0, s2, s3}: Age 30, 20, 10 -> mean 20, population std sqrt(200/3).
    int64_t train[] = {0, 2, 3}, valid[] = {1, 4};
    Split sp = {3, 2, train, valid};
    CHECK_EQ_INT(labels_fit(&ls, &sp, err, sizeof err), 0);
    double sd = sqrt(200.0 / 3.0);
    CHECK_CLOSE(ls.targets[1].mean, 20.0, 1e-12);
    CHECK_CLOSE(ls.targets[1].scale, sd, 1e-12);
    CHECK_CLOSE(ls.targets[1].var, 200.0 / 3.0, 1e-12);
    CHECK_CLOSE(ls.values[0 * 2 + 1], 10.0 / sd, 1e-6);
    CHECK_CLOSE(ls.values[3 * 2 + 1], -10.0 / sd, 1e-6);
    CHECK_CLOSE(ls.values[1 * 2 + 1], 20.0 / sd, 1e-6);  // valid value, train statistics
    CHECK(isnan(ls.values[4 * 2 + 1]));
    labels_free(&ls);

    // A constant continuous column keeps scale 1.
    CHECK_EQ_INT(load("ID,Age\na,5\nb,5\nc,5\n", 0, NULL, 1, con, &ls, err), 0);
    int64_t tr2[] = {0, 1}, va2[] = {2};
    Split sp2 = {2, 1, tr2, va2};
    CHECK_EQ_INT(labels_fit(&ls, &sp2, err, sizeof err), 0);
    CHECK_CLOSE(ls.targets[0].scale, 1.0, 0);
    CHECK_CLOSE(ls.values[2], 0.0, 0);
    labels_free(&ls);
}

static void test_two_outputs(void) {
    LabelSet ls;
    char err[EIR_ERR_LEN];
    const char *p1 = write_csv("a.csv", "ID,Y\nx,cat\ny,dog\n");
    const char *p2 = write_csv("b.csv", "ID,Z\nz,1.5\ny,2.5\n");
    const char *c1[] = {"Y"}, *c2[] = {"Z"};
    OutputConfig oc[2] = {make_output(p1, "o1", 1, c1, 0, NULL), make_output(p2, "o2", 0, NULL, 1, c2)};
    CHECK_EQ_INT(labels_load(&ls, oc, 2, err, sizeof err), 0);
    CHECK_EQ_INT(ls.n_ids, 3);  // union x, y, z
    CHECK_STR(ls.ids[2], "z");
    CHECK_EQ_INT(ls.output_first_target[1], 1);
    CHECK_EQ_INT(ls.targets[1].output_index, 1);
    CHECK_EQ_INT((int)ls.values[2 * 2 + 0], -1);  // z has no Y
    CHECK(isnan(ls.values[0 * 2 + 1]));           // x has no Z
    CHECK_CLOSE(ls.values[1 * 2 + 1], 2.5, 0);
    labels_free(&ls);
}

static char g_err[EIR_ERR_LEN];

static void test_errors(void) {
    LabelSet ls;
    const char *cat[] = {"Y"}, *con[] = {"Age"}, *missing[] = {"Sentiment"};

    CHECK_EQ_INT(load("Name,Y\na,1\n", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv:1:") && strstr(g_err, "no 'ID' column") && strstr(g_err, "'Name', 'Y'"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Text,Label\na,t,1\n", 1, missing, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv:1:") && strstr(g_err, "'Sentiment'") && strstr(g_err, "target_cat_columns") &&
              strstr(g_err, "columns present: 'ID', 'Text', 'Label'"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Y\na,1\nb,2\nc,3\nb,4\n", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv:5:") && strstr(g_err, "duplicate ID 'b'") && strstr(g_err, "line 3"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Y\na,\nb,\n", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv") && strstr(g_err, "'Y' has no values"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Y\n", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv") && strstr(g_err, "no data rows"), "%s", g_err);

    CHECK_EQ_INT(load("", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv") && strstr(g_err, "empty"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Age\na,1.5\nb,NA\n", 0, NULL, 1, con, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv:3:") && strstr(g_err, "'Age'") && strstr(g_err, "'NA'"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Y\na,1\n,2\n", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv:3:") && strstr(g_err, "ID cell is empty"), "%s", g_err);

    CHECK_EQ_INT(load("ID,Y\na,1\nb,\"2\n", 1, cat, 0, NULL, &ls, g_err), -1);
    CHECK_MSG(strstr(g_err, "l.csv:3:") && strstr(g_err, "unterminated"), "%s", g_err);

    // all-missing in one split only (EIR checks full, train and valid)
    CHECK_EQ_INT(load("ID,Y,Age\na,1,1\nb,2,\nc,1,\n", 1, cat, 1, con, &ls, g_err), 0);
    int64_t tr[] = {1, 2}, va[] = {0};
    Split sp = {2, 1, tr, va};
    CHECK_EQ_INT(labels_fit(&ls, &sp, g_err, sizeof g_err), -1);
    CHECK_MSG(strstr(g_err, "'Age'") && strstr(g_err, "train split"), "%s", g_err);
    int64_t tr2[] = {0, 1}, va2[] = {2};
    Split sp2 = {2, 1, tr2, va2};
    CHECK_EQ_INT(labels_fit(&ls, &sp2, g_err, sizeof g_err), -1);
    CHECK_MSG(strstr(g_err, "'Age'") && strstr(g_err, "valid split"), "%s", g_err);
    labels_free(&ls);
}

// The or_die wrapper exits with code 2 and prints the message.
static void test_die(void) {
    const char *cat[] = {"Y"};
    const char *p = write_csv("dup.csv", "ID,Y\nq,1\nq,2\n");
    char errpath[300];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", g_dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errpath, "w", stderr)) _exit(99);
        OutputConfig oc = make_output(p, "out", 1, cat, 0, NULL);
        LabelSet ls;
        labels_load_or_die(&ls, &oc, 1);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    char msg[1024] = {0};
    FILE *f = fopen(errpath, "r");
    if (f) { msg[fread(msg, 1, sizeof msg - 1, f)] = '\0'; fclose(f); }
    CHECK_MSG(strstr(msg, "dup.csv:3: duplicate ID 'q' (first seen on line 2)"), "stderr: %s", msg);
    unlink(errpath);
}

int main(void) {
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_encoding();
    test_two_outputs();
    test_errors();
    test_die();
    const char *names[] = {"l.csv", "a.csv", "b.csv", "dup.csv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    CHECK_EQ_INT(rmdir(g_dir), 0);
    TEST_MAIN_END();
}
