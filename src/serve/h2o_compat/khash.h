// khash.h: what h2o/http2_internal.h needs from klib's khash to compile; Debian's libh2o-evloop-dev
// installs that header but not khash.h. Only types: h2o_http2_conn_t holds a pointer to the
// library's stream table, which serve_h2_guard.c never touches (h2o_http2_conn_get_stream, the
// one inline reader of it, finds nothing here and must not be called).
#pragma once
#include <stdint.h>

typedef uint32_t khiter_t;
#define KHASH_MAP_INIT_INT64(name, khval_t) typedef struct kh_##name##_s kh_##name##_t;
#define khash_t(name) kh_##name##_t
#define kh_end(h) ((khiter_t)0)
#define kh_get(name, h, k) ((void)(h), (void)(k), (khiter_t)0)
#define kh_val(h, x) ((void)(h), (void)(x), (void *)0)
