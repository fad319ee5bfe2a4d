// serve_linger.h: a lingering close for every connection eir-serve accepts. When h2o answers an
// HTTP/1.1 upload it refuses (a chunked body past the limit) and closes while the client is still
// sending, the kernel would reset the connection because unread bytes remain, and the reset can
// destroy the 413 before the client reads it (curl: "Connection reset by peer"). Each accepted
// socket is therefore duplicated; when h2o closes its descriptor the duplicate keeps the
// connection open, shuts its sending side (the answer goes out, then FIN), and reads and drops
// what the client still sends (until it stops for 2 s, closes, or has sent 64 MiB) before closing.
#pragma once
#include <h2o.h>

typedef struct Linger Linger;

// One per server: the loop its lingering sockets and timer run on.
Linger *linger_create(h2o_loop_t *loop);
// Call right after accepting sock (fd: its descriptor), before h2o takes it over.
void linger_attach(Linger *l, h2o_socket_t *sock, int fd);
