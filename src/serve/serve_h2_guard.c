// serve_h2_guard.c: the HTTP/2 body limit in front of h2o's frame reader (serve_h2_guard.h).
#define _GNU_SOURCE  // RTLD_NEXT
#include "serve/serve_h2_guard.h"

#include <dlfcn.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "serve/serve_json.h"

#define GUARD_MAX_STREAMS 128  // streams remembered per connection (cut, or still dropping)
#define FRAME_HEADER 9
#define FRAME_DATA 0
#define FRAME_HEADERS 1
#define FRAME_RST_STREAM 3
#define FLAG_END_STREAM 1
#define FLAG_END_HEADERS 4
// An upload answered 413 is read and dropped up to this much more, then the client is told to stop.
#define DROP_MAX_BYTES ((uint64_t)1 << 30)

typedef ssize_t (*ReadExpect)(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc);

typedef struct {
    uint32_t id;
    uint64_t received;  // DATA bytes of its body so far (padding included)
    bool dropping;      // answered 413: its later DATA frames are dropped until END_STREAM
} GuardStream;

typedef struct {
    ReadExpect inner;    // h2o's reader of the moment (preface, frames, CONTINUATION)
    ReadExpect preface;  // h2o's first reader: not frames yet
    void (*prev_close)(void *);
    void *prev_close_data;
    GuardStream streams[GUARD_MAX_STREAMS];  // streams whose body is arriving, or cut
    int n;
} Guard;

static size_t limit = SIZE_MAX;
static long refused_413;  // answers the guard gave (the event-loop thread only)

long h2_guard_answered(void) { return refused_413; }

void h2_guard_set_limit(size_t max_body_bytes) { limit = max_body_bytes; }

static GuardStream *find(Guard *g, uint32_t id) {
    for (int i = 0; i < g->n; i++)
        if (g->streams[i].id == id) return &g->streams[i];
    return NULL;
}

static void forget(Guard *g, GuardStream *s) { *s = g->streams[--g->n]; }

static GuardStream *add(Guard *g, uint32_t id) {
    if (g->n == GUARD_MAX_STREAMS) {  // a client that never ends its streams: forget the oldest
        memmove(g->streams, g->streams + 1, sizeof(GuardStream) * (GUARD_MAX_STREAMS - 1));
        g->n--;
    }
    GuardStream *s = &g->streams[g->n++];
    *s = (GuardStream){.id = id};
    return s;
}

// Hands the flow-control credit of n dropped bytes back to the client: the connection's, and the
// stream's while the client still uploads to it (id 0: the connection's only).
static void credit(h2o_http2_conn_t *conn, uint32_t id, uint32_t n) {
    if (!n) return;
    h2o_http2_encode_window_update_frame(&conn->_write.buf, 0, (int32_t)n);
    if (id) h2o_http2_encode_window_update_frame(&conn->_write.buf, id, (int32_t)n);
    h2o_http2_conn_request_write(conn);
}

static void put(h2o_buffer_t **buf, const void *src, size_t n) {
    h2o_iovec_t room = h2o_buffer_reserve(buf, n);
    if (!room.base) eir_die("eir-serve: out of memory writing an HTTP/2 frame");
    memcpy(room.base, src, n);
    (*buf)->size += n;
}

static void frame_header(uint8_t *h, size_t len, uint8_t type, uint8_t flags, uint32_t id) {
    uint8_t v[FRAME_HEADER] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
                               (uint8_t)(id >> 24 & 0x7f), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    memcpy(h, v, sizeof v);
}

// RST_STREAM NO_ERROR: "stop sending, the answer is complete" (RFC 9113 section 8.1).
static void stop_upload(h2o_http2_conn_t *conn, uint32_t id) {
    uint8_t rst[FRAME_HEADER + 4] = {0};
    frame_header(rst, 4, FRAME_RST_STREAM, 0, id);
    put(&conn->_write.buf, rst, sizeof rst);
    h2o_http2_conn_request_write(conn);
}

// The complete 413 answer of stream id, written on the connection by the guard itself: HEADERS
// (HPACK literals without indexing, so h2o's header tables are untouched) and DATA with the JSON
// error and END_STREAM. The client may go on uploading: curl 7.88 fails a transfer whose stream
// is reset while it still sends (even with NO_ERROR), so the guard reads and drops the rest and
// asks for a stop only past DROP_MAX_BYTES.
static void answer_413(h2o_http2_conn_t *conn, uint32_t id) {
    char msg[160];
    snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes (--max-body-bytes)", limit);
    StrBuf body = {0};
    json_error_body(&body, msg);
    char clen[24];
    int cl = snprintf(clen, sizeof clen, "%zu", body.len);
    uint8_t block[64], *p = block;
    static const char ctype[] = "application/json";
    *p++ = 0x08, *p++ = 3, memcpy(p, "413", 3), p += 3;                           // :status (static index 8)
    *p++ = 0x0f, *p++ = 31 - 15, *p++ = sizeof ctype - 1;                          // content-type (31)
    memcpy(p, ctype, sizeof ctype - 1), p += sizeof ctype - 1;
    *p++ = 0x0f, *p++ = 28 - 15, *p++ = (uint8_t)cl, memcpy(p, clen, (size_t)cl), p += cl;  // content-length (28)
    uint8_t h[FRAME_HEADER];
    frame_header(h, (size_t)(p - block), FRAME_HEADERS, FLAG_END_HEADERS, id);
    put(&conn->_write.buf, h, sizeof h);
    put(&conn->_write.buf, block, (size_t)(p - block));
    frame_header(h, body.len, FRAME_DATA, FLAG_END_STREAM, id);
    put(&conn->_write.buf, h, sizeof h);
    put(&conn->_write.buf, body.data, body.len);
    h2o_http2_window_consume_window(&conn->_write.window, body.len);  // h2o's count of the client's window
    h2o_http2_conn_request_write(conn);
    sb_free(&body);
    refused_413++;
}

static Guard *guard_of(h2o_http2_conn_t *conn);

// Returns the bytes the guard consumed itself, or 0 to let h2o read the frame. The guard keeps its
// own count of each stream's body (h2o's stream table is not reachable from outside the library).
static ssize_t intercept(Guard *g, h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc) {
    if (g->inner == g->preface || len < FRAME_HEADER) return 0;
    uint32_t flen = (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
    uint8_t type = src[3], flags = src[4];
    uint32_t id = ((uint32_t)src[5] << 24 | (uint32_t)src[6] << 16 | (uint32_t)src[7] << 8 | src[8]) & 0x7fffffffu;
    if (id == 0 || flen > H2O_HTTP2_SETTINGS_HOST.max_frame_size) return 0;  // h2o's to judge
    GuardStream *s = find(g, id);
    switch (type) {
        case FRAME_HEADERS:  // a request whose body follows
            if (!s && !(flags & FLAG_END_STREAM)) add(g, id);
            return 0;
        case FRAME_RST_STREAM:  // the client gave the stream up
            if (s) forget(g, s);
            return 0;
        case FRAME_DATA: break;
        default: return 0;
    }
    if (!s) return 0;
    if (len < FRAME_HEADER + flen) return H2O_HTTP2_ERROR_INCOMPLETE;
    if (s->dropping) {  // answered already: drop the rest of the upload
        s->received += flen;
        bool done = flags & FLAG_END_STREAM, too_much = s->received > limit + DROP_MAX_BYTES;
        credit(conn, done || too_much ? 0 : id, flen);
        if (too_much) stop_upload(conn, id);
        if (done || too_much) forget(g, s);
        return FRAME_HEADER + flen;
    }
    if (s->received + flen <= limit) {
        s->received += flen;
        if (flags & FLAG_END_STREAM) forget(g, s);  // complete within the limit
        return 0;
    }
    // over the limit: answer 413 here and have h2o drop the stream with what it has buffered
    answer_413(conn, id);
    uint8_t rst[FRAME_HEADER + 4] = {0, 0, 4, FRAME_RST_STREAM, 0, src[5] & 0x7f, src[6], src[7], src[8], 0, 0, 0, 8};
    ssize_t r = g->inner(conn, rst, sizeof rst, err_desc);  // as if the client cancelled (8 = CANCEL)
    if (r < 0) return r;
    if (guard_of(conn) != g) return FRAME_HEADER + flen;  // h2o closed the connection meanwhile
    s->received += flen;
    s->dropping = !(flags & FLAG_END_STREAM);
    credit(conn, s->dropping ? id : 0, flen);
    if (!s->dropping) forget(g, s);
    return FRAME_HEADER + flen;
}

static ssize_t guarded_read(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc) {
    Guard *g = guard_of(conn);
    ssize_t r = intercept(g, conn, src, len, err_desc);
    if (r != 0) return r;
    r = g->inner(conn, src, len, err_desc);
    // h2o switches readers as it goes (preface -> frames -> CONTINUATION): stay in front
    if (conn->_read_expect != guarded_read) {
        g->inner = conn->_read_expect;
        conn->_read_expect = guarded_read;
    }
    return r;
}

static void on_sock_close(void *data) {
    Guard *g = data;
    void (*cb)(void *) = g->prev_close;
    void *cb_data = g->prev_close_data;
    free(g);
    if (cb) cb(cb_data);
}

static Guard *guard_of(h2o_http2_conn_t *conn) {
    h2o_socket_t *sock = conn->sock;
    return sock && sock->on_close.cb == on_sock_close ? sock->on_close.data : NULL;
}

static void attach(h2o_http2_conn_t *conn, bool fresh) {
    if (!conn->sock || guard_of(conn)) return;
    Guard *g = calloc_check(1, sizeof *g);
    g->inner = conn->_read_expect;
    g->preface = fresh ? conn->_read_expect : NULL;  // an upgraded connection is past its preface
    g->prev_close = conn->sock->on_close.cb;
    g->prev_close_data = conn->sock->on_close.data;
    conn->sock->on_close.cb = on_sock_close;
    conn->sock->on_close.data = g;
    conn->_read_expect = guarded_read;
}

// Interposes the library's h2o_http2_accept (prior knowledge from http1.c, ALPN h2 after TLS).
void h2o_http2_accept(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, struct timeval connected_at) {
    static void (*real)(h2o_accept_ctx_t *, h2o_socket_t *, struct timeval);
    if (!real) {
        *(void **)&real = dlsym(RTLD_NEXT, "h2o_http2_accept");
        if (!real) eir_die("eir-serve: h2o_http2_accept not found in libh2o: %s", dlerror());
    }
    // the real one parses what the socket already holds: hold it back until the guard is on
    h2o_buffer_t *held = sock->input;
    h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    real(ctx, sock, connected_at);
    attach((h2o_http2_conn_t *)sock->data, true);
    h2o_buffer_dispose(&sock->input);
    sock->input = held;
    if (sock->input->size != 0 && sock->_cb.read) sock->_cb.read(sock, NULL);
}

static h2o_http2_conn_t *http2_conn_of(h2o_req_t *req) {
    return req->version >= 0x200 ? (h2o_http2_conn_t *)req->conn : NULL;
}

void h2_guard_attach_req(h2o_req_t *req) {
    h2o_http2_conn_t *conn = http2_conn_of(req);
    if (conn) attach(conn, false);
}
