// serve_h2_guard.h: a 413 with the JSON error body for HTTP/2 request bodies over --max-body-bytes,
// on libh2o 2.2.5 (issue 16).
//
// h2o 2.2.5 buffers a whole HTTP/2 request body before any handler runs, and once the body passes
// globalconf.max_request_entity_size it resets the stream with REFUSED_STREAM, which clients take
// as "retry": curl sent a 300 MB upload five times, then failed without a status. The library has
// no streaming request-body API and no hook between the headers and the end of the body, so the
// guard sits in front of h2o's frame reader: eir-serve defines h2o_http2_accept (the library calls
// it through its PLT for prior knowledge and for TLS with ALPN h2), lets the real one create the
// connection with the socket's buffered bytes held back, and wraps the connection's frame reader
// before any frame is parsed. The guard counts each stream's body; at the DATA frame that would
// take it past the limit it writes the whole answer itself (HEADERS 413, the JSON error,
// END_STREAM), has h2o drop the stream as if the client had cancelled it (at most the limit was
// buffered), and drops the stream's later DATA frames, handing their flow-control credit back
// with WINDOW_UPDATE so the client can finish its upload and read the answer (past 1 GiB more it
// is told to stop with RST_STREAM NO_ERROR, RFC 9113 section 8.1). Connections upgraded from
// HTTP/1.1 (h2c) are guarded from their first request's handler on (h2_guard_attach_req).
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>

// The body limit (--max-body-bytes); set once before the server accepts connections.
void h2_guard_set_limit(size_t max_body_bytes);
// Guards the HTTP/2 connection of req if it is not yet (an h2c-upgraded one); no-op otherwise.
void h2_guard_attach_req(h2o_req_t *req);
// 413 answers the guard gave so far (for /metrics; the event-loop thread).
long h2_guard_answered(void);
