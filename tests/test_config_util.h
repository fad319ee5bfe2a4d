// test_config_util.h: temporary folders and files for the config tests. Everything lives under
// /tmp (mkdtemp) and is removed at the end of each test program.
#pragma once
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "config/config.h"

// A fresh folder /tmp/eir_cfg_test_XXXXXX (malloc'd path).
static inline char *tmp_make_dir(void) {
    char tmpl[] = "/tmp/eir_cfg_test_XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(1);
    }
    return strdup_check(d);
}

// Writes dir/name with text, "@DIR@" replaced by dir; returns the path (malloc'd).
static inline char *tmp_write(const char *dir, const char *name, const char *text) {
    StrBuf sb = {0};
    for (const char *p = text; *p;) {
        const char *at = strstr(p, "@DIR@");
        if (!at) {
            sb_puts(&sb, p);
            break;
        }
        sb_append(&sb, p, (size_t)(at - p));
        sb_puts(&sb, dir);
        p = at + 5;
    }
    char *path = path_join(dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(sb.data ? sb.data : "", 1, sb.len, f) != sb.len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    sb_free(&sb);
    return path;
}

// rm -rf for the test folders (files, folders; no symlinks are followed).
static inline void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char *child = path_join(path, e->d_name);
                rm_rf(child);
                free(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

// Makes <dir>/data (one input file) and <dir>/labels.csv, the paths the fixtures point at.
static inline void tmp_make_data(const char *dir) {
    char *data = path_join(dir, "data");
    mkdir_p(data);
    char *f = tmp_write(data, "1.txt", "hello");
    char *csv = tmp_write(dir, "labels.csv", "ID,label\n1,a\n");
    free(f);
    free(csv);
    free(data);
}

// "k=v" with printf formatting, pushed onto a StrList.
static inline void push_fmt(StrList *l, const char *fmt, const char *a) {
    char buf[2048];
    snprintf(buf, sizeof buf, fmt, a);
    strlist_push(l, buf);
}
