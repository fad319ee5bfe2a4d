// dataset.c: matching labels to files, this rank's share of the samples, and batch filling.
#include "data/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"


// ---------------------------------------------------------------------------------------------
// Set-up: labels -> split -> files -> samples

void data_setup_match(DataSetup *s) {
    const int K = s->n_inputs;
    MatchStats *st = &s->stats;
    st->n_label_ids = s->labels.n_ids;
    st->files_found = calloc_check((size_t)(K ? K : 1), sizeof(int64_t));
    st->files_without_label = calloc_check((size_t)(K ? K : 1), sizeof(int64_t));
    for (int k = 0; k < K; k++) {
        st->files_found[k] = s->files[k].n;
        for (int64_t f = 0; f < s->files[k].n; f++)
            if (labels_find(&s->labels, s->files[k].files[f].id) < 0) st->files_without_label[k]++;
    }
    const int64_t *idx[2] = {s->split.train, s->split.valid};
    const int64_t nidx[2] = {s->split.n_train, s->split.n_valid};
    SampleList *out[2] = {&s->train, &s->valid};
    for (int p = 0; p < 2; p++) {
        SampleList *l = out[p];
        st->missing_input[p] = calloc_check((size_t)(K ? K : 1), sizeof(int64_t));
        l->label_row = malloc_check((size_t)(nidx[p] ? nidx[p] : 1) * sizeof(int64_t));
        l->files = malloc_check((size_t)(nidx[p] ? nidx[p] : 1) * (size_t)(K ? K : 1) * sizeof(FileEntry *));
        l->n = 0;
        const FileEntry **fe = malloc_check((size_t)(K ? K : 1) * sizeof(FileEntry *));
        // Split indices are ascending, so each list comes out in ID order.
        for (int64_t i = 0; i < nidx[p]; i++) {
            int64_t row = idx[p][i];
            int have = 0;
            for (int k = 0; k < K; k++) {
                fe[k] = files_find(&s->files[k], s->labels.ids[row]);
                have += fe[k] != NULL;
            }
            if (!have) { st->no_files[p]++; continue; }
            if (!labels_row_has_target(&s->labels, row)) { st->no_targets[p]++; continue; }
            for (int k = 0; k < K; k++) {
                if (!fe[k]) st->missing_input[p][k]++;
                l->files[l->n * K + k] = fe[k];
            }
            l->label_row[l->n++] = row;
        }
        free(fe);
    }
    st->filtered_out = st->no_files[0] + st->no_files[1] + st->no_targets[0] + st->no_targets[1];
}

int data_setup(DataSetup *s, const ExperimentConfig *cfg, uint64_t seed, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    const BasicExperimentConfig *be = &cfg->global.basic_experiment;
    if (cfg->n_inputs < 1) return err_fail(err, errlen, "no input configs: nothing to read samples from");
    for (int k = 0; k < cfg->n_inputs; k++)
        if (cfg->inputs[k].max_length < 1)
            return err_fail(err, errlen, "input '%s': max_length must be a positive integer (got %d)",
                        cfg->inputs[k].input_name ? cfg->inputs[k].input_name : "?", cfg->inputs[k].max_length);
    if (labels_load(&s->labels, cfg->outputs, cfg->n_outputs, err, errlen) != 0) return -1;
    int rc;
    if (be->manual_valid_ids_file && be->manual_valid_ids_file[0])
        rc = split_manual(s->labels.ids, s->labels.n_ids, be->manual_valid_ids_file, &s->split, err, errlen);
    else
        rc = split_random(s->labels.n_ids, be->valid_size, be->valid_size_is_count, (uint32_t)seed, &s->split, err, errlen);
    if (rc != 0) goto fail_;
    if (labels_fit(&s->labels, &s->split, err, errlen) != 0) goto fail_;
    s->n_inputs = cfg->n_inputs;
    s->files = calloc_check((size_t)cfg->n_inputs, sizeof(FileIndex));
    for (int k = 0; k < cfg->n_inputs; k++)
        if (files_scan(cfg->inputs[k].input_source, &s->files[k], err, errlen) != 0) goto fail_;
    data_setup_match(s);
    if (s->train.n == 0) {
        err_fail(err, errlen, "no train samples left after matching label IDs to input files (%lld label IDs, %lld files in '%s'): "
             "do the file names (minus their suffix) equal the IDs?", (long long)s->labels.n_ids,
             (long long)s->files[0].n, cfg->inputs[0].input_source);
        goto fail_;
    }
    if (s->valid.n == 0) {
        err_fail(err, errlen, "no valid samples left after matching: none of the %lld valid label IDs has an input file "
             "(or a target value); change valid_size / manual_valid_ids_file or add the files",
             (long long)s->split.n_valid);
        goto fail_;
    }
    return 0;
fail_:
    data_setup_free(s);
    return -1;
}

void data_setup_or_die(DataSetup *s, const ExperimentConfig *cfg, uint64_t seed) {
    char err[EIR_ERR_LEN];
    if (data_setup(s, cfg, seed, err, sizeof err) != 0) eir_die_user("%s", err);
}

void data_setup_free(DataSetup *s) {
    labels_free(&s->labels);
    split_free(&s->split);
    if (s->files)
        for (int k = 0; k < s->n_inputs; k++) files_free(&s->files[k]);
    free(s->files);
    free(s->train.label_row);
    free(s->train.files);
    free(s->valid.label_row);
    free(s->valid.files);
    free(s->stats.files_found);
    free(s->stats.files_without_label);
    free(s->stats.missing_input[0]);
    free(s->stats.missing_input[1]);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------------------------------------
// Reading

int read_file_window(const char *path, int64_t offset, int64_t n, uint8_t *buf, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_fail(err, errlen, "cannot open input file '%s': %s", path, strerror(errno));
    int64_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, (size_t)(n - got), (off_t)(offset + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return err_fail(err, errlen, "read error on input file '%s' at offset %lld: %s", path, (long long)(offset + got), strerror(e));
        }
        if (r == 0) {
            close(fd);
            return err_fail(err, errlen, "input file '%s' is shorter than when it was listed: wanted bytes [%lld, %lld), it ends at %lld",
                        path, (long long)offset, (long long)(offset + n), (long long)(offset + got));
        }
        got += r;
    }
    close(fd);
    return 0;
}

static int max_len_of(const Dataset *ds) {
    int m = 1;
    for (int k = 0; k < ds->n_inputs; k++)
        if (ds->max_length[k] > m) m = ds->max_length[k];
    return m;
}

// Bytes of input k kept in memory for a sample: the whole file when a training crop may start
// anywhere, or a validation crop (evaluation_crops), else only the first L bytes (all that
// from_start tokenisation ever reads).
static int64_t stored_len(const Dataset *ds, const FileEntry *fe, int k, bool train) {
    if (!fe) return 0;
    if (train && ds->sampling[k] == SAMPLE_UNIFORM) return fe->size;
    if (!train && ds->valid_whole) return fe->size;
    return fe->size < ds->max_length[k] ? fe->size : ds->max_length[k];
}

int dataset_open(Dataset *ds, const DataSetup *setup, const ExperimentConfig *cfg, int rank, int n_ranks,
                 char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    const int K = setup->n_inputs;
    ds->setup = setup;
    ds->n_inputs = K;
    ds->n_targets = setup->labels.n_targets;
    ds->batch = cfg->global.basic_experiment.batch_size;
    ds->rank = rank;
    ds->n_ranks = n_ranks;
    ds->memory = cfg->global.basic_experiment.memory_dataset;
    ds->valid_whole = cfg->global.evaluation_checkpoint.evaluation_crops != 1;
    if (lane_plan_init(&ds->plan, setup->train.n, ds->batch, rank, n_ranks, setup->seed, ds->err, sizeof ds->err) != 0) {
        err_fail(err, errlen, "%s", ds->err);
        return -1;
    }
    ds->local_rows = ds->batch / n_ranks;
    ds->max_length = malloc_check((size_t)K * sizeof(int));
    ds->sampling = malloc_check((size_t)K * sizeof(SamplingStrategy));
    ds->modality_dropout = malloc_check((size_t)K * sizeof(double));
    for (int k = 0; k < K; k++) {
        ds->max_length[k] = cfg->inputs[k].max_length;
        ds->sampling[k] = cfg->inputs[k].sampling_strategy;
        ds->modality_dropout[k] = cfg->inputs[k].modality_dropout_rate;
    }
    ds->rows = malloc_check((size_t)ds->local_rows * sizeof(int64_t));
    valid_shard(setup->valid.n, rank, n_ranks, &ds->valid_lo, &ds->valid_hi);
    if (!ds->memory) {
        if (ds->valid_whole) ds->window = malloc_check((size_t)max_len_of(ds));
        return 0;
    }

    // Memory mode: size the arena over this rank's samples, then read them all into it.
    int64_t n_local;
    const int64_t *local = lane_plan_local(&ds->plan, &n_local);
    int64_t nv = ds->valid_hi - ds->valid_lo;
    ds->train_off = malloc_check((size_t)(setup->train.n * K) * sizeof(int64_t));
    ds->train_len = malloc_check((size_t)(setup->train.n * K) * sizeof(int64_t));
    ds->valid_off = malloc_check((size_t)((nv ? nv : 1) * K) * sizeof(int64_t));
    ds->valid_len = malloc_check((size_t)((nv ? nv : 1) * K) * sizeof(int64_t));
    for (int64_t i = 0; i < setup->train.n * K; i++) ds->train_off[i] = ds->train_len[i] = -1;
    int64_t total = 0;
    for (int64_t j = 0; j < n_local; j++) {
        int64_t t = local[j];
        for (int k = 0; k < K; k++) {
            ds->train_off[t * K + k] = total;
            ds->train_len[t * K + k] = stored_len(ds, setup->train.files[t * K + k], k, true);
            total += ds->train_len[t * K + k];
        }
    }
    for (int64_t v = 0; v < nv; v++) {
        for (int k = 0; k < K; k++) {
            ds->valid_off[v * K + k] = total;
            ds->valid_len[v * K + k] = stored_len(ds, setup->valid.files[(ds->valid_lo + v) * K + k], k, false);
            total += ds->valid_len[v * K + k];
        }
    }
    ds->arena_size = total;
    ds->arena = malloc_check((size_t)total);
    int failed = 0;
    // Reads are independent: run them on all cores (cold caches and network file systems are
    // latency bound). The first failure is kept.
    #pragma omp parallel for schedule(dynamic, 16)
    for (int64_t j = 0; j < n_local + nv; j++) {
        int stop;
        #pragma omp atomic read
        stop = failed;
        if (stop) continue;
        char lerr[EIR_ERR_LEN];
        for (int k = 0; k < K; k++) {
            const FileEntry *fe;
            int64_t off, len;
            if (j < n_local) {
                int64_t t = local[j];
                fe = setup->train.files[t * K + k];
                off = ds->train_off[t * K + k];
                len = ds->train_len[t * K + k];
            } else {
                int64_t v = j - n_local;
                fe = setup->valid.files[(ds->valid_lo + v) * K + k];
                off = ds->valid_off[v * K + k];
                len = ds->valid_len[v * K + k];
            }
            if (!fe || len == 0) continue;
            if (read_file_window(fe->path, 0, len, ds->arena + off, lerr, sizeof lerr) != 0) {
                #pragma omp critical(eir_dataset_err)
                {
                    if (!ds->err[0]) snprintf(ds->err, sizeof ds->err, "%s", lerr);
                }
                #pragma omp atomic write
                failed = 1;
                break;
            }
        }
    }
    if (failed) {
        err_fail(err, errlen, "%s", ds->err);
        dataset_close(ds);
        return -1;
    }
    return 0;
}

void dataset_open_or_die(Dataset *ds, const DataSetup *setup, const ExperimentConfig *cfg, int rank, int n_ranks) {
    char err[EIR_ERR_LEN];
    if (dataset_open(ds, setup, cfg, rank, n_ranks, err, sizeof err) != 0) eir_die_user("%s", err);
}

// ---------------------------------------------------------------------------------------------
// Batches

// Tokens of input k of one sample into out[0..L). mem/mem_len: the sample's bytes held in
// memory (NULL in disk mode). train: crop / dropout apply, keyed by (step, sample).
static int fill_input(const Dataset *ds, const FileEntry *fe, int k, bool train, int64_t step, int64_t sample,
                      const uint8_t *mem, int32_t *out, uint8_t *window, char *err, size_t errlen) {
    const int L = ds->max_length[k];
    if (!fe || (train && modality_dropped(ds->setup->seed, k, step, sample, ds->modality_dropout[k]))) {
        // missing input or dropped modality: L zero tokens (spec §2.2)
        memset(out, 0, (size_t)L * sizeof(int32_t));
        return 0;
    }
    int64_t start = 0;
    if (train && ds->sampling[k] == SAMPLE_UNIFORM) start = crop_start(ds->setup->seed, k, step, sample, fe->size, L);
    int64_t n = fe->size - start < L ? fe->size - start : L;
    const uint8_t *bytes;
    if (mem) {
        bytes = mem + start;
    } else {
        if (n > 0 && read_file_window(fe->path, start, n, window, err, errlen) != 0) return -1;
        bytes = window;
    }
    bytes_tokenize(bytes, (size_t)n, L, out);
    return 0;
}


// Fills n rows: row j is sample idx[j] of list (train or valid). memory-mode offsets come from
// off/len at row offrow[j] (an index into the [x n_inputs] tables).
static int fill_rows(Dataset *ds, const SampleList *list, bool train, int64_t step, const int64_t *idx, int n,
                     const int64_t *off, const int64_t *offrow, int32_t **tokens, float *targets) {
    const int K = ds->n_inputs, T = ds->n_targets;
    const LabelSet *ls = &ds->setup->labels;
    // Disk mode reads at most max_length bytes per input: one window buffer serves every read.
    uint8_t *window = ds->memory ? NULL : malloc_check((size_t)max_len_of(ds));
    int rc = 0;
    for (int j = 0; j < n && rc == 0; j++) {
        int64_t s = idx[j];
        for (int k = 0; k < K && rc == 0; k++) {
            const uint8_t *mem = ds->memory ? ds->arena + off[offrow[j] * K + k] : NULL;
            rc = fill_input(ds, list->files[s * K + k], k, train, step, s, mem,
                            tokens[k] + (size_t)j * (size_t)ds->max_length[k], window, ds->err, sizeof ds->err);
        }
        if (targets) memcpy(targets + (size_t)j * T, ls->values + list->label_row[s] * T, (size_t)T * sizeof(float));
    }
    free(window);
    return rc;
}

int dataset_train_batch(Dataset *ds, int64_t epoch, int64_t iter, int64_t global_step,
                        int32_t **tokens, float *targets, int64_t *sample_idx) {
    if (iter < 0 || iter >= ds->plan.iters_per_epoch || epoch < 0) {
        snprintf(ds->err, sizeof ds->err, "dataset_train_batch: iteration %lld of epoch %lld is outside [0, %lld)",
                 (long long)iter, (long long)epoch, (long long)ds->plan.iters_per_epoch);
        return -1;
    }
    lane_plan_batch(&ds->plan, epoch, iter, ds->rows);
    if (sample_idx) memcpy(sample_idx, ds->rows, (size_t)ds->local_rows * sizeof(int64_t));
    // In memory mode the offset table is indexed by the train index itself.
    return fill_rows(ds, &ds->setup->train, true, global_step, ds->rows, ds->local_rows,
                     ds->train_off, ds->rows, tokens, targets);
}

int64_t dataset_valid_length(const Dataset *ds, int64_t first, int k) {
    const FileEntry *fe = ds->setup->valid.files[(ds->valid_lo + first) * ds->n_inputs + k];
    return fe ? fe->size : -1;
}

int dataset_valid_crop(Dataset *ds, int64_t first, int k, int64_t start, int64_t n, int32_t *out) {
    const int L = ds->max_length[k];
    const FileEntry *fe = ds->setup->valid.files[(ds->valid_lo + first) * ds->n_inputs + k];
    if (n < 0 || !fe) {
        memset(out, 0, (size_t)L * sizeof(int32_t));
        return 0;
    }
    if (!ds->valid_whole || first < 0 || first >= ds->valid_hi - ds->valid_lo || start < 0 || n > L ||
        start + n > fe->size) {
        snprintf(ds->err, sizeof ds->err, "dataset_valid_crop: bytes [%lld, %lld) of '%s' are not a crop this "
                 "dataset holds", (long long)start, (long long)(start + n), fe->path);
        return -1;
    }
    const uint8_t *bytes;
    if (ds->memory) {
        bytes = ds->arena + ds->valid_off[first * ds->n_inputs + k] + start;
    } else {
        if (n > 0 && read_file_window(fe->path, start, n, ds->window, ds->err, sizeof ds->err) != 0) return -1;
        bytes = ds->window;
    }
    bytes_tokenize(bytes, (size_t)n, L, out);
    return 0;
}

int dataset_valid_batch(Dataset *ds, int64_t first, int n, int32_t **tokens, float *targets, int64_t *sample_idx) {
    int64_t nv = ds->valid_hi - ds->valid_lo;
    if (first < 0 || n < 0 || first + n > nv) {
        snprintf(ds->err, sizeof ds->err, "dataset_valid_batch: rows [%lld, %lld) outside this rank's %lld valid samples",
                 (long long)first, (long long)(first + n), (long long)nv);
        return -1;
    }
    int64_t *idx = malloc_check((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t *local = malloc_check((size_t)(n ? n : 1) * sizeof(int64_t));
    for (int j = 0; j < n; j++) {
        idx[j] = ds->valid_lo + first + j;
        local[j] = first + j;
    }
    if (sample_idx) memcpy(sample_idx, idx, (size_t)n * sizeof(int64_t));
    int rc = fill_rows(ds, &ds->setup->valid, false, 0, idx, n, ds->valid_off, local, tokens, targets);
    free(idx);
    free(local);
    return rc;
}

void dataset_close(Dataset *ds) {
    lane_plan_free(&ds->plan);
    free(ds->max_length);
    free(ds->sampling);
    free(ds->modality_dropout);
    free(ds->arena);
    free(ds->train_off);
    free(ds->train_len);
    free(ds->valid_off);
    free(ds->valid_len);
    free(ds->rows);
    free(ds->window);
    ds->window = NULL;
    ds->setup = NULL;
    ds->max_length = NULL;
    ds->sampling = NULL;
    ds->modality_dropout = NULL;
    ds->arena = NULL;
    ds->train_off = ds->train_len = ds->valid_off = ds->valid_len = ds->rows = NULL;
}
