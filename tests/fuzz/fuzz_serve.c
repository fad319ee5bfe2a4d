// fuzz_serve.c: the serving node's request path, handlers included: one eir-serve (h2o,
// HTTP/1.1 and HTTP/2 with prior knowledge, the routes, the batcher and its worker, a tiny model)
// runs inside the fuzzer; each input is sent as raw bytes over a fresh loopback connection, and
// the event loop runs until the server answers and goes quiet, closes, waits 0.3 s for more
// bytes, or 1.5 s pass. The
// server must survive every input and answer the next one: a crash, a hang or a worker failure
// is a finding.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/util.h"
#include "fuzz_common.h"
#include "infer/model_io.h"
#include "serve/serve_http.h"

static ServeServer *server;
static ServeOptions opt;
static ServeModel served;

// A small two-class model, saved where the server loads it from.
static const char *write_model(void) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.n_inputs = 1;
    ModelInputSpec *in = &mc.inputs[0];
    strcpy(in->name, "txt");
    in->vocab = 261, in->max_length = 64, in->d = 16, in->heads = 2, in->layers = 1, in->ffn = 32, in->window = 16;
    in->position = POS_ENCODE, in->pool = POOL_AVG;
    mc.fusion_layers = 1, mc.fusion_dim = 16;
    mc.n_targets = 1;
    strcpy(mc.targets[0].output_name, "out");
    strcpy(mc.targets[0].column, "Label");
    mc.targets[0].n_classes = 2, mc.targets[0].layers = 1, mc.targets[0].dim = 16;
    Model m;
    model_build(&m, &mc);
    model_init_params(&m, 1);
    char *classes[] = {"ham", "spam"};
    TargetInfo ti = {.output_name = "out", .column = "Label", .n_classes = 2, .classes = classes};
    ModelMeta meta = {.n_targets = 1, .targets = &ti};
    const char *path = fuzz_write_file("serve-model.safetensors", "", 0);
    char err[1024];
    if (model_io_save(path, &m, &meta, err, sizeof err) != 0) eir_die("%s", err);
    model_free(&m);
    return path;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *path = write_model();
    Model m;
    char err[1024];
    if (model_io_load(path, &m, &served.meta, err, sizeof err) != 0) eir_die("%s", err);
    served.config = m.config;
    served.num_parameters = m.num_parameters;
    served.path = strdup_check(path);
    model_free(&m);
    opt = (ServeOptions){.model_path = served.path, .host = "127.0.0.1", .port = 0, .threads = 1, .workers = 1,
                         .max_batch = 4, .crops = 1, .max_delay_us = 0, .max_queue_items = 64, .max_items = 8,
                         .max_body_bytes = 4096, .request_timeout_ms = 2000, .idle_timeout_s = 2,
                         .drain_timeout_s = 1, .cuda_device = -1, .device_name = "cpu"};
    server = server_create(&opt, &served);
    for (int i = 0; i < 3000 && !server_ready(server); i++)
        if (server_poll(server, 10) >= 0) eir_die("fuzz_serve: the server failed to start");
    if (!server_ready(server)) eir_die("fuzz_serve: the server did not become ready");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) abort();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port(server))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c, (struct sockaddr *)&a, sizeof a) != 0) abort();
    fcntl(c, F_SETFL, O_NONBLOCK);
    size_t sent = 0;
    char buf[16384];
    double t0 = now_seconds(), last_data = 0, t_sent = 0;
    bool closed = false;
    while (now_seconds() - t0 < 1.5) {
        if (sent < size) {
            ssize_t w = send(c, data + sent, size - sent, MSG_NOSIGNAL);
            if (w > 0) sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = size;  // the server closed
            if (sent == size) t_sent = now_seconds();
        }
        if (server_poll(server, 5) >= 0) abort();  // a worker failed
        ssize_t r;
        while ((r = recv(c, buf, sizeof buf, 0)) > 0) last_data = now_seconds();
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed = true;
            break;
        }
        if (sent == size && last_data > 0 && now_seconds() - last_data > 0.05) break;  // answered, now quiet
        if (sent == size && last_data == 0 && now_seconds() - t_sent > 0.3) break;     // waits for more bytes
    }
    (void)closed;
    close(c);
    for (int i = 0; i < 5; i++) server_poll(server, 1);  // let the server see the close
    // the node still answers
    if (!server_ready(server)) abort();
    return 0;
}
