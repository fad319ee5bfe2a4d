// util.c: checked wrappers and small file helpers shared by every program.
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static eir_exit_hook_fn g_exit_hook = NULL;
static const char *g_progname = "eir-dist";
static bool g_quiet = false;

void eir_set_quiet_errors(bool quiet) { g_quiet = quiet; }

void eir_set_exit_hook(eir_exit_hook_fn fn) { g_exit_hook = fn; }
void eir_set_progname(const char *name) { g_progname = name; }
const char *eir_progname(void) { return g_progname; }

static EIR_NORETURN void die_with(int code, const char *fmt, va_list ap) {
    fflush(stdout);
    if (!g_quiet) {
        fprintf(stderr, "%s: error: ", g_progname);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        fflush(stderr);
    }
    if (g_exit_hook) g_exit_hook(code);
    exit(code);
}

void eir_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    die_with(EIR_EXIT_FAIL, fmt, ap);
}

void eir_die_user(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    die_with(EIR_EXIT_USAGE, fmt, ap);
}

int err_fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *malloc_check_(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) eir_die("out of memory allocating %zu bytes (%s:%d)", size, file, line);
    return p;
}

void *calloc_check_(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) eir_die("out of memory allocating %zu x %zu bytes (%s:%d)", n, size, file, line);
    return p;
}

void *realloc_check_(void *p, size_t size, const char *file, int line) {
    void *q = realloc(p, size ? size : 1);
    if (!q) eir_die("out of memory reallocating to %zu bytes (%s:%d)", size, file, line);
    return q;
}

char *strdup_check_(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *d = malloc_check_(n, file, line);
    memcpy(d, s, n);
    return d;
}

FILE *fopen_check_(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (!f) eir_die("cannot open '%s' (mode %s): %s (%s:%d)", path, mode, strerror(errno), file, line);
    return f;
}

void fread_check_(void *p, size_t size, size_t n, FILE *f, const char *path, const char *file, int line) {
    size_t got = fread(p, size, n, f);
    if (got != n) {
        if (feof(f)) eir_die("'%s' is truncated: expected %zu more items of %zu bytes, got %zu (%s:%d)", path, n, size, got, file, line);
        eir_die("read error on '%s': %s (%s:%d)", path, strerror(errno), file, line);
    }
}

void fwrite_check_(const void *p, size_t size, size_t n, FILE *f, const char *path, const char *file, int line) {
    if (fwrite(p, size, n, f) != n) eir_die("write error on '%s': %s (%s:%d)", path, strerror(errno), file, line);
}

void fclose_check_(FILE *f, const char *path, const char *file, int line) {
    if (fclose(f) != 0) eir_die("error closing '%s': %s (%s:%d)", path, strerror(errno), file, line);
}

char *read_file_check(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) eir_die_user("cannot open '%s': %s", path, strerror(errno));
    StrBuf sb = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_append(&sb, buf, n);
    if (ferror(f)) eir_die("read error on '%s': %s", path, strerror(errno));
    fclose(f);
    if (!sb.data) sb_append(&sb, "", 0);
    if (len_out) *len_out = sb.len;
    return sb.data;
}

int write_file_atomic(const char *path, const void *data, size_t len) {
    size_t plen = strlen(path);
    char *tmp = malloc_check(plen + 32);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { free(tmp); return -1; }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) goto fail;
    if (close(fd) != 0) { fd = -1; goto fail; }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    // fsync the directory so the rename itself survives a crash
    char *dcopy = strdup_check(path);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    free(dcopy);
    free(tmp);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    errno = saved;
    return -1;
}

int mkdir_p(const char *path) {
    char *p = strdup_check(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) { free(p); return -1; }
        *s = '/';
    }
    int rc = mkdir(p, 0755);
    free(p);
    if (rc != 0 && errno != EEXIST) return -1;
    return is_directory(path) ? 0 : (errno = ENOTDIR, -1);
}

bool path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

bool is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    char *r = malloc_check(la + lb + 2);
    memcpy(r, a, la);
    r[la] = '/';
    memcpy(r + la + 1, b, lb + 1);
    return r;
}

void sb_append(StrBuf *sb, const char *s, size_t n) {
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1) cap *= 2;
        sb->data = realloc_check(sb->data, cap);
        sb->cap = cap;
    }
    if (n) memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = 0;
}

void sb_puts(StrBuf *sb, const char *s) { sb_append(sb, s, strlen(s)); }

void sb_printf(StrBuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { sb_append(sb, small, (size_t)n); return; }
    char *big = malloc_check((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_append(sb, big, (size_t)n);
    free(big);
}

void sb_free(StrBuf *sb) {
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pthread_check_(int rc, const char *call, const char *file, int line) {
    if (rc != 0) eir_die("%s failed: %s (%s:%d)", call, strerror(rc), file, line);
}
