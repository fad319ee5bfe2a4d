// sysmem.h: how much memory this process may still take, and the --max-memory limit, so that a
// run, eir-predict and eir-serve refuse a model that cannot fit before allocating it.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Bytes available now: the smaller of MemAvailable (/proc/meminfo) and the cgroup's headroom
// (v2 memory.max - memory.current, or v1 limit - usage); 0 when neither can be read.
uint64_t sysmem_available_bytes(void);
// "8G", "512M", "1.5GiB", "64k", "123456" (bytes; K/M/G/T are powers of 1024) -> bytes > 0.
// Returns 0, or -1 with err naming the option and what was expected.
int sysmem_parse_size(const char *option, const char *s, uint64_t *bytes, char *err, size_t errlen);
// "1.5 GiB", "312.0 MiB" into buf (cap >= 32); returns buf.
char *sysmem_format(char *buf, size_t cap, double bytes);
// The process-wide --max-memory (0 = none), set once at start-up by a program's main.
void sysmem_set_limit(uint64_t bytes);
uint64_t sysmem_limit(void);
