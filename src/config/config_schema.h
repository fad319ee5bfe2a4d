// config_schema.h: the config schema as tables. Each row is one YAML key: where it lives
// (dotted section, key), its type, default, bounds or choices, and a doc line. config.c parses,
// defaults and validates from them (unknown keys and "did you mean" come from their names),
// config_write.c writes the defaulted YAML from them, config_equal compares and config_free frees
// from them, and `eir-dist --config-keys` prints them. Adding a key is one row here (and its field
// in config.h) plus its use. Rows are in EIR's dataclass order, the order the effective config is
// written in; the rows of one section are contiguous.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

typedef enum {
    CK_INT,        // int field; [lo, hi]; nullable: YAML null stores null_int
    CK_NUM,        // double field; nlo/nhi (open or closed); nullable: YAML null stores null_num
    CK_BOOL,       // bool field
    CK_FALSE_ONLY, // bool field (or none) of an unimplemented EIR feature: true is refused (why)
    CK_STR,        // char * field; def_str; required: absent or null is an error
    CK_PATH,       // char * field naming a file (path_kind 1) or a file or folder (0) on disk
    CK_CHOICE,     // char * field holding one of choices (default choices[def_index]); eir_only refused
                   // with why; nullable: YAML null gives the default
    CK_ENUM,       // int field holding the index of one of choices
    CK_METRICS,    // StrList field of metric names from choices; eir_only refused; nullable: null -> default
    CK_STRLIST,    // StrList field of non-empty names, no name twice; default empty
    CK_LAYERS,     // int field from EIR's `layers: [N, ...]` (only N is used)
    CK_NULL_ONLY,  // an unimplemented EIR feature whose default is null: anything else is refused (why)
    CK_KEYS_ONLY,  // a section EIR drops for bytes inputs: only its key names (choices) are checked
    CK_FIXED,      // only the default is accepted (why says where the value really comes from)
    CK_CUSTOM,     // parsed and written by hooks
} ConfigKeyKind;

#define CK_NO_FIELD ((size_t)-1)

struct ConfigLoader;  // config.c
struct ConfigSec;     // config.c: a section of the YAML tree being read
struct ConfigEmit;    // config_write.c
struct ConfigKey;
// base: the struct the rows' offsets point into (GlobalConfig, InputConfig, OutputConfig, FusionConfig)
typedef void (*ConfigLoadFn)(struct ConfigLoader *L, const struct ConfigSec *s, const struct ConfigKey *k, void *base);
typedef void (*ConfigWriteFn)(struct ConfigEmit *e, const struct ConfigKey *k, const void *base);
typedef bool (*ConfigEqualFn)(const void *a, const void *b);

typedef struct ConfigKey {
    const char *section;  // dotted ("model_config.model_init_config"); "" for a top-level key
    const char *key;
    ConfigKeyKind kind;
    size_t off;           // offsetof(...) of the field, or CK_NO_FIELD
    // default (by kind)
    long long def_int;
    double def_num;
    const char *def_str;
    int def_index;
    const char *const *def_list;
    // bounds (CK_INT: lo/hi; CK_NUM: nlo/nhi, +-INFINITY when open-ended)
    long long lo, hi;
    double nlo, nhi;
    bool nlo_open, nhi_open;
    bool nullable;        // YAML null accepted (stores null_int / null_num / the default)
    long long null_int;
    double null_num;
    bool write_null;      // CK_INT: the value null_int is written as null (EIR's None)
    bool required;        // CK_STR / CK_PATH / CK_CHOICE: required (paths: unless CONFIG_NO_PATH_CHECKS)
    bool null_ok;         // CK_STR: YAML null stores NULL
    int path_kind;        // CK_PATH: 1 = regular file, 0 = file or folder
    bool stripped_null;   // written as null in the stripped configs (paths)
    bool written_if_set;  // eir-dist's own key, absent from EIR: written only when not at its default,
                          // so the configs of a run that does not use it are the ones EIR writes
    const char *const *choices, *const *eir_only;
    const char *why;      // why eir_only values / non-defaults are refused
    const char *doc;      // one line; also "expected ..." for required keys and paths
    // hooks (any kind: load replaces the generic read, write the generic write; equal compares)
    ConfigLoadFn load;
    ConfigWriteFn write;
    ConfigEqualFn equal;
} ConfigKey;

// A section's label in messages and what to say when a required section is missing.
typedef struct {
    const char *section;   // dotted
    const char *what;      // "input_type_info (bytes)"
    const char *required;  // NULL, or what it gives ("it gives input_source, input_name, input_type")
} ConfigSectionInfo;

typedef struct {
    const char *name;      // "global config", "input config", "output config", "fusion config"
    const char *file_what; // check_keys' label for the top level ("an input config")
    const ConfigKey *keys;
    int n_keys;
    const ConfigSectionInfo *sections;  // labels of the sections that need one; NULL-terminated by .section
    // runs after every key was read without error: cross-field rules and derived values
    void (*finish)(struct ConfigLoader *L, const struct ConfigSec *root, void *base);
} ConfigSchema;

extern const ConfigSchema CONFIG_GLOBAL_SCHEMA, CONFIG_INPUT_SCHEMA, CONFIG_OUTPUT_SCHEMA, CONFIG_FUSION_SCHEMA;
// The global config's top-level names in EIR's order (NULL-terminated): its sections and latent_sampling.
extern const char *const CONFIG_GLOBAL_SECTIONS[];

// Field access for table-driven code.
#define CK_FIELD(type, base, k) ((type *)((char *)(base) + (k)->off))
#define CK_CFIELD(type, base, k) ((const type *)((const char *)(base) + (k)->off))

// The hooks of the keys whose rule no type expresses: readers and cross-field rules in config.c,
// writers in config_write.c.
void config_load_valid_size(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_device(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_lr_schedule(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_warmup(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_evaluation_crops(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_checkpoint_interval(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_input_model_type(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
// global_* keys (beyond EIR): written only when global_layers > 0
void config_write_global_key(struct ConfigEmit *e, const ConfigKey *k, const void *base);
void config_load_pool(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_load_dim_feedforward(struct ConfigLoader *L, const struct ConfigSec *s, const ConfigKey *k, void *base);
void config_finish_input(struct ConfigLoader *L, const struct ConfigSec *root, void *base);
void config_finish_output(struct ConfigLoader *L, const struct ConfigSec *root, void *base);
void config_write_valid_size(struct ConfigEmit *e, const ConfigKey *k, const void *base);
void config_write_warmup(struct ConfigEmit *e, const ConfigKey *k, const void *base);
void config_write_pool(struct ConfigEmit *e, const ConfigKey *k, const void *base);
void config_write_evaluation_crops(struct ConfigEmit *e, const ConfigKey *k, const void *base);

// Prints every table (file, section.key, type, default, accepted values, doc) for --config-keys.
void config_print_keys(FILE *f);
