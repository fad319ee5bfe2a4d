// sysmem.c: available memory (procfs and cgroup files) and memory sizes in text.
#include "common/sysmem.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static uint64_t limit_bytes;

void sysmem_set_limit(uint64_t bytes) { limit_bytes = bytes; }
uint64_t sysmem_limit(void) { return limit_bytes; }

// First number in a file ("max" or unreadable: 0).
static uint64_t read_u64(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return (uint64_t)v;
}

static uint64_t meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static uint64_t cgroup_headroom(void) {
    uint64_t max = read_u64("/sys/fs/cgroup/memory.max"), cur = read_u64("/sys/fs/cgroup/memory.current");
    if (!max) {  // cgroup v1 ("max" in v2 reads as 0 too: no limit)
        max = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        cur = read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes");
        if (max >= (UINT64_C(1) << 60)) max = 0;  // v1's "unlimited"
    }
    if (!max) return 0;
    return max > cur ? max - cur : 1;
}

uint64_t sysmem_available_bytes(void) {
    uint64_t a = meminfo_available(), c = cgroup_headroom();
    if (!a) return c;
    if (!c) return a;
    return a < c ? a : c;
}

int sysmem_parse_size(const char *option, const char *s, uint64_t *bytes, char *err, size_t errlen) {
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0) || !isfinite(v))
        return err_fail(err, errlen, "%s: expected a positive size such as 8G, 512M or 1073741824, got '%s'", option, s);
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mul = 1024.0, end++; break;
    case 'M': mul = 1024.0 * 1024, end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024, end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (mul > 1 && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "ib") || !strcmp(end, "b"))) end += strlen(end);
    if (*end || v * mul < 1 || v * mul > 1.8e19)
        return err_fail(err, errlen, "%s: expected a positive size such as 8G, 512M or 1073741824, got '%s'", option, s);
    *bytes = (uint64_t)(v * mul);
    return 0;
}

char *sysmem_format(char *buf, size_t cap, double bytes) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}
