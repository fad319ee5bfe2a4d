// files.c: recursive file listing (openat/fdopendir, one fstatat per file) and stem-based IDs.
#define _GNU_SOURCE  // DT_* constants from dirent.h
#include "data/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "data/csv.h"


size_t file_stem_len(const char *name) {
    // pathlib: the suffix starts at the last '.', unless that dot is the first or last character.
    size_t len = strlen(name);
    const char *dot = strrchr(name, '.');
    if (!dot) return len;
    size_t i = (size_t)(dot - name);
    if (i > 0 && i < len - 1) return i;
    return len;
}

typedef struct {
    FileEntry *v;
    int64_t n, cap;
} EntryVec;

static void add_entry(EntryVec *ev, char *path, const char *name, int64_t size) {
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? 2 * ev->cap : 1024;
        ev->v = realloc_check(ev->v, (size_t)ev->cap * sizeof(FileEntry));
    }
    size_t sl = file_stem_len(name);
    char *id = malloc_check(sl + 1);
    memcpy(id, name, sl);
    id[sl] = '\0';
    ev->v[ev->n].id = id;
    ev->v[ev->n].path = path;
    ev->v[ev->n].size = size;
    ev->n++;
}

// Lists the folder open as dfd (whose path is dpath); takes ownership of dfd.
static int scan_dir(int dfd, const char *dpath, EntryVec *ev, char *err, size_t errlen) {
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return err_fail(err, errlen, "cannot read folder '%s': %s", dpath, strerror(e));
    }
    int rc = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno) rc = err_fail(err, errlen, "cannot read folder '%s': %s", dpath, strerror(errno));
            break;
        }
        const char *name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        unsigned char type = de->d_type;
        struct stat st;
        if (type == DT_UNKNOWN) {
            // some file systems do not fill d_type
            if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished meanwhile
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        if (type == DT_DIR) {
            int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int e = errno;
            char *sub = path_join(dpath, name);
            if (sfd < 0) {
                rc = err_fail(err, errlen, "cannot open folder '%s': %s", sub, strerror(e));
                free(sub);
                break;
            }
            rc = scan_dir(sfd, sub, ev, err, errlen);
            free(sub);
            if (rc) break;
        } else if (type == DT_REG || type == DT_LNK) {
            // Symlinks count when they point at a regular file (Path.is_file follows them);
            // links to folders are not entered and broken links are not files.
            if (fstatat(dfd, name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
                if (type == DT_REG) {
                    int e = errno;
                    char *p = path_join(dpath, name);
                    rc = err_fail(err, errlen, "cannot stat file '%s': %s", p, strerror(e));
                    free(p);
                    break;
                }
                continue;
            }
            int readable = faccessat(dfd, name, R_OK, 0) == 0, e = errno;
            char *p = path_join(dpath, name);
            if (!readable) {
                rc = err_fail(err, errlen, "cannot read file '%s': %s", p, strerror(e));
                free(p);
                break;
            }
            add_entry(ev, p, name, (int64_t)st.st_size);
        }
        // fifos, sockets and devices are not regular files: ignored, as Path.is_file() does
    }
    closedir(d);  // also closes dfd
    return rc;
}

static int scan_list(const char *list, EntryVec *ev, char *err, size_t errlen) {
    FILE *f = fopen(list, "rb");
    if (!f) return err_fail(err, errlen, "cannot open input_source list '%s': %s", list, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *e = line + got;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\f' || *s == '\v')) s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n' || e[-1] == '\f' || e[-1] == '\v')) e--;
        if (s == e) continue;
        *e = '\0';
        struct stat st;
        if (stat(s, &st) != 0) { rc = err_fail(err, errlen, "%s:%d: listed file '%s': %s", list, lineno, s, strerror(errno)); break; }
        if (!S_ISREG(st.st_mode)) { rc = err_fail(err, errlen, "%s:%d: listed path '%s' is not a regular file", list, lineno, s); break; }
        if (access(s, R_OK) != 0) { rc = err_fail(err, errlen, "%s:%d: cannot read listed file '%s': %s", list, lineno, s, strerror(errno)); break; }
        // Path(s).name: the part after the last '/' (a trailing '/' was ruled out: it is a file)
        const char *slash = strrchr(s, '/');
        add_entry(ev, strdup_check(s), slash ? slash + 1 : s, (int64_t)st.st_size);
    }
    free(line);
    fclose(f);
    return rc;
}

static int cmp_entry(const void *a, const void *b) {
    const FileEntry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->path, y->path);
}

int files_scan(const char *source, FileIndex *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    EntryVec ev = {0};
    struct stat st;
    int rc;
    if (!source || !source[0]) return err_fail(err, errlen, "input_source is empty");
    if (stat(source, &st) != 0) return err_fail(err, errlen, "input_source '%s': %s", source, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        int dfd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return err_fail(err, errlen, "cannot open folder '%s': %s", source, strerror(errno));
        // Paths are reported as <source>/<relative>, without doubled slashes.
        char *root = strdup_check(source);
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/') root[--rl] = '\0';
        rc = scan_dir(dfd, root, &ev, err, errlen);
        free(root);
    } else if (S_ISREG(st.st_mode)) {
        rc = scan_list(source, &ev, err, errlen);
    } else {
        rc = err_fail(err, errlen, "input_source '%s' is neither a folder nor a file listing paths", source);
    }
    if (rc == 0 && ev.n > 1) {
        qsort(ev.v, (size_t)ev.n, sizeof(FileEntry), cmp_entry);
        for (int64_t i = 1; i < ev.n; i++) {
            if (strcmp(ev.v[i - 1].id, ev.v[i].id) == 0) {
                rc = err_fail(err, errlen, "two files map to the same sample ID '%s' (ID = file name minus its last suffix): '%s' and '%s'",
                          ev.v[i].id, ev.v[i - 1].path, ev.v[i].path);
                break;
            }
        }
    }
    out->source = strdup_check(source);
    out->files = ev.v;
    out->n = ev.n;
    if (rc != 0) files_free(out);
    return rc;
}

void files_scan_or_die(const char *source, FileIndex *out) {
    char err[EIR_ERR_LEN];
    if (files_scan(source, out, err, sizeof err) != 0) eir_die_user("%s", err);
}

const FileEntry *files_find(const FileIndex *fi, const char *id) {
    int64_t lo = 0, hi = fi->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(fi->files[mid].id, id);
        if (c == 0) return &fi->files[mid];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

void files_free(FileIndex *fi) {
    for (int64_t i = 0; i < fi->n; i++) {
        free(fi->files[i].id);
        free(fi->files[i].path);
    }
    free(fi->files);
    free(fi->source);
    memset(fi, 0, sizeof *fi);
}
