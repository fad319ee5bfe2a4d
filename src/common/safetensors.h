// safetensors.h: read and write .safetensors files, the checkpoint format of eir-dist (spec §10:
// tensor names = EIR's state-dict keys, so `safetensors.torch.load_file` + `load_state_dict` works
// in PyTorch).
//
// Layout: u64 little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string value>", ...}}
// then the data section: raw little-endian tensor bytes, offsets relative to its start, packed
// back to back with no gaps. The reader checks all of this and refuses anything else with a
// message naming the file and the problem; it never trusts a length or offset it has not checked.
//
// Integrity: the writer can store the SHA-256 of the data section as hex in
// __metadata__["__checksum_sha256__"]; the reader verifies it whenever it is present.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_CHECKSUM_KEY "__checksum_sha256__"
#define ST_MAX_HEADER_LEN (100u * 1000u * 1000u)  // same cap as the reference implementation

typedef enum {
    ST_F64, ST_F32, ST_F16, ST_BF16,
    ST_I64, ST_I32, ST_I16, ST_I8,
    ST_U64, ST_U32, ST_U16, ST_U8,
    ST_BOOL,
    ST_DTYPE_COUNT
} StDtype;

// "F32", "I64", ... as spelled in the header.
const char *st_dtype_name(StDtype dt);
// Bytes per element (BOOL = 1).
size_t st_dtype_size(StDtype dt);
// Parses a header dtype string; false if unknown.
bool st_dtype_from_name(const char *name, StDtype *out);

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;                      // 0 for a scalar (shape [] holds one element)
    int64_t shape[ST_MAX_DIMS];
    size_t numel;                  // product of shape (1 for ndim 0)
    size_t nbytes;                 // numel * st_dtype_size(dtype)
    size_t offset;                 // begin offset within the data section
    const void *data;              // read-only view into the file mapping (reader only)
    bool aligned;                  // data is aligned to the element size (always true for files
                                   // this module writes); if false, copy with memcpy
} StTensor;

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------
typedef struct SafeTensors SafeTensors;

enum {
    ST_OPEN_DEFAULT = 0,            // verify the checksum if the file carries one
    ST_OPEN_REQUIRE_CHECKSUM = 1,   // and refuse a file without one
    ST_OPEN_SKIP_CHECKSUM = 2,      // do not hash the data (tools that only list a file)
};

// Maps and validates `path`. On failure returns NULL and writes a one-line message
// ("safetensors file '<path>': <what is wrong>") into err (err may be NULL).
SafeTensors *safetensors_open(const char *path, int flags, char *err, size_t errlen);
// Same, but a failure ends the program through eir_die_user with that message.
SafeTensors *safetensors_open_check(const char *path, int flags);
void safetensors_close(SafeTensors *st);

const char *safetensors_path(const SafeTensors *st);
// Number of tensors; tensors are indexed in file (data offset) order.
int safetensors_count(const SafeTensors *st);
const StTensor *safetensors_tensor_at(const SafeTensors *st, int i);
// The tensor called `name`, or NULL.
const StTensor *safetensors_find(const SafeTensors *st, const char *name);
// Metadata value for `key`, or NULL. The checksum entry is visible here too.
const char *safetensors_metadata(const SafeTensors *st, const char *key);
int safetensors_metadata_count(const SafeTensors *st);
void safetensors_metadata_at(const SafeTensors *st, int i, const char **key, const char **value);
// True when the file carried a checksum and it matched (false when absent or skipped).
bool safetensors_checksum_verified(const SafeTensors *st);
// Size of the data section in bytes.
size_t safetensors_data_size(const SafeTensors *st);

// Copies tensor `name` into dst after checking that it exists, has dtype `dtype` and exactly
// `numel` elements (shape is not otherwise constrained). Returns 0, or -1 with a message in err.
int safetensors_copy(const SafeTensors *st, const char *name, StDtype dtype, void *dst,
                     size_t numel, char *err, size_t errlen);
// Like safetensors_copy but also requires shape == shape[0..ndim).
int safetensors_copy_shaped(const SafeTensors *st, const char *name, StDtype dtype, void *dst,
                            int ndim, const int64_t *shape, char *err, size_t errlen);

// ---------------------------------------------------------------------------------------------
// Writer: collect tensors (pointers, not copies) and metadata, then write once.
// ---------------------------------------------------------------------------------------------
typedef struct SafeTensorsWriter SafeTensorsWriter;

SafeTensorsWriter *safetensors_writer_new(void);
// Registers a tensor. `data` (numel * dtype size bytes) must stay valid until safetensors_write;
// it may be NULL only when the tensor has no elements. Names must be unique and non-empty, and
// "__metadata__" is reserved; a violation is a programming error and ends the program (eir_die).
void safetensors_writer_add(SafeTensorsWriter *w, const char *name, StDtype dtype, int ndim,
                            const int64_t *shape, const void *data);
// Adds or replaces a metadata entry (both strings are copied). ST_CHECKSUM_KEY is reserved.
void safetensors_writer_set_metadata(SafeTensorsWriter *w, const char *key, const char *value);
// Writes the file atomically: <path>.tmp.<pid>, fsync, rename over path, fsync of the directory,
// streaming the tensors (no second copy of the data in memory). Tensors are laid out by
// decreasing element size (stable), so every tensor is naturally aligned in the file.
// add_checksum stores the data section's SHA-256 under ST_CHECKSUM_KEY.
// Returns 0, or -1 with errno set and a message in err (the temporary file is removed).
int safetensors_write(SafeTensorsWriter *w, const char *path, bool add_checksum, char *err,
                      size_t errlen);
void safetensors_writer_free(SafeTensorsWriter *w);
