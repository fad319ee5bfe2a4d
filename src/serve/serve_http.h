// serve_http.h: the HTTP side of eir-serve on libh2o (evloop): one listener that speaks HTTP/1.1,
// HTTP/2 with prior knowledge and h2c upgrade (or TLS with ALPN h2), the routes of spec §6 and
// §10, JSON errors, and the SIGTERM drain. Everything here runs on the one event-loop thread,
// except server_request_drain.
#pragma once
#include "serve/serve.h"

typedef struct ServeServer ServeServer;

// Configures h2o, binds and listens, starts the workers (they load the model in the
// background: /ready answers 503 until they are done). Dies with a usage error when the address
// cannot be bound or the certificate is unusable.
ServeServer *server_create(const ServeOptions *opt, const ServeModel *model);
// The port actually bound (useful with --port 0).
int server_port(const ServeServer *s);
// Runs the event loop until the drain that follows server_request_drain is over. Returns the
// process exit code (0 after a clean drain).
int server_run(ServeServer *s);
// One turn of the event loop, waiting at most timeout_ms: what a test or fuzz driver runs instead
// of server_run. Returns the exit code once the server has one (a worker failed), else -1.
int server_poll(ServeServer *s, int timeout_ms);
// Whether the workers have loaded the model and requests are answered.
int server_ready(const ServeServer *s);
// Thread-safe (called from the signal thread): stop accepting, finish in-flight requests, return
// from server_run. Calling it again has no effect.
void server_request_drain(ServeServer *s);
// After server_run: stops and joins the workers. The h2o loop and its connections stay allocated
// until the process exits (see serve_http.c).
void server_free(ServeServer *s);
