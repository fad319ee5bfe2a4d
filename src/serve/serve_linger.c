// serve_linger.c: lingering close (serve_linger.h).
#include "serve/serve_linger.h"

#include <h2o/socket/evloop.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

#define LINGER_IDLE_MS 2000           // closes after the client has sent nothing for this long
#define LINGER_MAX_BYTES (64u << 20)  // or once it has sent this much

struct Linger {
    h2o_loop_t *loop;
    h2o_timeout_t timeout;
};

typedef struct {
    Linger *l;
    int dup_fd;               // keeps the connection open once h2o has closed its descriptor
    h2o_socket_t *sock;       // the duplicate, while lingering
    h2o_timeout_entry_t timer;
    size_t dropped;
} Conn;

static void finish(Conn *c) {
    h2o_timeout_unlink(&c->timer);
    h2o_socket_close(c->sock);  // closes dup_fd
    free(c);
}

static void on_timer(h2o_timeout_entry_t *entry) { finish(H2O_STRUCT_FROM_MEMBER(Conn, timer, entry)); }

static void on_read(h2o_socket_t *sock, const char *err) {
    Conn *c = sock->data;
    c->dropped += sock->input->size;
    h2o_buffer_consume(&sock->input, sock->input->size);
    if (err || c->dropped > LINGER_MAX_BYTES) {  // err: the client closed too (or failed)
        finish(c);
        return;
    }
    h2o_timeout_unlink(&c->timer);  // still sending: wait for it
    h2o_timeout_link(c->l->loop, &c->l->timeout, &c->timer);
}

// h2o closed its descriptor: linger on the duplicate.
static void on_close(void *data) {
    Conn *c = data;
    shutdown(c->dup_fd, SHUT_WR);
    c->sock = h2o_evloop_socket_create(c->l->loop, c->dup_fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
    c->sock->data = c;
    c->timer.cb = on_timer;
    h2o_timeout_link(c->l->loop, &c->l->timeout, &c->timer);
    h2o_socket_read_start(c->sock, on_read);
}

Linger *linger_create(h2o_loop_t *loop) {
    Linger *l = calloc_check(1, sizeof *l);
    l->loop = loop;
    h2o_timeout_init(loop, &l->timeout, LINGER_IDLE_MS);
    return l;
}

void linger_attach(Linger *l, h2o_socket_t *sock, int fd) {
    int d = dup(fd);
    if (d < 0) return;  // out of descriptors: this connection closes without lingering
    Conn *c = calloc_check(1, sizeof *c);
    c->l = l;
    c->dup_fd = d;
    sock->on_close.cb = on_close;
    sock->on_close.data = c;
}
