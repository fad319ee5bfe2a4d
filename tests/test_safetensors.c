// test_safetensors.c: SHA-256 known answers, safetensors round trip, every corruption the reader
// must refuse (with the file named in the message), a crash hunt over truncations and random
// header bytes, and the golden fixture written by tools/reference/make_golden.py (Python writer).
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

#include "common/safetensors.h"
#include "common/sha256.h"
#include "common/util.h"
#include "test_util.h"

static char g_dir[256];

// First occurrence of the string `needle` in hay[0..n), or NULL.
static char *find_bytes(char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static char *tpath(const char *name) { return path_join(g_dir, name); }

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen_check(path, "wb");
    if (n) fwrite_check(p, 1, n, f, path);
    fclose_check(f, path);
}

// A file with the given header text (unpadded) and `data_len` bytes of data 0,1,2,...
static void write_raw(const char *path, const char *header, size_t data_len) {
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    uint8_t *buf = malloc_check(n);
    uint64_t h = hl;
    memcpy(buf, &h, 8);
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) buf[8 + hl + i] = (uint8_t)i;
    write_bytes(path, buf, n);
    free(buf);
}

// Opening must fail, with a message naming the file and containing `want`.
static void expect_fail_flags(const char *path, int flags, const char *want, int line) {
    char err[1024];
    SafeTensors *st = safetensors_open(path, flags, err, sizeof err);
    if (st) {
        fprintf(stderr, "line %d: expected '%s' to be refused (%s)\n", line, path, want);
        g_test_failures++;
        safetensors_close(st);
        return;
    }
    if (!strstr(err, path) || !strstr(err, want)) {
        fprintf(stderr, "line %d: message lacks the path or '%s': %s\n", line, want, err);
        g_test_failures++;
    }
}
#define EXPECT_FAIL(path, want) expect_fail_flags((path), ST_OPEN_DEFAULT, (want), __LINE__)
#define EXPECT_FAIL_RAW(header, data_len, want) do { char *_p = tpath("raw.safetensors"); \
    write_raw(_p, (header), (data_len)); expect_fail_flags(_p, ST_OPEN_DEFAULT, (want), __LINE__); free(_p); } while (0)

static void test_sha256(void) {
    static const struct { const char *msg; const char *hex; } kat[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
         "mnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        {"The quick brown fox jumps over the lazy dog",
         "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"},
    };
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        sha256(kat[i].msg, strlen(kat[i].msg), d);
        sha256_to_hex(d, hex);
        CHECK_STR(hex, kat[i].hex);
        // the same message fed in pieces of every size 1..7 gives the same digest
        for (size_t piece = 1; piece < 8; piece++) {
            Sha256 s;
            sha256_init(&s);
            size_t n = strlen(kat[i].msg);
            for (size_t off = 0; off < n; off += piece)
                sha256_update(&s, kat[i].msg + off, off + piece <= n ? piece : n - off);
            sha256_final(&s, d);
            sha256_to_hex(d, hex);
            CHECK_STR(hex, kat[i].hex);
        }
    }
    // one million 'a' (FIPS 180-2 appendix B.3), in 1000-byte updates
    char *a = malloc_check(1000);
    memset(a, 'a', 1000);
    Sha256 s;
    sha256_init(&s);
    for (int i = 0; i < 1000; i++) sha256_update(&s, a, 1000);
    sha256_final(&s, d);
    sha256_to_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
    // lengths around the padding boundary (55, 56, 63, 64 bytes) agree between one-shot and split
    for (size_t n = 50; n < 70; n++) {
        uint8_t buf[70], d1[32], d2[32];
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 7 + 1);
        sha256(buf, n, d1);
        sha256_init(&s);
        sha256_update(&s, buf, n / 2);
        sha256_update(&s, buf + n / 2, n - n / 2);
        sha256_final(&s, d2);
        CHECK(memcmp(d1, d2, 32) == 0);
    }
}

// ---------------------------------------------------------------------------------------------
typedef struct {
    float w[15];
    int32_t ids[7];
    int64_t step;
    uint8_t bytes[5];
    double lr[2];
    uint16_t half[3];
} Sample;

static void fill_sample(Sample *s) {
    for (int i = 0; i < 15; i++) s->w[i] = 0.5f * (float)i - 3.0f;
    for (int i = 0; i < 7; i++) s->ids[i] = i * i - 10;
    s->step = 42;
    for (int i = 0; i < 5; i++) s->bytes[i] = (uint8_t)(250 + i);
    s->lr[0] = 1e-3;
    s->lr[1] = 3.0e-4;
    for (int i = 0; i < 3; i++) s->half[i] = (uint16_t)(0x3c00 + i);
}

// Writes the sample tensors (added in an order that is NOT aligned by size) to path.
static void write_sample(const Sample *s, const char *path, bool checksum) {
    SafeTensorsWriter *w = safetensors_writer_new();
    int64_t sh_w[2] = {3, 5}, sh_ids[1] = {7}, sh_bytes[1] = {5}, sh_lr[1] = {2}, sh_half[1] = {3}, sh_empty[2] = {0, 4};
    safetensors_writer_add(w, "bytes", ST_U8, 1, sh_bytes, s->bytes);
    safetensors_writer_add(w, "layer.0.w", ST_F32, 2, sh_w, s->w);
    safetensors_writer_add(w, "ids", ST_I32, 1, sh_ids, s->ids);
    safetensors_writer_add(w, "half", ST_F16, 1, sh_half, s->half);
    safetensors_writer_add(w, "step", ST_I64, 0, NULL, &s->step);
    safetensors_writer_add(w, "empty", ST_F32, 2, sh_empty, NULL);
    safetensors_writer_add(w, "lr", ST_F64, 1, sh_lr, s->lr);
    safetensors_writer_set_metadata(w, "config", "{\"a\": [1, 2], \"name\": \"caf\xc3\xa9\\n\"}");
    safetensors_writer_set_metadata(w, "format", "first");
    safetensors_writer_set_metadata(w, "format", "pt");  // replaces
    char err[512];
    int rc = safetensors_write(w, path, checksum, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    safetensors_writer_free(w);
}

static void check_tensor(const SafeTensors *st, const char *name, StDtype dt, int ndim, const int64_t *shape,
                         const void *data, size_t nbytes) {
    const StTensor *t = safetensors_find(st, name);
    CHECK_MSG(t != NULL, "missing %s", name);
    if (!t) return;
    CHECK_STR(t->name, name);
    CHECK_EQ_INT(t->dtype, dt);
    CHECK_EQ_INT(t->ndim, ndim);
    for (int i = 0; i < ndim && i < t->ndim; i++) CHECK_EQ_INT(t->shape[i], shape[i]);
    CHECK_EQ_INT(t->nbytes, nbytes);
    CHECK(t->aligned);
    if (nbytes && t->nbytes == nbytes) CHECK(memcmp(t->data, data, nbytes) == 0);
}

static bool dir_has_temp_files(void) {
    DIR *d = opendir(g_dir);
    bool found = false;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) found = true;
    if (d) closedir(d);
    return found;
}

static void test_round_trip(void) {
    Sample s;
    fill_sample(&s);
    char *p = tpath("rt.safetensors");
    write_sample(&s, p, true);
    CHECK(!dir_has_temp_files());

    char err[512];
    SafeTensors *st = safetensors_open(p, ST_OPEN_REQUIRE_CHECKSUM, err, sizeof err);
    CHECK_MSG(st != NULL, "%s", err);
    if (!st) { free(p); return; }
    CHECK_EQ_INT(safetensors_count(st), 7);
    CHECK(safetensors_checksum_verified(st));
    CHECK_STR(safetensors_path(st), p);
    int64_t sh_w[2] = {3, 5}, sh_ids[1] = {7}, sh_bytes[1] = {5}, sh_lr[1] = {2}, sh_half[1] = {3}, sh_empty[2] = {0, 4};
    check_tensor(st, "layer.0.w", ST_F32, 2, sh_w, s.w, sizeof s.w);
    check_tensor(st, "ids", ST_I32, 1, sh_ids, s.ids, sizeof s.ids);
    check_tensor(st, "step", ST_I64, 0, NULL, &s.step, 8);
    check_tensor(st, "bytes", ST_U8, 1, sh_bytes, s.bytes, 5);
    check_tensor(st, "lr", ST_F64, 1, sh_lr, s.lr, sizeof s.lr);
    check_tensor(st, "half", ST_F16, 1, sh_half, s.half, sizeof s.half);
    check_tensor(st, "empty", ST_F32, 2, sh_empty, NULL, 0);
    CHECK(safetensors_find(st, "nope") == NULL);
    CHECK(safetensors_find(st, "") == NULL);
    CHECK_EQ_INT(safetensors_find(st, "step")->numel, 1);
    CHECK_EQ_INT(safetensors_data_size(st), sizeof s.w + sizeof s.ids + 8 + 5 + sizeof s.lr + sizeof s.half);
    // file order: by decreasing element size, insertion order within a size
    const char *expect_order[] = {"step", "lr", "layer.0.w", "ids", "empty", "half", "bytes"};
    for (int i = 0; i < 7; i++) CHECK_STR(safetensors_tensor_at(st, i)->name, expect_order[i]);
    CHECK(safetensors_tensor_at(st, 7) == NULL);
    CHECK_STR(safetensors_metadata(st, "format"), "pt");
    CHECK_STR(safetensors_metadata(st, "config"), "{\"a\": [1, 2], \"name\": \"caf\xc3\xa9\\n\"}");
    CHECK(safetensors_metadata(st, "missing") == NULL);
    CHECK(safetensors_metadata(st, ST_CHECKSUM_KEY) != NULL);
    CHECK_EQ_INT(safetensors_metadata_count(st), 3);
    const char *k, *v;
    safetensors_metadata_at(st, 0, &k, &v);
    CHECK(k && v);

    // copy helpers
    float w[15];
    CHECK_EQ_INT(safetensors_copy(st, "layer.0.w", ST_F32, w, 15, err, sizeof err), 0);
    CHECK(memcmp(w, s.w, sizeof w) == 0);
    CHECK_EQ_INT(safetensors_copy(st, "layer.0.w", ST_F64, w, 15, err, sizeof err), -1);
    CHECK(strstr(err, "expected F64") != NULL);
    CHECK_EQ_INT(safetensors_copy(st, "layer.0.w", ST_F32, w, 14, err, sizeof err), -1);
    CHECK(strstr(err, "14 elements") != NULL);
    CHECK_EQ_INT(safetensors_copy(st, "nope", ST_F32, w, 15, err, sizeof err), -1);
    CHECK(strstr(err, "no tensor named 'nope'") && strstr(err, p));
    CHECK_EQ_INT(safetensors_copy_shaped(st, "layer.0.w", ST_F32, w, 2, sh_w, err, sizeof err), 0);
    int64_t sh_bad[2] = {5, 3};
    CHECK_EQ_INT(safetensors_copy_shaped(st, "layer.0.w", ST_F32, w, 2, sh_bad, err, sizeof err), -1);
    CHECK(strstr(err, "[3, 5]") && strstr(err, "[5, 3]"));
    safetensors_close(st);

    // the header length is a multiple of 8 and the header is JSON padded with spaces
    size_t len;
    char *raw = read_file_check(p, &len);
    uint64_t hl;
    memcpy(&hl, raw, 8);
    CHECK(hl % 8 == 0 && hl < len);
    CHECK(raw[8] == '{');
    free(raw);

    // without a checksum: opens, nothing verified, refused when one is required
    char *p2 = tpath("rt_nock.safetensors");
    write_sample(&s, p2, false);
    st = safetensors_open(p2, ST_OPEN_DEFAULT, err, sizeof err);
    CHECK_MSG(st != NULL, "%s", err);
    if (st) {
        CHECK(!safetensors_checksum_verified(st));
        CHECK(safetensors_metadata(st, ST_CHECKSUM_KEY) == NULL);
        safetensors_close(st);
    }
    expect_fail_flags(p2, ST_OPEN_REQUIRE_CHECKSUM, "checksum is required", __LINE__);

    // overwriting an existing file replaces it atomically
    s.step = 43;
    write_sample(&s, p, true);
    st = safetensors_open_check(p, ST_OPEN_DEFAULT);
    int64_t step = 0;
    CHECK_EQ_INT(safetensors_copy(st, "step", ST_I64, &step, 1, err, sizeof err), 0);
    CHECK_EQ_INT(step, 43);
    safetensors_close(st);
    CHECK(!dir_has_temp_files());

    // an empty writer gives a valid file with no tensors
    char *p3 = tpath("empty.safetensors");
    SafeTensorsWriter *w0 = safetensors_writer_new();
    CHECK_EQ_INT(safetensors_write(w0, p3, true, err, sizeof err), 0);
    safetensors_writer_free(w0);
    st = safetensors_open(p3, ST_OPEN_REQUIRE_CHECKSUM, err, sizeof err);
    CHECK_MSG(st && safetensors_count(st) == 0, "%s", err);
    safetensors_close(st);

    // writing into a missing directory fails cleanly
    SafeTensorsWriter *w1 = safetensors_writer_new();
    char *bad = tpath("no/such/dir/x.safetensors");
    CHECK_EQ_INT(safetensors_write(w1, bad, false, err, sizeof err), -1);
    CHECK(strstr(err, "cannot create") != NULL);
    safetensors_writer_free(w1);
    unlink(p);
    unlink(p2);
    unlink(p3);
    free(bad);
    free(p3);
    free(p2);
    free(p);
}

// ---------------------------------------------------------------------------------------------
static void test_corruption(void) {
    Sample s;
    fill_sample(&s);
    char *good = tpath("good.safetensors");
    write_sample(&s, good, true);
    size_t len;
    uint8_t *buf = (uint8_t *)read_file_check(good, &len);
    uint64_t hl;
    memcpy(&hl, buf, 8);
    char *p = tpath("bad.safetensors");

    // truncations
    write_bytes(p, buf, len - 1);
    EXPECT_FAIL(p, "truncated");
    write_bytes(p, buf, 5);
    EXPECT_FAIL(p, "too short");
    write_bytes(p, buf, 0);
    EXPECT_FAIL(p, "too short");
    write_bytes(p, buf, 8 + hl / 2);
    EXPECT_FAIL(p, "exceeds");
    write_bytes(p, buf, 8 + hl);  // header intact, no data at all
    EXPECT_FAIL(p, "run past the end");

    // header length fields
    uint8_t *c = malloc_check(len);
    uint64_t v;
    memcpy(c, buf, len);
    v = len;  // larger than the file
    memcpy(c, &v, 8);
    write_bytes(p, c, len);
    EXPECT_FAIL(p, "exceeds");
    v = (uint64_t)1 << 62;
    memcpy(c, &v, 8);
    write_bytes(p, c, len);
    EXPECT_FAIL(p, "limit");
    v = 0;
    memcpy(c, &v, 8);
    write_bytes(p, c, len);
    EXPECT_FAIL(p, "header length is 0");
    v = hl - 8;  // header cut short: JSON incomplete
    memcpy(c, &v, 8);
    write_bytes(p, c, len);
    EXPECT_FAIL(p, "not valid JSON");

    // one flipped data byte: checksum mismatch (and still readable when asked not to verify)
    memcpy(c, buf, len);
    c[len - 3] ^= 0x01;
    write_bytes(p, c, len);
    EXPECT_FAIL(p, "checksum mismatch");
    SafeTensors *st = safetensors_open(p, ST_OPEN_SKIP_CHECKSUM, NULL, 0);
    CHECK(st != NULL);
    safetensors_close(st);
    // a malformed checksum value
    memcpy(c, buf, len);
    char *ck = find_bytes((char *)c + 8, hl, ST_CHECKSUM_KEY "\":\"");
    CHECK(ck != NULL);
    if (ck) {
        ck[strlen(ST_CHECKSUM_KEY) + 3] = 'z';
        write_bytes(p, c, len);
        EXPECT_FAIL(p, "64-digit hex");
    }
    free(c);

    // hand-written headers, data bytes 0,1,2,...
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON");
    EXPECT_FAIL_RAW("[1,2]", 0, "not an object");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past the end");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlap");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "gap of 4");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap of 4");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "trailing");
    EXPECT_FAIL_RAW("{}", 3, "trailing");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "needs 8 bytes");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F33'");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is not a string");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape is not an array");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
                    "dimensions");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,1099511627776],"
                    "\"data_offsets\":[0,8]}}", 8, "too large");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "invalid data_offsets");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "invalid data_offsets");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "pair of integers");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8, "pair of integers");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing field 'data_offsets'");
    EXPECT_FAIL_RAW("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing field 'dtype'");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown field 'x'");
    EXPECT_FAIL_RAW("{\"a\":[1]}", 8, "is not an object");
    EXPECT_FAIL_RAW("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "empty name");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "duplicate");
    EXPECT_FAIL_RAW("{\"__metadata__\":{\"k\":1}}", 0, "entry 'k' is not a string");
    EXPECT_FAIL_RAW("{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is not an object");
    EXPECT_FAIL_RAW("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} junk", 8, "not valid JSON");
    EXPECT_FAIL_RAW("{\"__metadata__\":{\"" ST_CHECKSUM_KEY "\":\"00\"}}", 0, "64-digit hex");
    EXPECT_FAIL_RAW("{\"__metadata__\":{\"" ST_CHECKSUM_KEY
                    "\":\"0000000000000000000000000000000000000000000000000000000000000000\"}}", 0,
                    "checksum mismatch");
    {  // a NUL byte inside the header
        char *pn = tpath("nul.safetensors");
        const char hdr[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\0\"data_offsets\":[0,0]}}";
        uint8_t b2[8 + sizeof hdr - 1];
        uint64_t n2 = sizeof hdr - 1;
        memcpy(b2, &n2, 8);
        memcpy(b2 + 8, hdr, n2);
        write_bytes(pn, b2, sizeof b2);
        EXPECT_FAIL(pn, "not valid JSON");
        unlink(pn);
        free(pn);
    }
    // accepted edge cases: null metadata, zero-size tensors, an empty tensor list, trailing spaces
    char *pr = tpath("raw.safetensors");
    write_raw(pr, "{\"__metadata__\":null,\"z\":{\"dtype\":\"BOOL\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}    ", 2);
    char err[512];
    st = safetensors_open(pr, ST_OPEN_DEFAULT, err, sizeof err);
    CHECK_MSG(st != NULL, "%s", err);
    if (st) {
        CHECK_EQ_INT(safetensors_count(st), 2);
        CHECK_EQ_INT(safetensors_find(st, "z")->numel, 0);
        CHECK_EQ_INT(((const uint8_t *)safetensors_find(st, "a")->data)[1], 1);
        safetensors_close(st);
    }
    unlink(pr);
    free(pr);

    // not a file / missing file
    EXPECT_FAIL(g_dir, "not a regular file");
    char *missing = tpath("missing.safetensors");
    EXPECT_FAIL(missing, "cannot open");
    free(missing);

    // every strict prefix of a valid file is refused; nothing crashes (ASan watches)
    for (size_t n = 0; n < len; n++) {
        write_bytes(p, buf, n);
        SafeTensors *t = safetensors_open(p, ST_OPEN_DEFAULT, err, sizeof err);
        CHECK_MSG(t == NULL, "prefix of %zu bytes accepted", n);
        safetensors_close(t);
    }
    // random bytes in the header: accepted or refused, never a crash
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    c = malloc_check(len);
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(c, buf, len);
        int nflip = 1 + it % 3;
        for (int f = 0; f < nflip; f++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)((rng >> 33) % (8 + hl));
            c[pos] = (uint8_t)(rng >> 17);
        }
        write_bytes(p, c, len);
        SafeTensors *t = safetensors_open(p, ST_OPEN_DEFAULT, err, sizeof err);
        if (t) {
            accepted++;
            // whatever was accepted must be internally consistent
            size_t sum = 0;
            for (int i = 0; i < safetensors_count(t); i++) sum += safetensors_tensor_at(t, i)->nbytes;
            CHECK_EQ_INT(sum, safetensors_data_size(t));
            safetensors_close(t);
        } else {
            CHECK(strstr(err, p) != NULL);
        }
    }
    printf("header fuzz: %d of 3000 mutated files still valid (e.g. changed names or spaces)\n", accepted);
    // any flipped data byte is caught by the checksum
    for (int it = 0; it < 200; it++) {
        memcpy(c, buf, len);
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t pos = 8 + hl + (size_t)((rng >> 33) % (len - 8 - hl));
        c[pos] ^= (uint8_t)(1u << (rng >> 61));
        write_bytes(p, c, len);
        SafeTensors *t = safetensors_open(p, ST_OPEN_DEFAULT, err, sizeof err);
        CHECK_MSG(t == NULL && strstr(err, "checksum mismatch"), "data flip at %zu not caught", pos);
        safetensors_close(t);
    }
    free(c);
    free(buf);
    unlink(p);
    unlink(good);
    free(p);
    free(good);
}

// ---------------------------------------------------------------------------------------------
// The Python-written golden fixture: names, shapes, dtypes, metadata and a few values.
static const float *f32_of(const SafeTensors *st, const char *name, size_t numel) {
    const StTensor *t = safetensors_find(st, name);
    CHECK_MSG(t && t->dtype == ST_F32 && t->numel == numel && t->aligned, "tensor %s", name);
    return (t && t->dtype == ST_F32 && t->numel == numel) ? t->data : NULL;
}

static const int32_t *i32_of(const SafeTensors *st, const char *name, size_t numel) {
    const StTensor *t = safetensors_find(st, name);
    CHECK_MSG(t && t->dtype == ST_I32 && t->numel == numel, "tensor %s", name);
    return (t && t->dtype == ST_I32 && t->numel == numel) ? t->data : NULL;
}

static void check_shape(const SafeTensors *st, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    const StTensor *t = safetensors_find(st, name);
    CHECK_MSG(t != NULL, "fixture lacks %s", name);
    if (!t) return;
    int64_t want[3] = {d0, d1, d2};
    CHECK_EQ_INT(t->ndim, ndim);
    for (int i = 0; i < ndim && i < t->ndim; i++) CHECK_EQ_INT(t->shape[i], want[i]);
}

// Masked mean cross-entropy of (B, K) logits, labels -1 skipped.
static double ce_loss(const float *logits, const int32_t *labels, int B, int K) {
    double sum = 0;
    int n = 0;
    for (int b = 0; b < B; b++) {
        if (labels[b] < 0) continue;
        double m = logits[b * K];
        for (int k = 1; k < K; k++) m = fmax(m, logits[b * K + k]);
        double z = 0;
        for (int k = 0; k < K; k++) z += exp(logits[b * K + k] - m);
        sum += m + log(z) - logits[b * K + labels[b]];
        n++;
    }
    return n ? sum / n : 0.0;
}

static void test_golden(const char *file, bool mixup) {
    char *path = path_join(EIR_SOURCE_DIR "/tests/fixtures/golden", file);
    char err[1024];
    SafeTensors *st = safetensors_open(path, ST_OPEN_DEFAULT, err, sizeof err);
    CHECK_MSG(st != NULL, "%s", err);
    if (!st) { free(path); return; }
    CHECK_STR(safetensors_metadata(st, "format"), "eir-dist golden fixture v1");
    const char *cfg_text = safetensors_metadata(st, "config");
    CHECK(cfg_text != NULL);
    json_error_t je;
    json_t *cfg = cfg_text ? json_loads(cfg_text, 0, &je) : NULL;
    CHECK_MSG(cfg != NULL, "config metadata is not JSON: %s", cfg_text ? je.text : "absent");
    if (!cfg) { safetensors_close(st); free(path); return; }
    json_t *in0 = json_array_get(json_object_get(cfg, "inputs"), 0);
    CHECK_STR(json_string_value(json_object_get(in0, "input_name")), "tiny_bytes");
    CHECK_EQ_INT(json_integer_value(json_object_get(in0, "max_length")), 10);
    CHECK_EQ_INT(json_integer_value(json_object_get(in0, "window_size")), 4);
    CHECK_EQ_INT(json_integer_value(json_object_get(in0, "embedding_dim")), 8);
    CHECK_EQ_INT(json_integer_value(json_object_get(in0, "dim_feedforward")), 32);
    CHECK_STR(json_string_value(json_object_get(in0, "pool")), mixup ? "max" : "avg");
    CHECK_STR(json_string_value(json_object_get(in0, "position")), mixup ? "encode" : "embed");
    json_t *derived = json_object_get(cfg, "derived");
    json_t *din = json_array_get(json_object_get(derived, "inputs"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(din, "front_padding")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(din, "num_chunks")), 3);
    long long nparams = json_integer_value(json_object_get(derived, "num_parameters"));
    CHECK_EQ_INT(nparams, mixup ? 8217 : 8197);
    json_t *out0 = json_array_get(json_object_get(cfg, "outputs"), 0);
    int head = (int)json_integer_value(json_object_get(out0, "fc_task_dim"));
    CHECK_EQ_INT(head, mixup ? 12 : 16);

    const char *pre = "input_modules.tiny_bytes.";
    char name[256];
    snprintf(name, sizeof name, "%sembedding.weight", pre);
    check_shape(st, name, 2, 261, 8, 0);
    snprintf(name, sizeof name, "%spos_representation.%s", pre, mixup ? "pe" : "embedding");
    check_shape(st, name, 3, 1, 10, 8);
    snprintf(name, sizeof name, "%sfeature_extractor.transformer_encoder.layers.1.ffn.w1.weight", pre);
    check_shape(st, name, 2, 32, 8, 0);
    snprintf(name, sizeof name, "%sfeature_extractor.transformer_encoder.layers.0.rope_freqs", pre);
    const float *rope = f32_of(st, name, 2);
    if (rope) {
        CHECK_CLOSE(rope[0], 1.0, 1e-7);
        CHECK_CLOSE(rope[1], 0.01, 1e-6);
    }
    snprintf(name, sizeof name, "%sfeature_extractor.transformer_encoder.layers.1.ls1.gamma", pre);
    const float *ls = f32_of(st, name, 8);
    for (int i = 0; ls && i < 8; i++) CHECK(ls[i] == 1e-5f);
    snprintf(name, sizeof name, "%sfeature_extractor.transformer_encoder.layers.0.norm1.weight", pre);
    const float *nw = f32_of(st, name, 8);
    for (int i = 0; nw && i < 8; i++) CHECK(nw[i] == 1.0f);
    if (mixup) {  // sinusoid: pe[p, 2i] = sin(p * 10000^(-2i/d)), pe[p, 2i+1] = cos(...)
        snprintf(name, sizeof name, "%spos_representation.pe", pre);
        const float *pe = f32_of(st, name, 80);
        for (int p = 0; pe && p < 10; p++) {
            CHECK_CLOSE(pe[p * 8 + 0], sin((double)p), 2e-6);
            CHECK_CLOSE(pe[p * 8 + 1], cos((double)p), 2e-6);
            CHECK_CLOSE(pe[p * 8 + 2], sin(p * pow(10000.0, -2.0 / 8)), 2e-6);
        }
        const float *lam = f32_of(st, "mixup.lambda", 1);
        if (lam) CHECK(*lam == 0.625f);
        const int32_t *perm = i32_of(st, "mixup.perm", 4);
        if (perm) CHECK(perm[0] == 2 && perm[1] == 0 && perm[2] == 3 && perm[3] == 1);
    }
    check_shape(st, "fusion_modules.computed.fusion_modules.fusion.0.0.downsample_identity.weight", 2, 16, 24, 0);
    check_shape(st, "fusion_modules.computed.fusion_modules.fusion.0.0.downsample_identity.bias", 1, 16, 0, 0);
    check_shape(st, "fusion_modules.computed.fusion_modules.fusion.1.0.fc_2.weight", 2, 16, 16, 0);
    check_shape(st, "output_modules.tiny_output.multi_task_branches.Origin.2.final.weight", 2, 3, head, 0);
    check_shape(st, "output_modules.tiny_output.multi_task_branches.Sentiment.1.norm_final.weight", 1, head, 0, 0);
    check_shape(st, "output_modules.tiny_output.multi_task_branches.Sentiment.0.1.0.ls.gamma", 1, head, 0, 0);
    check_shape(st, "act.tiny_bytes.features", 2, 4, 24, 0);
    check_shape(st, "act.fusion", 2, 4, 16, 0);
    check_shape(st, "loss", 0, 0, 0, 0);
    check_shape(st, "train.loss", 1, 10, 0, 0);
    const StTensor *lr = safetensors_find(st, "train.lr");
    CHECK(lr && lr->dtype == ST_F64 && lr->numel == 10 && lr->aligned);
    if (lr && lr->numel == 10) {
        const double *l = lr->data;
        CHECK(l[0] == 0.0);
        CHECK_CLOSE(l[1], 0.01 / 3, 1e-15);
        CHECK_CLOSE(l[2], 0.02 / 3, 1e-15);
        CHECK_CLOSE(l[9], 0.01, 1e-15);
    }

    const int32_t *tok = i32_of(st, "tokens.tiny_bytes", 40);
    for (int i = 0; tok && i < 40; i++) CHECK(tok[i] >= 0 && tok[i] < 261);
    if (tok) CHECK(tok[2 * 10 + 6] == 259 && tok[2 * 10 + 9] == 259 && tok[3 * 10 + 9] == 259);
    const int32_t *ys = i32_of(st, "labels.tiny_output.Sentiment", 4);
    const int32_t *yo = i32_of(st, "labels.tiny_output.Origin", 4);
    if (yo) CHECK(yo[1] == -1);

    // loss = mean over targets of the masked CE of the stored logits (no mixup variant)
    const float *ls_ = f32_of(st, "logits.tiny_output.Sentiment", 8);
    const float *lo_ = f32_of(st, "logits.tiny_output.Origin", 12);
    const float *loss = f32_of(st, "loss", 1);
    const StTensor *t64 = safetensors_find(st, "logits_f64.tiny_output.Origin");
    CHECK(t64 && t64->dtype == ST_F64 && t64->numel == 12);
    if (ls_ && lo_ && ys && yo && loss && !mixup) {
        double ce = 0.5 * (ce_loss(ls_, ys, 4, 2) + ce_loss(lo_, yo, 4, 3));
        CHECK_CLOSE(ce, *loss, 1e-6);
        const float *per = f32_of(st, "loss.tiny_output.Origin", 1);
        if (per) CHECK_CLOSE(ce_loss(lo_, yo, 4, 3), *per, 1e-6);
    }
    if (lo_ && t64 && t64->numel == 12) {
        const double *d = t64->data;
        for (int i = 0; i < 12; i++) CHECK_CLOSE(lo_[i], d[i], 1e-5);
    }
    const float *tl = f32_of(st, "train.loss", 10);
    if (tl && loss) CHECK(tl[0] == *loss);

    // one grad.* and one step10.* per parameter, same shapes as the parameter
    size_t grad_numel = 0;
    int n_params = 0, n_grads = 0, n_step = 0;
    for (int i = 0; i < safetensors_count(st); i++) {
        const StTensor *t = safetensors_tensor_at(st, i);
        bool model_key = starts_with(t->name, "input_modules.") || starts_with(t->name, "fusion_modules.") ||
                         starts_with(t->name, "output_modules.");
        if (starts_with(t->name, "grad.")) {
            n_grads++;
            grad_numel += t->numel;
            const StTensor *p = safetensors_find(st, t->name + 5);
            CHECK_MSG(p && p->numel == t->numel && p->ndim == t->ndim, "grad without parameter: %s", t->name);
            snprintf(name, sizeof name, "step10.%s", t->name + 5);
            const StTensor *q = safetensors_find(st, name);
            CHECK_MSG(q && q->numel == t->numel, "no %s", name);
        } else if (starts_with(t->name, "step10.") && !starts_with(t->name, "step10.logits.") &&
                   strcmp(t->name, "step10.loss") != 0) {
            n_step++;
        } else if (model_key) {
            n_params++;  // state-dict entries: parameters and buffers
        }
    }
    CHECK_EQ_INT(grad_numel, nparams);
    CHECK_EQ_INT(n_grads, n_step);
    // buffers: rope_freqs per layer (+ pe with position "encode") are parameters-without-gradient
    CHECK_EQ_INT(n_params - n_grads, mixup ? 3 : 2);
    json_decref(cfg);
    safetensors_close(st);
    free(path);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/eir_test_safetensors_XXXXXX");
    if (!mkdtemp(g_dir)) eir_die("mkdtemp failed");
    test_sha256();
    test_round_trip();
    test_corruption();
    test_golden("tiny.safetensors", false);
    test_golden("tiny_mixup.safetensors", true);
    rmdir(g_dir);
    TEST_MAIN_END();
}
