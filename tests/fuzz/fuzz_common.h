// fuzz_common.h: what the libFuzzer drivers share: the input split into NUL-separated parts, and
// a scratch file for loaders that read from a path.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Part k (0-based) of data split at NUL bytes, copied and NUL-terminated; *len its length. The
// caller frees it. Missing parts are empty.
static inline char *fuzz_part(const uint8_t *data, size_t size, int k, size_t *len) {
    size_t start = 0;
    for (int i = 0; i < k; i++) {
        const void *z = memchr(data + start, 0, size - start);
        if (!z) {
            start = size;
            break;
        }
        start = (size_t)((const uint8_t *)z - data) + 1;
    }
    const void *z = start < size ? memchr(data + start, 0, size - start) : NULL;
    size_t end = z ? (size_t)((const uint8_t *)z - data) : size;
    char *s = malloc(end - start + 1);
    if (!s) abort();
    memcpy(s, data + start, end - start);
    s[end - start] = 0;
    if (len) *len = end - start;
    return s;
}

// Writes n bytes to a per-process file under /dev/shm (or /tmp) named after tag; returns its path
// (static storage, rewritten by the next call with the same tag).
static inline const char *fuzz_write_file(const char *tag, const void *data, size_t n) {
    static char path[8][256];
    static const char *tags[8];
    int slot = 0;
    while (slot < 7 && tags[slot] && strcmp(tags[slot], tag)) slot++;
    tags[slot] = tag;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path[slot], sizeof path[slot], "%s/eir-fuzz-%d-%s", dir, (int)getpid(), tag);
    FILE *f = fopen(path[slot], "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
    return path[slot];
}
