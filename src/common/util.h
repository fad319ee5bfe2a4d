// util.h: checked wrappers for fallible calls and the two ways a program ends on error.
// Every failure names the call site (file:line) and, for I/O, the path, as llm.c's *Check helpers do.
#pragma once
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>

// Exit codes: 1 = internal/system failure, 2 = bad user input (config, data, CLI).
#define EIR_EXIT_FAIL 1
#define EIR_EXIT_USAGE 2

#if defined(__GNUC__)
#define EIR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define EIR_NORETURN __attribute__((noreturn))
#else
#define EIR_PRINTF(a, b)
#define EIR_NORETURN
#endif

// Prints "eir-dist: error: <msg>" to stderr and exits with EIR_EXIT_FAIL.
EIR_NORETURN void eir_die(const char *fmt, ...) EIR_PRINTF(1, 2);
// Same, for mistakes in the user's input; exits with EIR_EXIT_USAGE.
EIR_NORETURN void eir_die_user(const char *fmt, ...) EIR_PRINTF(1, 2);
// Hook run before exit by eir_die*/eir_die_user (the distributed layer sets it to MPI_Abort).
typedef void (*eir_exit_hook_fn)(int code);
void eir_set_exit_hook(eir_exit_hook_fn fn);
// Suppresses the message of eir_die*/eir_die_user (the exit still happens): ranks other than 0
// fail silently on errors every rank hits the same way (bad configs), so only rank 0 prints.
void eir_set_quiet_errors(bool quiet);
// Program name printed in front of messages (default "eir-dist").
void eir_set_progname(const char *name);
const char *eir_progname(void);

void *malloc_check_(size_t size, const char *file, int line);
void *calloc_check_(size_t n, size_t size, const char *file, int line);
void *realloc_check_(void *p, size_t size, const char *file, int line);
char *strdup_check_(const char *s, const char *file, int line);
FILE *fopen_check_(const char *path, const char *mode, const char *file, int line);
void fread_check_(void *p, size_t size, size_t n, FILE *f, const char *path, const char *file, int line);
void fwrite_check_(const void *p, size_t size, size_t n, FILE *f, const char *path, const char *file, int line);
void fclose_check_(FILE *f, const char *path, const char *file, int line);

#define malloc_check(size) malloc_check_((size), __FILE__, __LINE__)
#define calloc_check(n, size) calloc_check_((n), (size), __FILE__, __LINE__)
#define realloc_check(p, size) realloc_check_((p), (size), __FILE__, __LINE__)
#define strdup_check(s) strdup_check_((s), __FILE__, __LINE__)
#define fopen_check(path, mode) fopen_check_((path), (mode), __FILE__, __LINE__)
#define fread_check(p, size, n, f, path) fread_check_((p), (size), (n), (f), (path), __FILE__, __LINE__)
#define fwrite_check(p, size, n, f, path) fwrite_check_((p), (size), (n), (f), (path), __FILE__, __LINE__)
#define fclose_check(f, path) fclose_check_((f), (path), __FILE__, __LINE__)

// Writes a message into err (when err is non-NULL) and returns -1: the error path of every
// function that reports bad input to its caller instead of exiting.
int err_fail(char *err, size_t errlen, const char *fmt, ...) EIR_PRINTF(3, 4);

// Reads a whole file into a NUL-terminated malloc'd buffer; dies naming the path on failure.
char *read_file_check(const char *path, size_t *len_out);
// Writes data to path atomically: path.tmp.<pid>, fsync, rename, fsync of the directory.
// Returns 0 on success, -1 with errno set (and the temporary removed) on failure.
int write_file_atomic(const char *path, const void *data, size_t len);
// mkdir -p; returns 0 or -1 with errno.
int mkdir_p(const char *path);
bool path_exists(const char *path);
bool is_directory(const char *path);
// Joins two path parts with one '/' into a malloc'd string.
char *path_join(const char *a, const char *b);

// Growable byte buffer for building text (CSV lines, JSON, YAML).
typedef struct {
    char *data;
    size_t len, cap;
} StrBuf;
void sb_append(StrBuf *sb, const char *s, size_t n);
void sb_puts(StrBuf *sb, const char *s);
void sb_printf(StrBuf *sb, const char *fmt, ...) EIR_PRINTF(2, 3);
void sb_free(StrBuf *sb);

// pthread calls return an error number (they do not set errno): dies naming the call and site.
void pthread_check_(int rc, const char *call, const char *file, int line);
#define PTHREAD_CHECK(call) pthread_check_((call), #call, __FILE__, __LINE__)

// Monotonic wall clock in seconds.
double now_seconds(void);
