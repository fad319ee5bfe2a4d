// test_dataset.c: matching labels to files, the lane plan (same global batches for any rank
// count, each train sample at most once per epoch), crops equal across rank counts, memory and
// disk modes giving the same tokens, padding/truncation, imputation, dropout, read errors, and
// the dry-run summary, and validation crops (evaluation_crops) read anywhere in a file.
#define _GNU_SOURCE
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "data/data_summary.h"
#include "data/dataset.h"
#include "test_util.h"

#define N_IDS 60
#define L0 64   // max_length of input 0 (uniform crops)
#define L1 16   // max_length of input 1 (from_start)
#define BATCH 8

static char g_dir[] = "/tmp/eir_dataset_XXXXXX";
static char g_labels[300], g_data0[300], g_data1[300];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int64_t file_len(int i) { return (i * 37) % 150; }  // 0..149: shorter, equal and longer than L0
static uint8_t file_byte(int i, int64_t j) { return (uint8_t)(i * 31 + j * 7 + (j >> 3)); }

static void write_bytes(const char *dir, const char *name, int i, int64_t n) {
    char *p = path_join(dir, name);
    FILE *f = fopen(p, "wb");
    for (int64_t j = 0; j < n; j++) fputc(file_byte(i, j), f);
    fclose(f);
    free(p);
}

// 60 label IDs; id005 and id017 have no file; id023 has no target value; two files have no label.
// Input 1 has files only for even IDs.
static void make_data(void) {
    snprintf(g_labels, sizeof g_labels, "%s/labels.csv", g_dir);
    snprintf(g_data0, sizeof g_data0, "%s/bytes0", g_dir);
    snprintf(g_data1, sizeof g_data1, "%s/bytes1/", g_dir);
    mkdir_p(g_data0);
    mkdir_p(g_data1);
    char sub[320];
    snprintf(sub, sizeof sub, "%s/nested/deeper", g_data0);
    mkdir_p(sub);
    FILE *f = fopen(g_labels, "w");
    fprintf(f, "ID,Origin,Score,Unused\r\n");
    const char *origin[] = {"North", "East", "West"};
    for (int i = N_IDS - 1; i >= 0; i--) {  // file order need not be ID order
        if (i == 23) fprintf(f, "id%03d,,,x\r\n", i);
        else if (i % 11 == 4) fprintf(f, "id%03d,%s,,\"q,\"\"\"\r\n", i, origin[i % 3]);
        else fprintf(f, "id%03d,%s,%g,\r\n", i, origin[i % 3], 0.5 * i);
    }
    fclose(f);
    char name[64];
    for (int i = 0; i < N_IDS; i++) {
        if (i == 5 || i == 17) continue;
        snprintf(name, sizeof name, "%sid%03d.txt", i % 4 == 0 ? "nested/deeper/" : "", i);
        write_bytes(g_data0, name, i, file_len(i));
        if (i % 2 == 0) {
            snprintf(name, sizeof name, "id%03d.bin", i);
            write_bytes(g_data1, name, i + 1000, (i * 13) % 40);
        }
    }
    write_bytes(g_data0, "extra1.txt", 0, 10);
    write_bytes(g_data0, "extra2.dat", 0, 10);
}

static char *g_cat[] = {"Origin"}, *g_con[] = {"Score"};

static void make_cfg(ExperimentConfig *cfg, InputConfig *in, OutputConfig *out, bool memory) {
    memset(cfg, 0, sizeof *cfg);
    memset(in, 0, 2 * sizeof *in);
    memset(out, 0, sizeof *out);
    BasicExperimentConfig *be = &cfg->global.basic_experiment;
    be->batch_size = BATCH;
    be->valid_size = 0.2;
    be->n_epochs = 3;
    be->memory_dataset = memory;
    cfg->global.evaluation_checkpoint.evaluation_crops = 1;  // EIR's default (0 would be "all")
    in[0].input_source = g_data0;
    in[0].input_name = "bytes_main";
    in[0].max_length = L0;
    in[0].sampling_strategy = SAMPLE_UNIFORM;
    in[1].input_source = g_data1;
    in[1].input_name = "bytes_side";
    in[1].max_length = L1;
    in[1].sampling_strategy = SAMPLE_FROM_START;
    out->output_source = g_labels;
    out->output_name = "origin_out";
    out->target_cat_columns.items = g_cat;
    out->target_cat_columns.n = 1;
    out->target_con_columns.items = g_con;
    out->target_con_columns.n = 1;
    cfg->inputs = in;
    cfg->n_inputs = 2;
    cfg->outputs = out;
    cfg->n_outputs = 1;
}

static int id_num(const char *id) { return atoi(id + 2); }

static void test_setup(const DataSetup *s) {
    const MatchStats *st = &s->stats;
    CHECK_EQ_INT(st->n_label_ids, N_IDS);
    CHECK_EQ_INT(s->split.n_valid, 12);  // ceil(0.2 * 60)
    CHECK_EQ_INT(s->split.n_train, 48);
    CHECK_EQ_INT(st->files_found[0], N_IDS - 2 + 2);
    CHECK_EQ_INT(st->files_without_label[0], 2);
    CHECK_EQ_INT(st->files_found[1], 30);
    CHECK_EQ_INT(st->no_files[0] + st->no_files[1], 2);
    CHECK_EQ_INT(st->no_targets[0] + st->no_targets[1], 1);
    CHECK_EQ_INT(st->filtered_out, 3);
    CHECK_EQ_INT(s->train.n + s->valid.n, N_IDS - 3);
    const SampleList *lists[2] = {&s->train, &s->valid};
    int64_t odd = 0;
    for (int p = 0; p < 2; p++) {
        for (int64_t i = 0; i < lists[p]->n; i++) {
            const char *id = sample_id(s, lists[p], i);
            if (i) CHECK(strcmp(sample_id(s, lists[p], i - 1), id) < 0);  // ID order
            int num = id_num(id);
            CHECK(num != 5 && num != 17 && num != 23);
            const FileEntry *f0 = lists[p]->files[i * 2], *f1 = lists[p]->files[i * 2 + 1];
            CHECK(f0 && f0->size == file_len(num));
            CHECK((f1 != NULL) == (num % 2 == 0));
            odd += f1 == NULL;
        }
    }
    CHECK_EQ_INT(st->missing_input[0][1] + st->missing_input[1][1], odd);
    CHECK_EQ_INT(st->missing_input[0][0] + st->missing_input[1][0], 0);
    // classes in code point order: East, North, West
    CHECK_STR(s->labels.targets[0].classes[0], "East");
    CHECK_STR(s->labels.targets[0].classes[2], "West");
}

static void test_lane_plan(int64_t n_train) {
    char err[EIR_ERR_LEN];
    LanePlan ref;
    CHECK_EQ_INT(lane_plan_init(&ref, n_train, BATCH, 0, 1, 7, err, sizeof err), 0);
    CHECK_EQ_INT(ref.iters_per_epoch, n_train / BATCH);
    const int64_t ipe = ref.iters_per_epoch;
    int64_t *row = malloc(BATCH * sizeof(int64_t));
    char *seen = malloc((size_t)n_train);
    int64_t *first_epoch = malloc((size_t)(ipe * BATCH) * sizeof(int64_t));
    int differs = 0;
    for (int64_t e = 0; e < 4; e++) {
        memset(seen, 0, (size_t)n_train);
        for (int64_t it = 0; it < ipe; it++) {
            lane_plan_batch(&ref, e, it, row);
            for (int j = 0; j < BATCH; j++) {
                CHECK(row[j] >= 0 && row[j] < n_train);
                CHECK_MSG(!seen[row[j]], "epoch %lld: sample %lld used twice", (long long)e, (long long)row[j]);
                seen[row[j]] = 1;
                if (e == 0) first_epoch[it * BATCH + j] = row[j];
                else differs += first_epoch[it * BATCH + j] != row[j];
            }
            for (int R = 2; R <= 4; R *= 2) {
                // the union of the rank slices, in position order, is the R = 1 batch
                for (int r = 0; r < R; r++) {
                    LanePlan p;
                    CHECK_EQ_INT(lane_plan_init(&p, n_train, BATCH, r, R, 7, err, sizeof err), 0);
                    int64_t part[BATCH];
                    lane_plan_batch(&p, e, it, part);
                    for (int j = 0; j < BATCH / R; j++) CHECK_EQ_INT(part[j], row[r * BATCH / R + j]);
                    lane_plan_free(&p);
                }
            }
        }
        int64_t used = 0;
        for (int64_t i = 0; i < n_train; i++) used += seen[i];
        CHECK_EQ_INT(used, ipe * BATCH);
    }
    CHECK(differs > 0);  // epochs are reshuffled
    free(row);
    free(seen);
    free(first_epoch);
    lane_plan_free(&ref);

    // a lane with an extra sample skips a different one in different epochs
    LanePlan p;
    CHECK_EQ_INT(lane_plan_init(&p, BATCH * 3 + 1, BATCH, 0, 1, 3, err, sizeof err), 0);
    int64_t lane0 = p.lane_off[1] - p.lane_off[0];
    CHECK_EQ_INT(lane0, 4);
    int skipped_differs = 0;
    int64_t prev_skip = -1;
    for (int64_t e = 0; e < 8; e++) {
        int64_t sum = 0, all = 0;
        for (int64_t it = 0; it < 3; it++) sum += lane_plan_sample(&p, e, it, 0);
        for (int64_t k = 0; k < lane0; k++) all += p.members[k];
        if (prev_skip >= 0 && prev_skip != all - sum) skipped_differs = 1;
        prev_skip = all - sum;
    }
    CHECK(skipped_differs);
    lane_plan_free(&p);

    CHECK_EQ_INT(lane_plan_init(&p, 100, BATCH, 0, 3, 0, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "divisible by the number of ranks 3"), "%s", err);
    CHECK_EQ_INT(lane_plan_init(&p, BATCH - 1, BATCH, 0, 1, 0, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "fewer than batch_size"), "%s", err);

    // valid shards: contiguous, near-equal, covering everything
    for (int R = 1; R <= 5; R++) {
        int64_t prev_hi = 0;
        for (int r = 0; r < R; r++) {
            int64_t lo, hi;
            valid_shard(11, r, R, &lo, &hi);
            CHECK_EQ_INT(lo, prev_hi);
            CHECK(hi - lo == 11 / R || hi - lo == 11 / R + 1);
            prev_hi = hi;
        }
        CHECK_EQ_INT(prev_hi, 11);
    }
}

static void test_tokenize(void) {
    uint8_t b[5] = {0, 1, 255, 7, 9};
    int32_t t[8];
    bytes_tokenize(b, 5, 8, t);
    int32_t want[8] = {0, 1, 255, 7, 9, EIR_TOKEN_PAD, EIR_TOKEN_PAD, EIR_TOKEN_PAD};
    CHECK(memcmp(t, want, sizeof want) == 0);
    bytes_tokenize(b, 5, 3, t);
    CHECK(t[0] == 0 && t[1] == 1 && t[2] == 255);
    bytes_tokenize(NULL, 0, 2, t);
    CHECK(t[0] == EIR_TOKEN_PAD && t[1] == EIR_TOKEN_PAD);
    // uniform crop: every start in [0, len - L] occurs, the last one included (eir-dist, spec §10)
    int hit[3] = {0, 0, 0};
    for (int step = 0; step < 200; step++) {
        int64_t s = crop_start(5, 0, step, 9, 18, 16);
        CHECK(s >= 0 && s <= 2);
        if (s >= 0 && s <= 2) hit[s]++;
    }
    CHECK(hit[0] && hit[1] && hit[2]);
    CHECK_EQ_INT(crop_start(5, 0, 3, 9, 16, 16), 0);
    CHECK_EQ_INT(crop_start(5, 0, 3, 9, 18, 16), crop_start(5, 0, 3, 9, 18, 16));
    int drops = 0;
    for (int i = 0; i < 1000; i++) drops += modality_dropped(1, 0, 0, i, 0.25);
    CHECK(drops > 180 && drops < 320);
    CHECK(!modality_dropped(1, 0, 0, 1, 0.0));
}

// Expected tokens of input k for sample i of a list, computed straight from the file recipe.
static void expect_tokens(const DataSetup *s, const SampleList *l, int64_t i, int k, bool train, int64_t step,
                          SamplingStrategy strat, int32_t *out) {
    const int L = k == 0 ? L0 : L1;
    int num = id_num(sample_id(s, l, i));
    const FileEntry *fe = l->files[i * 2 + k];
    if (!fe) { for (int j = 0; j < L; j++) out[j] = 0; return; }
    int64_t len = fe->size, start = 0;
    if (train && strat == SAMPLE_UNIFORM) start = crop_start(s->seed, k, step, i, len, L);
    int src = k == 0 ? num : num + 1000;
    for (int j = 0; j < L; j++) out[j] = start + j < len ? file_byte(src, start + j) : EIR_TOKEN_PAD;
}

typedef struct {
    int32_t *tok[2];
    float *tgt;
    int64_t *idx;
} Rows;

static void rows_alloc(Rows *r, int n) {
    r->tok[0] = malloc((size_t)n * L0 * sizeof(int32_t));
    r->tok[1] = malloc((size_t)n * L1 * sizeof(int32_t));
    r->tgt = malloc((size_t)n * 2 * sizeof(float));
    r->idx = malloc((size_t)n * sizeof(int64_t));
}

static void rows_free(Rows *r) {
    free(r->tok[0]); free(r->tok[1]); free(r->tgt); free(r->idx);
}

// All train batches of two epochs, for the whole global batch, assembled from R ranks' slices.
static void global_batches(const DataSetup *s, ExperimentConfig *cfg, int R, bool memory, Rows *all, int64_t ipe) {
    cfg->global.basic_experiment.memory_dataset = memory;
    for (int r = 0; r < R; r++) {
        Dataset ds;
        char err[EIR_ERR_LEN];
        CHECK_EQ_INT(dataset_open(&ds, s, cfg, r, R, err, sizeof err), 0);
        CHECK_EQ_INT(dataset_local_rows(&ds), BATCH / R);
        CHECK_EQ_INT(dataset_iters_per_epoch(&ds), ipe);
        if (memory) CHECK(ds.arena != NULL);
        Rows part;
        rows_alloc(&part, BATCH / R);
        for (int64_t e = 0; e < 2; e++) {
            for (int64_t it = 0; it < ipe; it++) {
                int64_t step = e * ipe + it;
                CHECK_EQ_INT(dataset_train_batch(&ds, e, it, step, part.tok, part.tgt, part.idx), 0);
                for (int j = 0; j < BATCH / R; j++) {
                    int64_t g = step * BATCH + r * (BATCH / R) + j;  // global row
                    memcpy(all->tok[0] + g * L0, part.tok[0] + j * L0, L0 * sizeof(int32_t));
                    memcpy(all->tok[1] + g * L1, part.tok[1] + j * L1, L1 * sizeof(int32_t));
                    memcpy(all->tgt + g * 2, part.tgt + j * 2, 2 * sizeof(float));
                    all->idx[g] = part.idx[j];
                }
            }
        }
        rows_free(&part);
        dataset_close(&ds);
    }
}

static int rows_equal(const Rows *a, const Rows *b, int64_t n) {
    return memcmp(a->tok[0], b->tok[0], (size_t)n * L0 * sizeof(int32_t)) == 0 &&
           memcmp(a->tok[1], b->tok[1], (size_t)n * L1 * sizeof(int32_t)) == 0 &&
           memcmp(a->tgt, b->tgt, (size_t)n * 2 * sizeof(float)) == 0 &&
           memcmp(a->idx, b->idx, (size_t)n * sizeof(int64_t)) == 0;
}

static void test_batches(const DataSetup *s, ExperimentConfig *cfg) {
    const int64_t ipe = s->train.n / BATCH;
    const int64_t nrows = 2 * ipe * BATCH;
    Rows ref, other;
    rows_alloc(&ref, (int)nrows);
    rows_alloc(&other, (int)nrows);
    global_batches(s, cfg, 1, true, &ref, ipe);

    // contents: crops from the file recipe, from_start input 1, zeros where input 1 has no file,
    // targets from the labels
    int64_t checked = 0, cropped = 0;
    for (int64_t g = 0; g < nrows; g++) {
        int64_t i = ref.idx[g], step = g / BATCH;
        int32_t want[L0];
        expect_tokens(s, &s->train, i, 0, true, step, SAMPLE_UNIFORM, want);
        CHECK(memcmp(want, ref.tok[0] + g * L0, sizeof(int32_t) * L0) == 0);
        expect_tokens(s, &s->train, i, 1, true, step, SAMPLE_FROM_START, want);
        CHECK(memcmp(want, ref.tok[1] + g * L1, sizeof(int32_t) * L1) == 0);
        const float *v = s->labels.values + s->train.label_row[i] * 2;
        CHECK(memcmp(v, ref.tgt + g * 2, 2 * sizeof(float)) == 0);
        cropped += s->train.files[i * 2]->size > L0 && crop_start(s->seed, 0, step, i, s->train.files[i * 2]->size, L0) > 0;
        checked++;
    }
    CHECK(checked == nrows && cropped > 5);

    // the same global batches from 2 and 4 ranks, in disk and memory mode
    global_batches(s, cfg, 1, false, &other, ipe);
    CHECK_MSG(rows_equal(&ref, &other, nrows), "memory vs disk mode differ (R=1)");
    global_batches(s, cfg, 2, false, &other, ipe);
    CHECK_MSG(rows_equal(&ref, &other, nrows), "R=2 (disk) differs from R=1");
    global_batches(s, cfg, 4, true, &other, ipe);
    CHECK_MSG(rows_equal(&ref, &other, nrows), "R=4 (memory) differs from R=1");

    // training with from_start: the first L bytes, no crop
    cfg->inputs[0].sampling_strategy = SAMPLE_FROM_START;
    global_batches(s, cfg, 2, true, &other, ipe);
    for (int64_t g = 0; g < nrows; g++) {
        int32_t want[L0];
        expect_tokens(s, &s->train, other.idx[g], 0, true, g / BATCH, SAMPLE_FROM_START, want);
        CHECK(memcmp(want, other.tok[0] + g * L0, sizeof want) == 0);
    }
    cfg->inputs[0].sampling_strategy = SAMPLE_UNIFORM;

    // modality dropout 1.0: input 0 all zeros in training, untouched in validation
    cfg->inputs[0].modality_dropout_rate = 1.0;
    global_batches(s, cfg, 1, false, &other, ipe);
    int64_t nonzero = 0;
    for (int64_t j = 0; j < nrows * L0; j++) nonzero += other.tok[0][j] != 0;
    CHECK_EQ_INT(nonzero, 0);
    CHECK(memcmp(ref.tok[1], other.tok[1], (size_t)nrows * L1 * sizeof(int32_t)) == 0);
    cfg->inputs[0].modality_dropout_rate = 0.0;

    rows_free(&ref);
    rows_free(&other);
}

static void test_valid(const DataSetup *s, ExperimentConfig *cfg) {
    const int64_t nv = s->valid.n;
    Rows ref;
    rows_alloc(&ref, (int)nv);
    for (int R = 1; R <= 4; R *= 2) {
        for (int mem = 0; mem < 2; mem++) {
            cfg->global.basic_experiment.memory_dataset = mem;
            int64_t covered = 0;
            for (int r = 0; r < R; r++) {
                Dataset ds;
                char err[EIR_ERR_LEN];
                CHECK_EQ_INT(dataset_open(&ds, s, cfg, r, R, err, sizeof err), 0);
                int64_t n = dataset_valid_count(&ds);
                Rows part;
                rows_alloc(&part, (int)(n ? n : 1));
                // in chunks of 2 and a remainder, as an evaluation loop would
                for (int64_t first = 0; first < n; first += 2) {
                    int c = (int)(n - first < 2 ? n - first : 2);
                    int32_t *tk[2] = {part.tok[0] + first * L0, part.tok[1] + first * L1};
                    CHECK_EQ_INT(dataset_valid_batch(&ds, first, c, tk, part.tgt + first * 2, part.idx + first), 0);
                }
                CHECK_EQ_INT(dataset_valid_batch(&ds, n, 1, part.tok, part.tgt, part.idx), -1);
                for (int64_t j = 0; j < n; j++) {
                    int64_t i = part.idx[j];
                    CHECK_EQ_INT(i, covered + j);
                    int32_t want[L0];
                    expect_tokens(s, &s->valid, i, 0, false, 0, SAMPLE_UNIFORM, want);
                    CHECK(memcmp(want, part.tok[0] + j * L0, sizeof want) == 0);
                    expect_tokens(s, &s->valid, i, 1, false, 0, SAMPLE_FROM_START, want);
                    CHECK(memcmp(want, part.tok[1] + j * L1, sizeof(int32_t) * L1) == 0);
                }
                covered += n;
                rows_free(&part);
                dataset_close(&ds);
            }
            CHECK_EQ_INT(covered, nv);
        }
    }
    rows_free(&ref);
}

// evaluation_crops != 1: valid files are whole (memory mode) or read by window (disk mode); any
// crop's tokens are its bytes, padded; absent inputs are zeros; out-of-file crops are refused.
// With evaluation_crops 1 the dataset holds no more than before and refuses crops.
static void test_valid_crops(const DataSetup *s, ExperimentConfig *cfg) {
    cfg->global.evaluation_checkpoint.evaluation_crops = 0;
    for (int R = 1; R <= 2; R++)
        for (int mem = 0; mem < 2; mem++) {
            cfg->global.basic_experiment.memory_dataset = mem;
            for (int r = 0; r < R; r++) {
                Dataset ds;
                char err[EIR_ERR_LEN];
                CHECK_EQ_INT(dataset_open(&ds, s, cfg, r, R, err, sizeof err), 0);
                for (int64_t j = 0; j < dataset_valid_count(&ds); j++) {
                    int64_t i = ds.valid_lo + j;
                    int num = id_num(sample_id(s, &s->valid, i));
                    for (int k = 0; k < 2; k++) {
                        const int L = k == 0 ? L0 : L1;
                        const FileEntry *fe = s->valid.files[i * 2 + k];
                        int64_t len = dataset_valid_length(&ds, j, k);
                        CHECK_EQ_INT(len, fe ? fe->size : -1);
                        int32_t got[L0];
                        if (!fe) {
                            CHECK_EQ_INT(dataset_valid_crop(&ds, j, k, 0, -1, got), 0);
                            for (int q = 0; q < L; q++) CHECK_EQ_INT(got[q], 0);
                            continue;
                        }
                        int64_t n = len < L ? len : L, starts[2] = {0, len - n};
                        for (int c = 0; c < 2; c++) {
                            CHECK_EQ_INT(dataset_valid_crop(&ds, j, k, starts[c], n, got), 0);
                            int src = k == 0 ? num : num + 1000;
                            for (int q = 0; q < L; q++)
                                CHECK_EQ_INT(got[q], q < n ? file_byte(src, starts[c] + q) : EIR_TOKEN_PAD);
                        }
                        CHECK_EQ_INT(dataset_valid_crop(&ds, j, k, len - n + 1, n, got), -1);  // past the end
                        CHECK(strstr(dataset_error(&ds), fe->path) != NULL);
                    }
                }
                dataset_close(&ds);
            }
        }
    // evaluation_crops 1: only the first L bytes are held, and crops are refused
    cfg->global.evaluation_checkpoint.evaluation_crops = 1;
    cfg->global.basic_experiment.memory_dataset = true;
    Dataset ds;
    char err[EIR_ERR_LEN];
    CHECK_EQ_INT(dataset_open(&ds, s, cfg, 0, 1, err, sizeof err), 0);
    int64_t held = ds.arena_size;
    int32_t got[L0];
    CHECK_EQ_INT(dataset_valid_crop(&ds, 0, 0, 0, 1, got), -1);
    dataset_close(&ds);
    cfg->global.evaluation_checkpoint.evaluation_crops = 3;
    CHECK_EQ_INT(dataset_open(&ds, s, cfg, 0, 1, err, sizeof err), 0);
    CHECK(ds.arena_size > held);  // some valid files are longer than L0
    dataset_close(&ds);
    cfg->global.evaluation_checkpoint.evaluation_crops = 1;
}

// A file that disappears after listing: named in the error, in both modes.
static void test_read_errors(DataSetup *s, ExperimentConfig *cfg) {
    const FileEntry *victim = NULL;
    for (int64_t i = 0; i < s->train.n && !victim; i++)
        if (s->train.files[i * 2]->size > L0) victim = s->train.files[i * 2];
    CHECK(victim != NULL);
    if (!victim) return;
    char path[512];
    snprintf(path, sizeof path, "%s", victim->path);
    char *saved = read_file_check(path, NULL);
    size_t saved_len = (size_t)victim->size;
    CHECK_EQ_INT(unlink(path), 0);

    char err[EIR_ERR_LEN];
    Dataset ds;
    cfg->global.basic_experiment.memory_dataset = true;
    CHECK_EQ_INT(dataset_open(&ds, s, cfg, 0, 1, err, sizeof err), -1);
    CHECK_MSG(strstr(err, path) != NULL, "%s", err);

    cfg->global.basic_experiment.memory_dataset = false;
    CHECK_EQ_INT(dataset_open(&ds, s, cfg, 0, 1, err, sizeof err), 0);
    Rows r;
    rows_alloc(&r, BATCH);
    int failed = 0;
    for (int64_t e = 0; e < 4 && !failed; e++)
        for (int64_t it = 0; it < dataset_iters_per_epoch(&ds) && !failed; it++)
            failed = dataset_train_batch(&ds, e, it, it, r.tok, r.tgt, r.idx) != 0;
    CHECK(failed);
    CHECK_MSG(strstr(dataset_error(&ds), path) != NULL, "%s", dataset_error(&ds));
    CHECK_EQ_INT(dataset_train_batch(&ds, 0, dataset_iters_per_epoch(&ds), 0, r.tok, r.tgt, r.idx), -1);
    rows_free(&r);
    dataset_close(&ds);

    // a file that shrank since it was listed
    FILE *f = fopen(path, "wb");
    fwrite(saved, 1, saved_len / 2, f);
    fclose(f);
    uint8_t buf[200];
    CHECK_EQ_INT(read_file_window(path, 0, (int64_t)saved_len, buf, err, sizeof err), -1);
    CHECK_MSG(strstr(err, path) && strstr(err, "shorter"), "%s", err);
    f = fopen(path, "wb");
    fwrite(saved, 1, saved_len, f);
    fclose(f);
    free(saved);

    // batch_size not divisible by the rank count
    CHECK_EQ_INT(dataset_open(&ds, s, cfg, 0, 3, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "divisible"), "%s", err);
}

static void test_summary(const DataSetup *s, const ExperimentConfig *cfg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    data_summary_print(f, s, cfg, 2);
    fclose(f);
    CHECK(strstr(buf, "Filtered out 3 samples that had no inputs or no target labels.") != NULL);
    CHECK(strstr(buf, "iterations per epoch") != NULL);
    CHECK(strstr(buf, "target origin_out.Origin (3 classes)") != NULL);
    CHECK(strstr(buf, "longer than max_length 64") != NULL);
    CHECK(strstr(buf, "ranks") != NULL);
    if (getenv("EIR_TEST_VERBOSE")) fputs(buf, stdout);
    free(buf);
}

static void test_setup_errors(ExperimentConfig *cfg) {
    DataSetup s;
    char err[EIR_ERR_LEN];
    char *saved = cfg->inputs[0].input_source;
    cfg->inputs[0].input_source = "/nonexistent/eir/bytes";
    CHECK_EQ_INT(data_setup(&s, cfg, 0, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "/nonexistent/eir/bytes"), "%s", err);
    cfg->inputs[0].input_source = saved;
    cfg->outputs[0].target_cat_columns.items[0] = "Sentiment";
    CHECK_EQ_INT(data_setup(&s, cfg, 0, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "'Sentiment'") && strstr(err, "'Origin'"), "%s", err);
    cfg->outputs[0].target_cat_columns.items[0] = "Origin";
    // a manual valid file with an unknown ID
    char manual[320];
    snprintf(manual, sizeof manual, "%s/valid_ids.txt", g_dir);
    FILE *f = fopen(manual, "w");
    fputs("id001\nid002\nnope\n", f);
    fclose(f);
    cfg->global.basic_experiment.manual_valid_ids_file = manual;
    CHECK_EQ_INT(data_setup(&s, cfg, 0, err, sizeof err), -1);
    CHECK_MSG(strstr(err, "valid_ids.txt:3:") && strstr(err, "'nope'"), "%s", err);
    f = fopen(manual, "w");
    fputs("id001\nid002\nid005\n", f);
    fclose(f);
    CHECK_EQ_INT(data_setup(&s, cfg, 0, err, sizeof err), 0);
    CHECK_EQ_INT(s.valid.n, 2);  // id005 has no file
    data_setup_free(&s);
    cfg->global.basic_experiment.manual_valid_ids_file = NULL;
}

int main(void) {
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    make_data();
    ExperimentConfig cfg;
    InputConfig in[2];
    OutputConfig out;
    make_cfg(&cfg, in, &out, true);
    test_tokenize();
    DataSetup s;
    char err[EIR_ERR_LEN];
    CHECK_EQ_INT(data_setup(&s, &cfg, 0, err, sizeof err), 0);
    if (s.train.n == 0) { fprintf(stderr, "setup failed: %s\n", err); return 1; }
    test_setup(&s);
    test_lane_plan(s.train.n);
    test_batches(&s, &cfg);
    test_valid(&s, &cfg);
    test_valid_crops(&s, &cfg);
    test_summary(&s, &cfg);
    test_read_errors(&s, &cfg);
    data_setup_free(&s);
    test_setup_errors(&cfg);
    nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    CHECK(!path_exists(g_dir));
    TEST_MAIN_END();
}
