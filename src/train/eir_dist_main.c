// eir_dist_main.c: the eir-dist program: EIR's `eirtrain` command line (spec §1) plus eir-dist's
// own flags. Reads the configs, sets up the data, and trains (or, with --dry-run, reports).
#define _DEFAULT_SOURCE  // realpath
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sysmem.h"
#include "common/util.h"
#include "config/cli_args.h"
#include "config/config.h"
#include "config/config_schema.h"
#include "data/data_summary.h"
#include "data/dataset.h"
#include "data/setup_codec.h"
#include "data/split.h"
#include "dist/comm.h"
#include "common/log.h"
#include "common/threads.h"
#ifdef EIR_HAVE_CUDA
#include "model/cuda_common.h"
#ifdef EIR_HAVE_CUDA
#include "model/model_cuda.h"
#endif
#endif
#include "train/trainer.h"

typedef struct {
    bool dry_run;
    const char *resume;
    const char *device;  // --device cpu|cuda|auto (NULL: basic_experiment.device)
} ProgramFlags;

static void print_usage(FILE *f) {
    fprintf(f,
            "usage: eir-dist --global_configs G.yaml... --input_configs I.yaml... --output_configs O.yaml...\n"
            "                [--fusion_configs F.yaml...] [--<file_stem>.<dotted.key>=<value>...]\n"
            "                [--dry-run] [--resume RUN_FOLDER] [--help] [--version]\n"
            "\n"
            "Trains EIR's raw-bytes local transformer from EIR's YAML configs. Run it under\n"
            "`mpirun -np N eir-dist ...` for data-parallel training (plain eir-dist is one rank).\n"
            "\n%s\n"
            "Program flags:\n"
            "  --dry-run              read configs and data, print the data summary, exit (writes nothing)\n"
            "  --resume RUN_FOLDER    continue an interrupted run from its training state\n"
            "  --device cpu|cuda|auto where to train (default: accelerator.hardware / basic_experiment.device,\n"
            "                         else auto: this rank's GPU when there is one, else the CPU)\n"
            "  --max-memory SIZE      refuse (exit 2) a model + optimizer + batch estimated above SIZE per rank\n"
            "                         (8G, 512M); the node's available memory, shared by its ranks, always applies\n"
            "  --config-keys          list every config key: type, default, accepted values, meaning\n"
            "  -h, --help             this help\n"
            "  --version              print the version\n"
            "\n"
            "Environment: EIR_SEED (integer seed of the split and all randomness, default 0);\n"
            "  EIR_CUDA_DEVICE (GPU of this rank; default: the local rank), EIR_DIST_GPU_COMM=nccl|mpi\n"
            "  (gradient all-reduce between GPU ranks, default nccl), EIR_DIST_BUCKET_MB (gradient bucket\n"
            "  size in MiB; default 0 = one blocking all-reduce on CPUs, 4 on GPUs).\n"
            "Exit codes: 0 success, 1 internal or system failure, 2 bad configuration, data or arguments.\n",
            cli_config_usage());
}

static void parse_program_flags(const StrList *rest, ProgramFlags *pf) {
    memset(pf, 0, sizeof *pf);
    for (int i = 1; i < rest->n; i++) {
        const char *a = rest->items[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
#if defined(EIR_CUDA_EMU)
            const char *cuda = "emulated on the CPU (tests only)";
#elif defined(EIR_HAVE_CUDA)
            const char *cuda = "built";
#else
            const char *cuda = "not built";
#endif
            printf("eir-dist %s (collectives: %s; CUDA backend: %s)\n", EIR_VERSION, comm_backend_name(), cuda);
            exit(0);
        } else if (!strcmp(a, "--config-keys")) {
            config_print_keys(stdout);
            exit(0);
        } else if (!strcmp(a, "--dry-run")) {
            pf->dry_run = true;
        } else if (!strcmp(a, "--resume")) {
            if (i + 1 >= rest->n) eir_die_user("--resume needs a run folder");
            pf->resume = rest->items[++i];
        } else if (!strncmp(a, "--resume=", 9)) {
            pf->resume = a + 9;
        } else if (!strcmp(a, "--max-memory") || !strncmp(a, "--max-memory=", 13)) {
            const char *v = a[12] == '=' ? a + 13 : (i + 1 < rest->n ? rest->items[++i] : NULL);
            if (!v) eir_die_user("--max-memory needs a size (8G, 512M)");
            uint64_t bytes;
            char err[256];
            if (sysmem_parse_size("--max-memory", v, &bytes, err, sizeof err) != 0) eir_die_user("%s", err);
            sysmem_set_limit(bytes);
        } else if (!strcmp(a, "--device") || !strncmp(a, "--device=", 9)) {
            if (a[8] == '=') pf->device = a + 9;
            else if (i + 1 < rest->n) pf->device = rest->items[++i];
            else eir_die_user("--device needs cpu, cuda or auto");
            if (strcmp(pf->device, "cpu") && strcmp(pf->device, "cuda") && strcmp(pf->device, "auto"))
                eir_die_user("--device: expected cpu, cuda or auto, got '%s'", pf->device);
        } else {
            eir_die_user("unknown argument '%s' (see eir-dist --help)", a);
        }
    }
}

// Which device trains: --device, else accelerator.hardware when it names one, else
// basic_experiment.device when it is not EIR's deprecated default "cpu", else auto (a GPU when
// the build has the CUDA backend and the node shows one, as EIR's accelerator "auto"). Returns
// this rank's CUDA device, or -1 for the CPU. Collective: ranks of one node must not share a GPU
// (NCCL refuses it), which is checked over the job; "auto" then falls back to the CPU, "cuda" fails.
static int choose_device(const char *flag, const ExperimentConfig *cfg, Comm *comm) {
    const char *hw = cfg->global.accelerator.hardware, *be = cfg->global.basic_experiment.device;
    const char *want = flag                                    ? flag
                       : hw && strcmp(hw, "auto")              ? (!strcmp(hw, "gpu") ? "cuda" : hw)
                       : be && strcmp(be, "cpu")               ? be
                                                               : "auto";
    const char *why = flag ? "--device" : hw && strcmp(hw, "auto") ? "accelerator.hardware"
                      : be && strcmp(be, "cpu") ? "basic_experiment.device" : "auto";
    bool root = comm->rank == 0;
#ifndef EIR_HAVE_CUDA
    if (!strcmp(want, "cuda"))
        eir_die_user("device cuda (%s): this eir-dist was built without the CUDA backend (CUDA toolkit + NCCL not "
                     "found at build time); use --device cpu", why);
    if (root) log_msg(LOG_INFO, "eir.train", "device: cpu (%s)", !strcmp(want, "cpu") ? "as configured" : "built without the CUDA backend");
    return -1;
#else
    int gpus = cuda_device_count();
    if (!strcmp(want, "cuda") && !gpus)
        eir_die_user("device cuda (%s): no CUDA device is available on this machine; use --device cpu or auto", why);
    if (!strcmp(want, "cpu") || !gpus) {
        if (root) log_msg(LOG_INFO, "eir.train", "device: cpu (%s)", !strcmp(want, "cpu") ? "as configured" : "no CUDA device found");
        return -1;
    }
    char reason[512] = "";
    int dev = cuda_rank_device(comm->rank, comm->local_rank, comm->local_size, reason, sizeof reason);
    // every rank's (host, GPU bus id), to find ranks that were given the same GPU
    char key[384] = "", host[256] = "", bus[64] = "";
    if (dev >= 0) {
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "?");
        if (cuda_device_bus_id(dev, bus, (int)sizeof bus) != 0) snprintf(bus, sizeof bus, "device %d", dev);
        snprintf(key, sizeof key, "%s|%s", host, bus);
    }
    size_t total = 0;
    char *all = comm_gatherv(comm, key, sizeof key, 0, &total);
    int32_t verdict = dev < 0;
    if (root) {
        int n = (int)(total / sizeof key);
        for (int a = 0; a < n && !(verdict & 2); a++)
            for (int b = a + 1; b < n && all[a * sizeof key]; b++)
                if (!strcmp(all + a * sizeof key, all + b * sizeof key)) {
                    const char *bar = strchr(all + a * sizeof key, '|');
                    snprintf(reason, sizeof reason, "ranks %d and %d share GPU %s of node %.*s: one GPU per rank is "
                             "needed (start fewer ranks, or give each rank its own, e.g. Slurm --gpus-per-task=1 or "
                             "EIR_CUDA_DEVICE)", a, b, bar + 1, (int)(bar - (all + a * sizeof key)), all + a * sizeof key);
                    verdict |= 2;
                    break;
                }
        free(all);
    }
    comm_allreduce_max_i32(comm, &verdict, 1);
    if (verdict) {
        if (!reason[0]) snprintf(reason, sizeof reason, "a rank found no CUDA device of its own");
        if (!strcmp(want, "cuda")) eir_die_user("device cuda (%s): %s", why, reason);
        if (root) log_msg(LOG_INFO, "eir.train", "device: cpu (auto: %s)", reason);
        return -1;
    }
    return dev;
#endif
}

static int math_from_precision(const char *p) {
    if (p && !strcmp(p, "tf32")) return 1;
    if (p && !strcmp(p, "bf16-mixed")) return 2;
    return 0;
}

// EIR refuses to train into a folder that already holds a run (spec §1.1).
static void check_fresh_run_folder(const char *run) {
    char *p = path_join(run, "train_average_history.log");
    if (path_exists(p))
        eir_die_user("output_folder '%s' already holds a run (%s exists): choose another output_folder, "
                     "or continue it with --resume %s", run, p, run);
    free(p);
}

int main(int argc, char **argv) {
    eir_set_progname("eir-dist");
    Comm comm;
    comm_init(&comm, &argc, &argv);
    log_setup(comm.rank == 0, LOG_INFO);
    comm_set_startup_mode(&comm, true);
    int n_threads = threads_configure(comm.local_size);
    if (comm.rank != 0) {
        // only rank 0 prints; the others fail the same way, silently, and MPI_Abort ends the job
        if (!freopen("/dev/null", "w", stdout)) eir_die("cannot redirect stdout");
    }
    ConfigSources src;
    StrList rest;
    cli_split_config_args(argc, argv, CLI_CONFIGS_OPTIONAL, &src, &rest);
    ProgramFlags pf;
    parse_program_flags(&rest, &pf);
    TrainOptions opt = {0};
    char env_err[EIR_ERR_LEN];
    if (train_options_read_env(&opt, env_err, sizeof env_err) != 0) eir_die_user("%s", env_err);

    ExperimentConfig cfg;
    char err[EIR_ERR_LEN];
    if (src.global_files.n == 0 && src.output_files.n == 0) {
        if (!pf.resume) eir_die_user("--global_configs and --output_configs are required (see eir-dist --help)");
        // --resume RUN alone: the run's own effective configs
        char *dir = path_join(pf.resume, "configs");
        if (config_try_load_effective(&cfg, dir, 0, err, sizeof err) != 0) eir_die_user("%s", err);
        free(dir);
    } else {
        if (src.global_files.n == 0 || src.output_files.n == 0)
            eir_die_user("--global_configs and --output_configs are both required (see eir-dist --help)");
        config_load(&cfg, &src);
    }
    uint64_t seed = opt.seed;  // EIR_SEED, read with the other knobs
    const char *run = cfg.global.basic_experiment.output_folder;
    if (pf.resume) {
        char *a = realpath(pf.resume, NULL), *b = realpath(run, NULL);
        bool same = a && b && !strcmp(a, b);
        free(a);
        free(b);
        if (!same) eir_die_user("--resume %s: the configs' output_folder is '%s', not that folder", pf.resume, run);
    } else if (!pf.dry_run) {
        check_fresh_run_folder(run);
    }

    int cuda_device = choose_device(pf.device, &cfg, &comm);
    bool use_cuda = cuda_device >= 0;
    if (use_cuda && pf.dry_run && comm.rank == 0)
        log_msg(LOG_INFO, "eir.train", "device: cuda:%d on rank 0 (one GPU per rank)", cuda_device);
    int cuda_math = math_from_precision(cfg.global.accelerator.precision);
    if (!use_cuda && cuda_math && comm.rank == 0)
        log_msg(LOG_INFO, "eir.train", "accelerator.precision %s applies to GPUs; the CPU computes in fp32",
                cfg.global.accelerator.precision);
    // rank 0 reads the labels, lists the files and splits; the others receive the result
    DataSetup setup;
    int64_t blob_len = 0;
    StrBuf blob = {0};
    if (comm.rank == 0) {
        if (data_setup(&setup, &cfg, seed, err, sizeof err) != 0) blob_len = -1;
        else data_setup_encode(&setup, &blob), blob_len = (int64_t)blob.len;
    }
    comm_bcast(&comm, &blob_len, sizeof blob_len, 0);
    if (blob_len < 0) eir_die_user("%s", err);  // every rank exits 2, rank 0 prints
    if (comm.size > 1) {
        if (comm.rank != 0) blob.data = malloc_check((size_t)blob_len);
        comm_bcast(&comm, blob.data, (size_t)blob_len, 0);
        if (comm.rank != 0 && data_setup_decode(&setup, blob.data, (size_t)blob_len) != 0)
            eir_die("rank %d: the data set-up broadcast by rank 0 is malformed", comm.rank);
    }
    sb_free(&blob);
    if (pf.dry_run) {
        if (comm.rank == 0) data_summary_print(stdout, &setup, &cfg, comm.size);
        data_setup_free(&setup);
        config_free(&cfg);
        config_sources_free(&src);
        strlist_free(&rest);
        comm_finalize(&comm);
        return 0;
    }
    if (comm.rank == 0) data_summary_print(stdout, &setup, &cfg, comm.size);
    comm_set_startup_mode(&comm, false);
    log_msg(LOG_INFO, "eir.train", "%d rank(s), %d compute thread(s) per rank", comm.size, n_threads);
    opt.resume_folder = pf.resume;
    opt.interrupt_exit_code = 75;
    opt.cuda = use_cuda;
    opt.cuda_math = cuda_math;
    int rc = train_run(&cfg, &setup, &comm, seed, &opt);
    data_setup_free(&setup);
    config_free(&cfg);
    config_sources_free(&src);  // pf's strings (the resume folder) point into rest: freed last
    strlist_free(&rest);
    comm_finalize(&comm);
    return rc;
}
