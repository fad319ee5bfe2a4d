// test_files.c: recursive listing (nested and hidden folders, symlinks, cycles), Path.stem IDs,
// list-file sources, the duplicate-ID and missing-path errors, and speed on 10k files.
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "data/files.h"
#include "test_util.h"

static char g_dir[] = "/tmp/eir_files_XXXXXX";

static void put(const char *rel, const char *content) {
    char *p = path_join(g_dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    mkdir_p(p);
    *slash = '/';
    FILE *f = fopen(p, "wb");
    fputs(content, f);
    fclose(f);
    free(p);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static size_t stem(const char *name) { return file_stem_len(name); }

static void test_stems(void) {
    CHECK_EQ_INT(stem("10021_2.txt"), 7);
    CHECK_EQ_INT(stem("a.tar.gz"), 5);
    CHECK_EQ_INT(stem(".hidden"), 7);  // Path('.hidden').stem == '.hidden'
    CHECK_EQ_INT(stem("a."), 2);       // Path('a.').stem == 'a.' (Python <= 3.13)
    CHECK_EQ_INT(stem("noext"), 5);
    CHECK_EQ_INT(stem("..a"), 1);      // Path('..a').stem == '.'
    CHECK_EQ_INT(stem(".a.b"), 2);
}

static void test_tree(void) {
    char base[300], err[EIR_ERR_LEN];
    snprintf(base, sizeof base, "%s/tree", g_dir);
    put("tree/1.txt", "one");
    put("tree/sub/2.bin", "two!");
    put("tree/sub/deeper/3", "");
    put("tree/.hidden", "h");
    put("tree/.git/4.txt", "four");
    put("tree/a.tar.gz", "archive");
    put("outside/5.txt", "fivefive");
    put("outside/dirtarget/6.txt", "six");
    char *p = path_join(base, "link5.dat");
    char *t = path_join(g_dir, "outside/5.txt");
    CHECK_EQ_INT(symlink(t, p), 0);  // a symlinked file counts (stem of the link's name)
    free(p); free(t);
    p = path_join(base, "sub/loop");
    CHECK_EQ_INT(symlink(base, p), 0);  // a cycle: never entered
    free(p);
    p = path_join(base, "dirlink");
    t = path_join(g_dir, "outside/dirtarget");
    CHECK_EQ_INT(symlink(t, p), 0);  // symlinked folder: not entered (pathlib rglob default)
    free(p); free(t);
    p = path_join(base, "broken.txt");
    CHECK_EQ_INT(symlink("/nonexistent/x", p), 0);  // broken link: not a file
    free(p);

    FileIndex fi;
    CHECK_EQ_INT(files_scan(base, &fi, err, sizeof err), 0);
    CHECK_MSG(fi.n == 7, "found %lld files", (long long)fi.n);
    const char *want[] = {".hidden", "1", "2", "3", "4", "a.tar", "link5"};
    for (int i = 0; i < 7 && i < fi.n; i++) CHECK_STR(fi.files[i].id, want[i]);
    const FileEntry *e = files_find(&fi, "2");
    CHECK(e && e->size == 4);
    CHECK(e && strstr(e->path, "/tree/sub/2.bin") != NULL);
    e = files_find(&fi, "link5");
    CHECK(e && e->size == 8);
    e = files_find(&fi, "3");
    CHECK(e && e->size == 0);
    CHECK(files_find(&fi, "6") == NULL);
    CHECK(files_find(&fi, "zzz") == NULL);
    files_free(&fi);

    // trailing slashes do not double up in the paths
    char base2[310];
    snprintf(base2, sizeof base2, "%s//", base);
    CHECK_EQ_INT(files_scan(base2, &fi, err, sizeof err), 0);
    e = files_find(&fi, "1");
    CHECK(e && strstr(e->path, "tree/1.txt") && !strstr(e->path, "//"));
    files_free(&fi);

    // two files with one stem: both named
    put("tree/sub/1.csv", "dup");
    CHECK_EQ_INT(files_scan(base, &fi, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "'1'") && strstr(err, "tree/1.txt") && strstr(err, "tree/sub/1.csv"), "%s", err);

    CHECK_EQ_INT(files_scan("/nonexistent/eir/source", &fi, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "/nonexistent/eir/source"), "%s", err);

    // unreadable folder / file (permission checks do not apply to root)
    if (geteuid() != 0) {
        char *lock = path_join(g_dir, "locked");
        put("locked/sub/x.txt", "x");
        char *sub = path_join(lock, "sub");
        chmod(sub, 0);
        CHECK_EQ_INT(files_scan(lock, &fi, err, sizeof err), -1);
        CHECK_MSG(strstr(err, "locked/sub"), "%s", err);
        chmod(sub, 0755);
        free(sub);
        free(lock);
    }
}

static void test_list_source(void) {
    char err[EIR_ERR_LEN];
    put("listed/x1.txt", "abc");
    put("listed/y.2.txt", "de");
    char list[300];
    snprintf(list, sizeof list, "%s/files.txt", g_dir);
    FILE *f = fopen(list, "w");
    fprintf(f, "%s/listed/x1.txt\n\n   %s/listed/y.2.txt  \r\n", g_dir, g_dir);
    fclose(f);
    FileIndex fi;
    CHECK_EQ_INT(files_scan(list, &fi, err, sizeof err), 0);
    CHECK_EQ_INT(fi.n, 2);
    if (fi.n == 2) {
        CHECK_STR(fi.files[0].id, "x1");
        CHECK_STR(fi.files[1].id, "y.2");
        CHECK_EQ_INT(fi.files[1].size, 2);
    }
    files_free(&fi);

    f = fopen(list, "a");
    fprintf(f, "%s/listed/missing.txt\n", g_dir);
    fclose(f);
    CHECK_EQ_INT(files_scan(list, &fi, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "files.txt:4:") && strstr(err, "missing.txt"), "%s", err);

    f = fopen(list, "w");
    fprintf(f, "%s/listed\n", g_dir);
    fclose(f);
    CHECK_EQ_INT(files_scan(list, &fi, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "files.txt:1:") && strstr(err, "not a regular file"), "%s", err);
}

static void test_many(void) {
    char base[300], err[EIR_ERR_LEN];
    snprintf(base, sizeof base, "%s/many", g_dir);
    mkdir_p(base);
    char name[400], src[400];
    // 50 distinct files (sizes 0..49), each hard-linked under many names: creating 10k inodes
    // is slow on some file systems and the listing cost is per directory entry anyway.
    for (int i = 0; i < 50; i++) {
        snprintf(src, sizeof src, "%s/src%02d", g_dir, i);
        int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { (void)!write(fd, src, (size_t)i); close(fd); }
    }
    for (int d = 0; d < 10; d++) {
        snprintf(name, sizeof name, "%s/d%d", base, d);
        mkdir(name, 0755);
        for (int i = 0; i < 1000; i++) {
            snprintf(name, sizeof name, "%s/d%d/%05d_%d.txt", base, d, i, d);
            snprintf(src, sizeof src, "%s/src%02d", g_dir, i % 50);
            if (link(src, name) != 0) { perror(name); break; }
        }
    }
    FileIndex fi;
    double t0 = now_seconds();
    CHECK_EQ_INT(files_scan(base, &fi, err, sizeof err), 0);
    double dt = now_seconds() - t0;
    CHECK_EQ_INT(fi.n, 10000);
    CHECK_MSG(dt < 1.0, "listing 10000 files took %.3f s", dt);
    printf("listed %lld files in %.1f ms\n", (long long)fi.n, dt * 1e3);
    CHECK(files_find(&fi, "00999_9") && files_find(&fi, "00999_9")->size == 999 % 50);
    files_free(&fi);
}

int main(void) {
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_stems();
    test_tree();
    test_list_source();
    test_many();
    rm_rf(g_dir);
    CHECK(!path_exists(g_dir));
    TEST_MAIN_END();
}
