// serve_main.c: eir-serve, the prediction server (spec §6, §10): command line, the model file's
// description, the signal thread, and the event loop's run until SIGTERM has drained it.
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sysmem.h"
#include "common/util.h"
#include "infer/crops.h"
#include "infer/memory_check.h"
#include "data/csv.h"  // EIR_ERR_LEN
#include "model/cuda_common.h"
#include "serve/serve.h"
#include "serve/serve_http.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: eir-serve --model-path M.safetensors [--host 0.0.0.0] [--port 8000] [options]\n"
            "\n"
            "Serves the model file M (from RUN/saved_models/; it carries its configuration and class\n"
            "names) the way EIR's eirserve does: POST /predict with a JSON array of objects\n"
            "{\"<input name>\": \"<base64 of the raw file>\"} answers {\"result\": [...]} in request order.\n"
            "Also GET /info, /health, /ready (503 while loading or draining) and /metrics (Prometheus).\n"
            "One port speaks HTTP/1.1, HTTP/2 with prior knowledge and h2c upgrade; with --tls-cert and\n"
            "--tls-key it speaks TLS (ALPN h2, http/1.1) instead. Items of concurrent requests are pooled\n"
            "into batches. SIGTERM (or SIGINT) stops accepting, finishes in-flight requests and exits 0.\n"
            "\n"
            "  --model-path, --model_path M  model file (.safetensors) to serve (required)\n"
            "  --host H                      address to listen on (default 0.0.0.0)\n"
            "  --port N                      port (default 8000; 0 = any free port, printed on start)\n"
            "  --device cpu|cuda|cuda:N      where the forward pass runs (default cpu); cuda = GPU 0.\n"
            "                                Each worker holds its own model copy on the GPU; GPU\n"
            "                                probabilities equal the CPU's to fp32 rounding\n"
            "  --threads N                   CPU threads for inference, all workers together\n"
            "                                (default: the online CPUs)\n"
            "  --workers W                   inference threads, one model copy each, N/W OpenMP threads\n"
            "                                each (default: N, single-threaded workers; with --device\n"
            "                                cuda: 2, so one worker prepares a batch while the other's runs)\n"
            "  --max-batch B                 most rows (items, or with --crops their crops) in one forward\n"
            "                                pass (default 16)\n"
            "  --crops all|N                 answer a value longer than max_length bytes with the mean over\n"
            "                                ceil(len / max_length) crops (all) or at most N crops spread evenly\n"
            "                                over it (default 1: its first max_length bytes, as EIR); values are\n"
            "                                then kept whole in memory (bounded by --max-body-bytes)\n"
            "  --max-memory SIZE             refuse (exit 2) to start when the workers' models and batches are\n"
            "                                estimated above SIZE (8G, 512M); available memory always applies\n"
            "  --max-delay-us D              how long a partial batch waits for more items (default 500)\n"
            "  --max-queue-items Q           items waiting for a worker before requests get 503 with\n"
            "                                Retry-After (default 1024)\n"
            "  --max-items K                 items in one request, else 413 (default 256)\n"
            "  --max-body-bytes S            request body limit, else 413 with the JSON error, over HTTP/1.1\n"
            "                                and HTTP/2 alike (default 16777216); never more than S (2 S for\n"
            "                                HTTP/1.1) is buffered. HTTP/1.1 bodies declared over 2 S are refused\n"
            "                                before they are read\n"
            "  --request-timeout-ms T        a request whose items still wait for a worker after T ms is\n"
            "                                answered 503 (default 30000; 0 = never)\n"
            "  --idle-timeout-s T            HTTP/1 request and HTTP/2 idle timeout (default 30)\n"
            "  --drain-timeout-s T           SIGTERM: longest wait for in-flight requests (default 30)\n"
            "  --tls-cert C, --tls-key K     PEM certificate chain and private key: serve HTTPS\n"
            "  --help, --version\n");
}

static long parse_long(const char *flag, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        eir_die_user("%s: expected an integer in [%ld, %ld], got '%s'", flag, lo, hi, v);
    return x;
}

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

static void parse_args(int argc, char **argv, ServeOptions *o) {
    memset(o, 0, sizeof *o);
    o->host = "0.0.0.0";
    o->port = 8000;
    o->max_batch = 16;
    o->crops = 1;
    o->max_delay_us = 500;
    o->max_queue_items = 1024;
    o->max_items = 256;
    o->max_body_bytes = 16u << 20;
    o->request_timeout_ms = 30000;
    o->idle_timeout_s = 30;
    o->drain_timeout_s = 30;
    o->cuda_device = -1;
    const char *device = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            printf("eir-serve %s\n", EIR_VERSION);
            exit(0);
        }
        // --flag value or --flag=value
        const char *eq = strchr(a, '='), *v;
        char name[64];
        if (strncmp(a, "--", 2) != 0) eir_die_user("unexpected argument '%s' (see eir-serve --help)", a);
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc) eir_die_user("%s needs a value (see eir-serve --help)", a);
            v = argv[++i];
        }
        if (!strcmp(name, "--model-path") || !strcmp(name, "--model_path")) o->model_path = v;
        else if (!strcmp(name, "--host")) o->host = v;
        else if (!strcmp(name, "--port")) o->port = (int)parse_long(name, v, 0, 65535);
        else if (!strcmp(name, "--threads")) o->threads = (int)parse_long(name, v, 1, 1024);
        else if (!strcmp(name, "--workers")) o->workers = (int)parse_long(name, v, 1, 1024);
        else if (!strcmp(name, "--max-batch")) o->max_batch = (int)parse_long(name, v, 1, 4096);
        else if (!strcmp(name, "--max-delay-us")) o->max_delay_us = parse_long(name, v, 0, 10000000);
        else if (!strcmp(name, "--max-queue-items")) o->max_queue_items = parse_long(name, v, 1, 1L << 24);
        else if (!strcmp(name, "--max-items")) o->max_items = parse_long(name, v, 1, 1L << 24);
        else if (!strcmp(name, "--max-body-bytes")) o->max_body_bytes = (size_t)parse_long(name, v, 1, LONG_MAX / 4);
        else if (!strcmp(name, "--request-timeout-ms")) o->request_timeout_ms = parse_long(name, v, 0, 86400000L);
        else if (!strcmp(name, "--idle-timeout-s")) o->idle_timeout_s = (int)parse_long(name, v, 1, 86400);
        else if (!strcmp(name, "--drain-timeout-s")) o->drain_timeout_s = (int)parse_long(name, v, 0, 86400);
        else if (!strcmp(name, "--tls-cert")) o->tls_cert = v;
        else if (!strcmp(name, "--tls-key")) o->tls_key = v;
        else if (!strcmp(name, "--device")) device = v;
        else if (!strcmp(name, "--crops")) {
            if (crops_parse(v, &o->crops) != 0) eir_die_user("--crops: expected \"all\" or an integer >= 1, got '%s'", v);
        }
        else if (!strcmp(name, "--max-memory")) {
            uint64_t bytes;
            char err[256];
            if (sysmem_parse_size(name, v, &bytes, err, sizeof err) != 0) eir_die_user("%s", err);
            sysmem_set_limit(bytes);
        }
        else eir_die_user("unknown argument '%s' (see eir-serve --help)", a);
    }
    if (!o->model_path) eir_die_user("--model-path is required (see eir-serve --help)");
    if (!o->tls_cert != !o->tls_key) eir_die_user("--tls-cert and --tls-key go together");
    if (!strcmp(device, "cuda")) {
        o->cuda_device = 0;
    } else if (!strncmp(device, "cuda:", 5)) {
        o->cuda_device = (int)parse_long("--device cuda:N", device + 5, 0, 1023);
    } else if (strcmp(device, "cpu")) {
        eir_die_user("--device: expected cpu, cuda or cuda:N, got '%s'", device);
    }
    if (o->cuda_device >= 0) {
#ifdef EIR_HAVE_CUDA
        int n = cuda_device_count();
        if (o->cuda_device >= n)
            eir_die_user("--device %s: %s", device, n ? "no such CUDA device on this machine" : "no CUDA device is available");
#else
        eir_die_user("--device %s: this eir-serve was built without the CUDA backend", device);
#endif
        if (!o->workers) o->workers = 2;
        if (!o->threads) o->threads = o->workers;
        snprintf(o->device_name, sizeof o->device_name, "cuda:%d", o->cuda_device);
    } else {
        snprintf(o->device_name, sizeof o->device_name, "cpu");
    }
    if (!o->threads) o->threads = o->workers ? (o->workers > online_cpus() ? o->workers : online_cpus()) : online_cpus();
    if (!o->workers) o->workers = o->threads;
    if (o->workers > o->threads) eir_die_user("--workers %d exceeds --threads %d", o->workers, o->threads);
    if (o->max_items > o->max_queue_items)
        eir_die_user("--max-items %ld exceeds --max-queue-items %ld: such a request could never be queued", o->max_items,
                     o->max_queue_items);
}

// The model file's description (spec §10: everything needed to serve is in the file).
static void load_model(const char *path, ServeModel *m) {
    struct stat st;
    if (stat(path, &st) != 0) eir_die_user("--model-path %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) eir_die_user("--model-path %s: not a file", path);
    size_t n = strlen(path);
    if (n < 12 || strcmp(path + n - 12, ".safetensors") != 0)
        eir_die_user("--model-path %s: expected a .safetensors model file from RUN/saved_models/", path);
    Model model;
    char err[EIR_ERR_LEN];
    memset(m, 0, sizeof *m);
    if (model_io_load(path, &model, &m->meta, err, sizeof err) != 0) eir_die_user("%s", err);
    m->config = model.config;
    m->num_parameters = model.num_parameters;
    m->path = strdup_check(path);
    model_free(&model);
    if (m->config.n_inputs < 1) eir_die_user("%s: the model has no inputs", path);
}

// SIGTERM/SIGINT: a handler (any thread may receive the signal: OpenBLAS starts threads before
// main) writes the signal number to a pipe; the watcher thread reads it and asks the loop to drain.
// A second signal ends the process at once.
static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t signals_seen;

static void on_stop_signal(int sig) {
    if (signals_seen++) {
        static const char msg[] = "eir-serve: second signal: exiting without draining\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(EIR_EXIT_FAIL);
    }
    unsigned char b = (unsigned char)sig;
    ssize_t ignored = write(signal_pipe[1], &b, 1);
    (void)ignored;
}

static void *signal_watcher(void *arg) {
    ServeServer *s = arg;
    unsigned char sig;
    ssize_t n;
    while ((n = read(signal_pipe[0], &sig, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) return NULL;  // pipe closed: the server is exiting
    fprintf(stderr, "eir-serve: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_request_drain(s);
    return NULL;
}

int main(int argc, char **argv) {
    eir_set_progname("eir-serve");
    ServeOptions opt;
    parse_args(argc, argv, &opt);
    ServeModel model;
    load_model(opt.model_path, &model);
    {  // each worker holds a model and (on the CPU) a batch's activations
        MemoryNeed need = {.what = "eir-serve", .rows = opt.cuda_device >= 0 ? 0 : opt.max_batch,
                           .rows_key = "--max-batch", .copies = opt.workers, .param_copies = 1, .procs_per_node = 1};
        char err[EIR_ERR_LEN];
        if (memory_check(&model.config, &need, err, sizeof err) != 0) eir_die_user("%s", err);
    }

    signal(SIGPIPE, SIG_IGN);
    if (pipe(signal_pipe) != 0) eir_die("pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    ServeServer *server = server_create(&opt, &model);
    fprintf(stderr, "eir-serve: model %s (%zu parameters, %d input%s)\n", model.path, model.num_parameters,
            model.config.n_inputs, model.config.n_inputs == 1 ? "" : "s");
    if (opt.crops != 1) {
        char name[24];
        fprintf(stderr, "eir-serve: crops: %s (each answer is the mean over a value's crops)\n",
                crops_mode_name(opt.crops, name, sizeof name));
    }
    fprintf(stderr, "eir-serve: listening on %s://%s:%d (%s)\n", opt.tls_cert ? "https" : "http", opt.host,
            server_port(server), opt.tls_cert ? "TLS with ALPN h2, http/1.1" : "HTTP/1.1, HTTP/2 prior knowledge, h2c upgrade");
    pthread_t watcher;
    int rc = pthread_create(&watcher, NULL, signal_watcher, server);
    if (rc != 0) eir_die("pthread_create: %s", strerror(rc));

    int code = server_run(server);
    server_free(server);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    close(signal_pipe[1]);  // ends the watcher if no signal came
    PTHREAD_CHECK(pthread_join(watcher, NULL));
    close(signal_pipe[0]);
    model_meta_free(&model.meta);
    free(model.path);
    return code;
}
