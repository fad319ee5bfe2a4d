// serve_http.c: routes, handlers, the JSON error filter and the drain, on one h2o event loop.
//
// A /predict request's life: the handler parses the body into a job (serve_request.c) and queues
// it (serve_batcher.c); the worker that finishes the job's last item sends the job back through
// an h2o multithread queue; on_jobs_done writes the answer. Every request gets a guard object
// in its memory pool whose dispose hook runs when h2o frees the request (answer sent, or client
// gone): a guard that still holds its job means the client left first, so the job is withdrawn
// from the queue and freed by whichever side lets go of it last (both sides run on this thread,
// so this needs no lock; the workers only ever see the job).
#include "serve/serve_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "serve/serve_batcher.h"
#include "serve/serve_h2_guard.h"
#include "serve/serve_json.h"
#include "serve/serve_linger.h"
#include "serve/serve_metrics.h"
#include "serve/serve_request.h"

enum { STATE_LOADING, STATE_READY, STATE_DRAINING };

struct ServeServer {
    const ServeOptions *opt;
    const ServeModel *model;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    SSL_CTX *ssl;
    h2o_socket_t *listener;
    int listen_fd;
    Linger *linger;  // lingering close of every accepted connection (serve_linger.h)
    int port;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t done_receiver, control_receiver, drain_receiver;
    h2o_multithread_message_t drain_msg;
    atomic_int drain_requested;
    Batcher *batcher;
    ServeMetrics *metrics;
    int state;
    int exit_code;       // -1 while running normally; else the loop ends with this code
    long live_requests;  // requests h2o has not disposed of yet
    double drain_deadline;
    bool drain_timed_out;
    StrBuf info;         // GET /info, rendered once
};

// The server lives until the process exits (see server_free); this global keeps it reachable
// (external linkage: a static that is only written may be optimised away).
ServeServer *serve_the_server;

typedef struct ReqGuard ReqGuard;
// One HTTP route: its exact path, the methods it takes (for 405 and the Allow header) and what
// answers it. Adding a route is one row of ROUTES (below) and its function.
typedef void (*RouteFn)(ServeServer *s, h2o_req_t *req, ReqGuard *g);
typedef struct {
    const char *path;
    const char *allow;  // "POST" or "GET, HEAD"
    RouteFn fn;
} Route;

// The h2o handler registered for one route's path (route NULL: the catch-all "/", 404).
typedef struct {
    h2o_handler_t super;
    ServeServer *s;
    const Route *route;
} ServeHandler;

typedef struct {
    h2o_filter_t super;
    ServeServer *s;
} ServeFilter;

struct ReqGuard {
    ServeServer *s;
    h2o_req_t *req;
    ServeJob *job;  // the request's job until it is answered; still set at dispose = client gone
};

// ---- sending ------------------------------------------------------------------------------

static bool is_head(h2o_req_t *req) { return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")); }

// body must live in req->pool (or be static).
static void send_body(h2o_req_t *req, int status, const char *reason, const char *content_type, h2o_iovec_t body) {
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_start_response(req, &generator);
    if (is_head(req)) h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static const char *reason_of(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Payload Too Large";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

static void send_json(h2o_req_t *req, int status, const StrBuf *sb) {
    send_body(req, status, reason_of(status), "application/json",
              h2o_strdup(&req->pool, sb->data ? sb->data : "", sb->len));
}

static void send_error(h2o_req_t *req, int status, const char *msg) {
    StrBuf sb = {0};
    json_error_body(&sb, msg);
    if (status == 503)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("retry-after"), 0, NULL, H2O_STRLIT("1"));
    send_json(req, status, &sb);
    sb_free(&sb);
}

// ---- /predict -----------------------------------------------------------------------------

static void guard_dispose(void *p) {
    ReqGuard *g = p;
    ServeServer *s = g->s;
    s->live_requests--;
    ServeJob *job = g->job;
    if (!job) return;
    // the client went away before its answer: nobody will read the job's results
    metrics_count_cancelled(s->metrics);
    job->owner = NULL;
    if (!job->batcher_done && batcher_withdraw(s->batcher, job)) job->batcher_done = true;
    if (job->batcher_done) job_free(job);
}

static void answer_job(ServeServer *s, h2o_req_t *req, ServeJob *job) {
    int failed = atomic_load(&job->failed_status);
    if (failed) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request waited more than %ld ms for a worker (--request-timeout-ms): retry later",
                 s->opt->request_timeout_ms);
        send_error(req, failed, msg);
        return;
    }
    static const char head[] = "{\"result\":[", tail[] = "]}";
    size_t total = sizeof head - 1 + sizeof tail - 1 + (size_t)(job->n_items - 1);
    for (int i = 0; i < job->n_items; i++) total += job->item_len[i];
    char *buf = h2o_mem_alloc_pool(&req->pool, total), *w = buf;
    memcpy(w, head, sizeof head - 1);
    w += sizeof head - 1;
    for (int i = 0; i < job->n_items; i++) {
        if (i) *w++ = ',';
        memcpy(w, job->item_json[i], job->item_len[i]);
        w += job->item_len[i];
    }
    memcpy(w, tail, sizeof tail - 1);
    metrics_observe_predict(s->metrics, job->n_items, now_seconds() - job->t_arrival);
    send_body(req, 200, "OK", "application/json", h2o_iovec_init(buf, total));
}

// Jobs whose last item is done, from the workers.
static void on_jobs_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    ServeServer *s = H2O_STRUCT_FROM_MEMBER(ServeServer, done_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        ServeJob *job = H2O_STRUCT_FROM_MEMBER(ServeJob, msg, msg);
        job->batcher_done = true;
        ReqGuard *g = job->owner;
        if (g) {
            g->job = NULL;  // answered: the guard no longer owns it (before sending: see guard_dispose)
            answer_job(s, g->req, job);
        }
        job_free(job);
    }
}

static void handle_predict(ServeServer *s, h2o_req_t *req, ReqGuard *g) {
    double t_arrival = now_seconds();  // the body is complete: h2o buffers it before handlers run
    if (s->state == STATE_LOADING) {
        send_error(req, 503, "the model is still loading: retry shortly (GET /ready says when it is ready)");
        return;
    }
    if (s->state == STATE_DRAINING) {
        send_error(req, 503, "the server is shutting down");
        return;
    }
    if (req->entity.len > s->opt->max_body_bytes) {
        char msg[200];
        snprintf(msg, sizeof msg, "the request body (%zu bytes) is larger than the limit of %zu bytes (--max-body-bytes)",
                 req->entity.len, s->opt->max_body_bytes);
        send_error(req, 413, msg);
        return;
    }
    RequestError e;
    ServeJob *job = predict_request_parse(req->entity.base ? req->entity.base : "", req->entity.len, s->model,
                                          s->opt->max_items, s->opt->crops, &e);
    if (!job) {
        send_error(req, e.status, e.message);
        return;
    }
    job->t_arrival = t_arrival;
    job->owner = g;
    if (batcher_submit(s->batcher, job) != 0) {
        job_free(job);
        char msg[200];
        snprintf(msg, sizeof msg, "the queue is full (%ld items waiting, room for %ld; --max-queue-items): retry later",
                 batcher_queued_items(s->batcher), batcher_capacity(s->batcher));
        send_error(req, 503, msg);
        return;
    }
    g->job = job;
}

// ---- the other routes -----------------------------------------------------------------------

static void handle_ready(ServeServer *s, h2o_req_t *req, ReqGuard *g) {
    static const char *names[] = {"loading", "ready", "draining"};
    StrBuf sb = {0};
    sb_printf(&sb, "{\"status\":\"%s\"}", names[s->state]);
    if (s->state != STATE_READY)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("retry-after"), 0, NULL, H2O_STRLIT("1"));
    send_json(req, s->state == STATE_READY ? 200 : 503, &sb);
    sb_free(&sb);
}

static void handle_metrics(ServeServer *s, h2o_req_t *req, ReqGuard *g) {
    MetricsGauges gauges = {
        .ready = s->state == STATE_READY,
        .draining = s->state == STATE_DRAINING,
        .queue_items = batcher_queued_items(s->batcher),
        .queue_capacity = batcher_capacity(s->batcher),
        .inflight_requests = s->live_requests - 1,  // not counting this one
        .workers = s->opt->workers,
        .threads_per_worker = batcher_threads_per_worker(s->batcher),
        .max_batch = s->opt->max_batch,
        .model_parameters = s->model->num_parameters,
        .http2_body_limit_answers = h2_guard_answered(),
    };
    StrBuf sb = {0};
    metrics_render(s->metrics, &gauges, &sb);
    send_body(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
              h2o_strdup(&req->pool, sb.data, sb.len));
    sb_free(&sb);
}

static void handle_info(ServeServer *s, h2o_req_t *req, ReqGuard *g) { send_json(req, 200, &s->info); }

static void handle_health(ServeServer *s, h2o_req_t *req, ReqGuard *g) {
    StrBuf sb = {0};
    sb_puts(&sb, "{\"status\":\"ok\"}");
    send_json(req, 200, &sb);
    sb_free(&sb);
}

static const Route ROUTES[] = {
    {"/predict", "POST", handle_predict},
    {"/info", "GET, HEAD", handle_info},
    {"/health", "GET, HEAD", handle_health},
    {"/ready", "GET, HEAD", handle_ready},
    {"/metrics", "GET, HEAD", handle_metrics},
};
#define N_ROUTES (sizeof ROUTES / sizeof *ROUTES)

// The route a request path names exactly (a query string aside), or NULL.
static const Route *route_of(h2o_iovec_t path) {
    size_t q = 0;
    while (q < path.len && path.base[q] != '?') q++;
    for (size_t r = 0; r < N_ROUTES; r++)
        if (q == strlen(ROUTES[r].path) && !memcmp(path.base, ROUTES[r].path, q)) return &ROUTES[r];
    return NULL;
}

static bool method_allowed(h2o_req_t *req, const char *allow) {
    if (!strcmp(allow, "POST")) return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) || is_head(req);
}

static void method_not_allowed(h2o_req_t *req, const char *allow, const char *route) {
    char msg[200];
    snprintf(msg, sizeof msg, "%.*s is not allowed on %s: use %s", (int)(req->method.len > 16 ? 16 : req->method.len),
             req->method.base, route, allow);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    send_error(req, 405, msg);
}

static void not_found(h2o_req_t *req, h2o_iovec_t path) {
    StrBuf sb = {0};
    sb_puts(&sb, "no such endpoint ");
    json_put_string_clipped(&sb, path.base, path.len, 100);
    sb_puts(&sb, ": the endpoints are");
    for (size_t r = 0; r < N_ROUTES; r++)  // "POST /predict, GET /info, ..."
        sb_printf(&sb, "%s%.*s %s", r ? ", " : " ", (int)strcspn(ROUTES[r].allow, ","), ROUTES[r].allow, ROUTES[r].path);
    sb_append(&sb, "", 1);
    send_error(req, 404, sb.data);
    sb_free(&sb);
}

// h2o hands a request to the first registered path that is a prefix of it at a '/' boundary, so
// a route's handler still checks the whole path ("/predict/x" is not /predict).
static int on_req(h2o_handler_t *self, h2o_req_t *req) {
    const ServeHandler *h = (const ServeHandler *)self;
    ServeServer *s = h->s;
    ReqGuard *g = h2o_mem_alloc_shared(&req->pool, sizeof *g, guard_dispose);
    g->s = s;
    g->req = req;
    g->job = NULL;
    s->live_requests++;
    h2o_iovec_t path = req->path_normalized;
    const Route *r = h->route;
    h2_guard_attach_req(req);  // an h2c-upgraded connection: guarded from now on
    if (!r || path.len != strlen(r->path) || memcmp(path.base, r->path, path.len) != 0) not_found(req, path);
    else if (!method_allowed(req, r->allow)) method_not_allowed(req, r->allow, r->path);
    else r->fn(s, req, g);
    return 0;
}

static void register_handler(ServeServer *s, h2o_pathconf_t *pathconf, const Route *route) {
    ServeHandler *h = (ServeHandler *)h2o_create_handler(pathconf, sizeof *h);
    h->super.on_req = on_req;
    h->s = s;
    h->route = route;
}

// ---- the filter: count every answer, turn h2o's own plain-text errors into JSON --------------

typedef struct {
    h2o_ostream_t super;
    ServeServer *s;
    bool sent;
} JsonErrorStream;

static void json_error_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                               h2o_send_state_t state) {
    JsonErrorStream *js = (JsonErrorStream *)self;
    if (js->sent) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    js->sent = true;
    StrBuf text = {0}, sb = {0};
    if (req->res.status == 413) {
        sb_printf(&text, "the request body is larger than the limit of %zu bytes (--max-body-bytes)",
                  js->s->opt->max_body_bytes);
    } else {
        sb_printf(&text, "%s: ", req->res.reason ? req->res.reason : "error");
        for (size_t i = 0; i < bufcnt; i++) sb_append(&text, bufs[i].base, bufs[i].len);
    }
    sb_append(&text, "", 1);
    json_error_body(&sb, text.data);
    h2o_iovec_t body = h2o_strdup(&req->pool, sb.data, sb.len);
    sb_free(&text);
    sb_free(&sb);
    req->res.content_length = body.len;  // headers are written by the next stream, after this
    if (is_head(req)) h2o_ostream_send_next(self, req, NULL, 0, state);
    else h2o_ostream_send_next(self, req, &body, 1, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot) {
    ServeServer *s = ((ServeFilter *)self)->s;
    const Route *route = route_of(req->path.base ? req->path : req->input.path);
    metrics_count_response(s->metrics, route ? route->path : "other", req->res.status);
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    bool json = ct >= 0 && h2o_memis(req->res.headers.entries[ct].value.base, req->res.headers.entries[ct].value.len,
                                     H2O_STRLIT("application/json"));
    if (req->res.status >= 400 && !json) {
        JsonErrorStream *js = (JsonErrorStream *)h2o_add_ostream(req, sizeof *js, slot);
        js->super.do_send = json_error_do_send;
        js->s = s;
        js->sent = false;
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
        slot = &js->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

static void add_filter(ServeServer *s, h2o_pathconf_t *pathconf) {
    ServeFilter *f = (ServeFilter *)h2o_create_filter(pathconf, sizeof *f);
    f->super.on_setup_ostream = on_setup_ostream;
    f->s = s;
}

// ---- loading, draining, the loop ------------------------------------------------------------

static void on_workers_loaded(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    ServeServer *s = H2O_STRUCT_FROM_MEMBER(ServeServer, control_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) h2o_linklist_unlink(messages->next);
    const char *err = batcher_load_error(s->batcher);
    if (err) {
        fprintf(stderr, "%s: error: a worker could not load the model: %s\n", eir_progname(), err);
        s->exit_code = EIR_EXIT_FAIL;
        return;
    }
    if (s->state == STATE_LOADING) s->state = STATE_READY;
    fprintf(stderr, "%s: ready on %s: %d worker%s x %d thread%s, max batch %d, max delay %ld us\n", eir_progname(),
            s->opt->device_name, s->opt->workers, s->opt->workers == 1 ? "" : "s", batcher_threads_per_worker(s->batcher),
            batcher_threads_per_worker(s->batcher) == 1 ? "" : "s", s->opt->max_batch, s->opt->max_delay_us);
}

static void on_drain(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    ServeServer *s = H2O_STRUCT_FROM_MEMBER(ServeServer, drain_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) h2o_linklist_unlink(messages->next);
    if (s->state == STATE_DRAINING) return;
    s->state = STATE_DRAINING;
    s->drain_deadline = now_seconds() + s->opt->drain_timeout_s;
    if (s->listener) {  // stop accepting: new connections are refused from now on
        h2o_socket_read_stop(s->listener);
        h2o_socket_close(s->listener);
        s->listener = NULL;
    }
    h2o_context_request_shutdown(&s->ctx);  // HTTP/2 GOAWAY, no more HTTP/1 keep-alive
    fprintf(stderr, "%s: draining: %ld request%s in flight, up to %d s\n", eir_progname(), s->live_requests,
            s->live_requests == 1 ? "" : "s", s->opt->drain_timeout_s);
}

void server_request_drain(ServeServer *s) {
    if (atomic_exchange(&s->drain_requested, 1) == 0) h2o_multithread_send_message(&s->drain_receiver, &s->drain_msg);
}

static void on_accept(h2o_socket_t *listener, const char *err) {
    ServeServer *s = listener->data;
    if (err) return;
    for (int i = 0; i < 16; i++) {  // several per wake-up under a connection burst
        // accepted here rather than by h2o_evloop_socket_accept: the lingering close needs the fd
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) return;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        h2o_socket_t *sock = h2o_evloop_socket_create(s->ctx.loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
        linger_attach(s->linger, sock, fd);
        h2o_accept(&s->accept_ctx, sock);
    }
}

static int bind_listener(const char *host, int port, int *bound_port, char *err, size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port_str[16];
    snprintf(port_str, sizeof port_str, "%d", port);
    int rc = getaddrinfo(host, port_str, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "--host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) break;
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static SSL_CTX *make_tls(const ServeOptions *opt) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) eir_die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, opt->tls_cert) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        eir_die_user("--tls-cert %s: %s", opt->tls_cert, e);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, opt->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        eir_die_user("--tls-key %s: %s", opt->tls_key, e);
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
}

ServeServer *server_create(const ServeOptions *opt, const ServeModel *model) {
    ServeServer *s = calloc_check(1, sizeof *s);
    serve_the_server = s;
    s->opt = opt;
    s->model = model;
    s->exit_code = -1;
    s->state = STATE_LOADING;
    atomic_init(&s->drain_requested, 0);
    char err[512];
    int fd = bind_listener(opt->host, opt->port, &s->port, err, sizeof err);
    if (fd < 0) eir_die_user("%s", err);

    h2o_config_init(&s->config);
    // h2o buffers a whole body before any handler runs and has no hook in between. With HTTP/1.1
    // it refuses a Content-Length above this limit before reading the body (413, made JSON by the
    // filter), and a chunked body once it passes it; with HTTP/2 it would reset the stream with
    // REFUSED_STREAM, so serve_h2_guard.c answers 413 to HTTP/2 bodies past --max-body-bytes
    // itself. Twice our limit: HTTP/1.1 bodies a little over it still reach the handler's 413.
    h2_guard_set_limit(opt->max_body_bytes);
    s->config.max_request_entity_size = opt->max_body_bytes <= SIZE_MAX / 2 ? opt->max_body_bytes * 2 : SIZE_MAX;
    s->config.http1.req_timeout = (uint64_t)opt->idle_timeout_s * 1000;
    s->config.http2.idle_timeout = (uint64_t)opt->idle_timeout_s * 1000;
    s->config.http2.graceful_shutdown_timeout = (uint64_t)opt->drain_timeout_s * 1000;
    h2o_hostconf_t *host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    for (size_t r = 0; r < N_ROUTES; r++) {  // before "/": h2o takes the first path that matches
        h2o_pathconf_t *pc = h2o_config_register_path(host, ROUTES[r].path, 0);
        register_handler(s, pc, &ROUTES[r]);
        add_filter(s, pc);
    }
    h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
    register_handler(s, root, NULL);
    add_filter(s, root);
    add_filter(s, &host->fallback_path);  // errors h2o sends before a route is chosen

    h2o_context_init(&s->ctx, h2o_evloop_create(), &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    if (opt->tls_cert) s->accept_ctx.ssl_ctx = s->ssl = make_tls(opt);

    s->queue = h2o_multithread_create_queue(s->ctx.loop);
    h2o_multithread_register_receiver(s->queue, &s->done_receiver, on_jobs_done);
    h2o_multithread_register_receiver(s->queue, &s->control_receiver, on_workers_loaded);
    h2o_multithread_register_receiver(s->queue, &s->drain_receiver, on_drain);

    s->metrics = metrics_create();
    s->batcher = batcher_start(opt, s->metrics, &s->done_receiver, &s->control_receiver);
    json_render_info(&s->info, model, opt, batcher_threads_per_worker(s->batcher));

    s->listen_fd = fd;
    s->linger = linger_create(s->ctx.loop);
    s->listener = h2o_evloop_socket_create(s->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    s->listener->data = s;
    h2o_socket_read_start(s->listener, on_accept);
    return s;
}

int server_port(const ServeServer *s) { return s->port; }

int server_poll(ServeServer *s, int timeout_ms) {
    h2o_evloop_run(s->ctx.loop, timeout_ms);
    return s->exit_code >= 0 ? s->exit_code : -1;
}

int server_ready(const ServeServer *s) { return s->state == STATE_READY; }

int server_run(ServeServer *s) {
    s->drain_timed_out = false;
    for (;;) {
        bool draining = s->state == STATE_DRAINING;
        if (draining && s->live_requests == 0) break;
        if (s->exit_code >= 0) return s->exit_code;
        if (draining && now_seconds() > s->drain_deadline) {
            fprintf(stderr, "%s: drain timeout: %ld request%s still in flight, exiting\n", eir_progname(),
                    s->live_requests, s->live_requests == 1 ? "" : "s");
            s->drain_timed_out = true;
            return 0;
        }
        h2o_evloop_run(s->ctx.loop, draining ? 20 : INT32_MAX);
    }
    fprintf(stderr, "%s: drained, exiting\n", eir_progname());
    return 0;
}

// h2o 2.2.5 cannot dispose of a context while connections are open (h2o_timeout_dispose asserts
// that no connection still waits on a timeout), and idle HTTP/1.1 keep-alive connections may be:
// the loop, its connections and the server struct live until the process exits.
void server_free(ServeServer *s) {
    if (!s) return;
    batcher_stop(s->batcher, s->drain_timed_out);
    s->batcher = NULL;
}
