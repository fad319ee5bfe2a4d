// test_split.c: MT19937 and the train/valid split against fixtures written by numpy
// (tools/gen_split_fixtures.py), the manual split file, and EIR_SEED parsing.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "data/mt19937.h"
#include "data/split.h"
#include "test_util.h"

#define FIX EIR_SOURCE_DIR "/tests/fixtures/split"

static const uint32_t SEEDS[] = {0, 1, 42, 4294967295u};
static const int64_t SIZES[] = {1, 2, 10, 1000, 6007};

static void test_permutations(void) {
    int files = 0;
    for (size_t s = 0; s < sizeof SEEDS / sizeof SEEDS[0]; s++) {
        for (size_t k = 0; k < sizeof SIZES / sizeof SIZES[0]; k++) {
            char path[512];
            snprintf(path, sizeof path, FIX "/perm_seed%u_n%lld.txt", SEEDS[s], (long long)SIZES[k]);
            char *text = read_file_check(path, NULL);
            int64_t n = SIZES[k];
            int64_t *perm = malloc(n * sizeof *perm);
            mt19937_permutation(SEEDS[s], perm, n);
            char *p = text;
            int64_t bad = -1;
            for (int64_t i = 0; i < n; i++) {
                long long v = strtoll(p, &p, 10);
                if (v != perm[i] && bad < 0) bad = i;
            }
            CHECK_MSG(bad < 0, "seed %u n %lld: first difference at %lld", SEEDS[s], (long long)n, (long long)bad);
            free(perm);
            free(text);
            files++;
        }
    }
    CHECK_EQ_INT(files, 20);
}

static void test_raw_stream(void) {
    const uint32_t seeds[] = {0, 4294967295u};
    for (int s = 0; s < 2; s++) {
        char path[512];
        snprintf(path, sizeof path, FIX "/mt_raw_seed%u.txt", seeds[s]);
        char *text = read_file_check(path, NULL);
        char *p = text;
        Mt19937 m;
        mt19937_seed(&m, seeds[s]);
        int bad = -1;
        for (int i = 0; i < 700; i++) {
            unsigned long long v = strtoull(p, &p, 10);
            if (mt19937_next_u32(&m) != v && bad < 0) bad = i;
        }
        CHECK_MSG(bad < 0, "seed %u: raw output %d differs", seeds[s], bad);
        char *q = strstr(p, "interval_max=");
        CHECK(q != NULL);
        if (!q) { free(text); continue; }
        uint64_t mx = strtoull(q + 13, &p, 10);
        mt19937_seed(&m, seeds[s]);
        for (int i = 0; i < 20; i++) {
            unsigned long long v = strtoull(p, &p, 10);
            CHECK_EQ_INT((long long)mt19937_random_interval(&m, mx), (long long)v);
        }
        free(text);
    }
}

// "key=value" field of a tab-separated fixture line (value copied into buf), or NULL.
static const char *field(const char *line, const char *key, char *buf, size_t cap) {
    size_t kl = strlen(key);
    const char *p = line;
    while (p && *p) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1, *e = strchr(v, '\t');
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= cap) n = cap - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        p = strchr(p, '\t');
        if (p) p++;
    }
    return NULL;
}

static void test_split_cases(void) {
    char *text = read_file_check(FIX "/split_cases.txt", NULL);
    static char val[65536];
    char buf[64], err[EIR_ERR_LEN];
    int cases = 0, errors = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        uint32_t seed = (uint32_t)strtoull(field(line, "seed", buf, sizeof buf), NULL, 10);
        int64_t n = strtoll(field(line, "n", buf, sizeof buf), NULL, 10);
        double vs = strtod(field(line, "valid_size", buf, sizeof buf), NULL);
        bool is_count = strcmp(field(line, "kind", buf, sizeof buf), "count") == 0;
        Split sp;
        int rc = split_random(n, vs, is_count, seed, &sp, err, sizeof err);
        cases++;
        if (field(line, "error", buf, sizeof buf)) {
            CHECK_MSG(rc == -1, "expected an error: %s", line);
            CHECK(strlen(err) > 0);
            errors++;
            continue;
        }
        CHECK_MSG(rc == 0, "%s: %s", line, err);
        if (rc) continue;
        int64_t nv = strtoll(field(line, "n_valid", buf, sizeof buf), NULL, 10);
        CHECK_EQ_INT(sp.n_valid, nv);
        CHECK_EQ_INT(sp.n_train, n - nv);
        field(line, "valid", val, sizeof val);
        char *p = val;
        int same = sp.n_valid == nv;
        for (int64_t i = 0; i < nv && same; i++) {
            same = strtoll(p, &p, 10) == sp.valid[i];
            if (*p == ',') p++;
        }
        CHECK_MSG(same, "valid indices differ: seed %u n %lld valid_size %g", seed, (long long)n, vs);
        // train = the rest, ascending, disjoint from valid
        char *mark = calloc(n, 1);
        for (int64_t i = 0; i < sp.n_valid; i++) mark[sp.valid[i]]++;
        for (int64_t i = 0; i < sp.n_train; i++) {
            mark[sp.train[i]]++;
            if (i) CHECK(sp.train[i] > sp.train[i - 1]);
        }
        for (int64_t i = 0; i < n; i++) CHECK(mark[i] == 1);
        free(mark);
        split_free(&sp);
    }
    CHECK_EQ_INT(cases, 52);
    CHECK_EQ_INT(errors, 8);
    free(text);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_split_id_cases(void) {
    char *text = read_file_check(FIX "/split_id_cases.txt", NULL);
    static char ids[65536], valid[65536];
    char buf[64], err[EIR_ERR_LEN];
    int cases = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        uint32_t seed = (uint32_t)strtoull(field(line, "seed", buf, sizeof buf), NULL, 10);
        double vs = strtod(field(line, "valid_size", buf, sizeof buf), NULL);
        bool is_count = strcmp(field(line, "kind", buf, sizeof buf), "count") == 0;
        field(line, "ids", ids, sizeof ids);
        field(line, "valid", valid, sizeof valid);
        char *list[1024];
        int n = 0;
        for (char *s = ids, *e; s; s = e) {
            e = strchr(s, ',');
            if (e) *e++ = '\0';
            list[n++] = s;
        }
        qsort(list, n, sizeof(char *), cmp_str);  // byte order = Python's code point order for UTF-8
        Split sp;
        CHECK_EQ_INT(split_random(n, vs, is_count, seed, &sp, err, sizeof err), 0);
        StrBuf got = {0};
        for (int64_t i = 0; i < sp.n_valid; i++) {
            if (i) sb_puts(&got, ",");
            sb_puts(&got, list[sp.valid[i]]);
        }
        CHECK_STR(got.data, valid);
        sb_free(&got);
        split_free(&sp);
        cases++;
    }
    CHECK_EQ_INT(cases, 5);
    free(text);
}

static void test_manual(void) {
    char dir[] = "/tmp/eir_split_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], err[EIR_ERR_LEN];
    snprintf(path, sizeof path, "%s/valid_ids.txt", dir);
    char *ids[] = {"a", "b", "c", "d", "e"};
    FILE *f = fopen(path, "w");
    fputs("  d \n\n\te\r\nd\n", f);  // stripped, blank lines ignored, repeats harmless
    fclose(f);
    Split sp;
    CHECK_EQ_INT(split_manual(ids, 5, path, &sp, err, sizeof err), 0);
    CHECK_EQ_INT(sp.n_valid, 2);
    CHECK_EQ_INT(sp.valid[0], 3);
    CHECK_EQ_INT(sp.valid[1], 4);
    CHECK_EQ_INT(sp.n_train, 3);
    CHECK_EQ_INT(sp.train[2], 2);
    split_free(&sp);

    f = fopen(path, "w");
    fputs("a\n\nzz\n", f);
    fclose(f);
    CHECK_EQ_INT(split_manual(ids, 5, path, &sp, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "valid_ids.txt:3:") && strstr(err, "'zz'"), "%s", err);

    f = fopen(path, "w");
    fputs("\n  \n", f);
    fclose(f);
    CHECK_EQ_INT(split_manual(ids, 5, path, &sp, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "no IDs"), "%s", err);

    unlink(path);
    CHECK_EQ_INT(split_manual(ids, 5, path, &sp, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "valid_ids.txt") && strstr(err, "cannot open"), "%s", err);
    rmdir(dir);
}

static void test_seed_env(void) {
    uint64_t seed;
    char err[EIR_ERR_LEN];
    unsetenv("EIR_SEED");
    CHECK_EQ_INT(split_seed_from_env(&seed, err, sizeof err), 0);
    CHECK_EQ_INT(seed, 0);
    setenv("EIR_SEED", " 42 ", 1);
    CHECK_EQ_INT(split_seed_from_env(&seed, err, sizeof err), 0);
    CHECK_EQ_INT(seed, 42);
    setenv("EIR_SEED", "4294967295", 1);
    CHECK_EQ_INT(split_seed_from_env(&seed, err, sizeof err), 0);
    CHECK_EQ_INT(seed, 4294967295ll);
    setenv("EIR_SEED", "4294967296", 1);
    CHECK_EQ_INT(split_seed_from_env(&seed, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "EIR_SEED"), "%s", err);
    setenv("EIR_SEED", "-1", 1);
    CHECK_EQ_INT(split_seed_from_env(&seed, err, sizeof err), -1);
    setenv("EIR_SEED", "12abc", 1);
    CHECK_EQ_INT(split_seed_from_env(&seed, err, sizeof err), -1);
    unsetenv("EIR_SEED");
}

static void test_sizes(void) {
    int64_t nv;
    char err[EIR_ERR_LEN];
    CHECK_EQ_INT(split_valid_count(0.1, false, 25000, &nv, err, sizeof err), 0);
    CHECK_EQ_INT(nv, 2500);
    CHECK_EQ_INT(split_valid_count(0.1, false, 25001, &nv, err, sizeof err), 0);
    CHECK_EQ_INT(nv, 2501);  // ceil
    CHECK_EQ_INT(split_valid_count(0.0, false, 10, &nv, err, sizeof err), -1);
    CHECK_EQ_INT(split_valid_count(1.0, false, 10, &nv, err, sizeof err), -1);
    CHECK_EQ_INT(split_valid_count(9, true, 10, &nv, err, sizeof err), 0);
    CHECK_EQ_INT(nv, 9);
    CHECK_EQ_INT(split_valid_count(10, true, 10, &nv, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "valid_size=10"), "%s", err);
    CHECK_EQ_INT(split_valid_count(0.5, false, 0, &nv, err, sizeof err), -1);
}

int main(void) {
    test_permutations();
    test_raw_stream();
    test_split_cases();
    test_split_id_cases();
    test_manual();
    test_seed_env();
    test_sizes();
    TEST_MAIN_END();
}
