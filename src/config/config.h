// config.h: EIR's three (four) YAML config kinds as typed structs with EIR's defaults (spec §1).
// Parsing: yaml_tree.c (YAML -> node tree with line/column marks, merging, CLI overrides),
// config.c (tree -> these structs, validation, defaults), config_write.c (effective config out).
// Each kind's keys, defaults and bounds are one table: config_schema.c.
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct YamlNode;  // config/yaml_tree.h: the parsed YAML, kept for error locations

// Where a value came from, for error messages: "<file>:<line>:<col>".
typedef struct {
    const char *file; // path of the YAML file, or "command line"
    int line, col;    // 1-based; 0 when unknown (defaults)
} ConfigMark;

typedef struct {
    char **items;
    int n;
} StrList;

// ---- global config (several files merged key by key) ----
typedef struct {
    char *output_folder;          // required
    int n_epochs;                 // 10
    int batch_size;               // 64; the global batch of one optimizer step (spec §10)
    double valid_size;            // 0.1
    bool valid_size_is_count;     // int in YAML (or float > 1.0, cast to int as EIR does) -> count
    char *manual_valid_ids_file;  // NULL
    int dataloader_workers;       // 0 (accepted, ignored: we read in the training thread)
    bool memory_dataset;          // false
    char *device;                 // "cpu" (EIR deprecated it; eir-dist reads it as cpu|cuda|auto)
} BasicExperimentConfig;

typedef struct {
    char *hardware;   // "auto"
    char *precision;  // "32-true"
    char *strategy;   // "auto"
    char *devices;    // "auto"
    int num_nodes;    // 1
} AcceleratorConfig;

typedef struct {
    char *optimizer;                  // "adamw" (the only one implemented; others refused by name)
    double lr;                        // 3e-4
    double lr_lb;                     // 0.0
    double b1, b2;                    // 0.9, 0.999
    double wd;                        // 1e-4
    double gradient_clipping;         // 1.0 (0 or null disables)
    int gradient_accumulation_steps;  // 1 (YAML null -> 1)
    double gradient_noise;            // 0.0
} OptimizationConfig;

typedef enum { LR_PLATEAU, LR_COSINE, LR_CYCLE } LRScheduleKind;

typedef struct {
    LRScheduleKind lr_schedule;  // "plateau"
    int lr_plateau_patience;     // 10
    double lr_plateau_factor;    // 0.2
    bool warmup_auto;            // true ("auto" = round(2/(1-b2)))
    int warmup_steps;            // resolved: when warmup_auto, computed from b2
    bool plot_lr_schedule;       // false
} LRScheduleConfig;

typedef struct {
    int early_stopping_patience;  // 10 (0 = disabled; YAML null -> 0)
    int early_stopping_buffer;    // 0 = none
    double mixing_alpha;          // 0.0
} TrainingControlConfig;

typedef struct {
    int sample_interval;           // 200
    int saved_result_detail_level; // 5
    int checkpoint_interval;       // 0 = None: no model file is ever saved (EIR)
    int n_saved_models;            // 1
    int evaluation_crops;          // eir-dist's own: 1 (EIR: validation on the first max_length bytes
                                   // only); 0 = "all" crops, N = at most N (infer/crops.h), scored beside
} EvaluationCheckpointConfig;

typedef struct {
    StrList cat_metrics;            // mcc, acc, roc-auc-macro, ap-macro
    StrList con_metrics;            // r2, pcc, loss
    StrList cat_averaging_metrics;  // mcc, roc-auc-macro, ap-macro
    StrList con_averaging_metrics;  // loss, pcc, r2
} MetricsConfig;

typedef struct {
    int plot_skip_steps;      // 200
    bool no_pbar;             // false
    char *log_level;          // "info"
    bool save_model_diagram;  // false
} VisualizationLoggingConfig;

// The global sections EIR has whose features eir-dist does not implement: accepted at their
// defaults (non-defaults are refused by name), kept so the effective config says what was read.
// (n_iter_before_swa and pretrained_checkpoint must be null: they have no field, config_schema.c)
typedef struct {
    bool compile_model;              // false (true refused)
    bool strict_pretrained_loading;  // true (accepted; meaningless without a pretrained checkpoint)
} GlobalModelConfig;

typedef struct {
    bool compute_attributions;             // false (true refused; EIR skips bytes inputs anyway)
    int max_attributions_per_class;        // 0 = None
    int attributions_every_sample_factor;  // 1
    int attribution_background_samples;    // 256
} AttributionAnalysisConfig;

typedef struct {
    int streaming_setup_samples;  // 10000 (streaming data only; accepted, unused)
    int streaming_batch_size;     // 0 = None
} DataPreparationConfig;

typedef struct {
    BasicExperimentConfig basic_experiment;
    AcceleratorConfig accelerator;
    OptimizationConfig optimization;
    LRScheduleConfig lr_schedule;
    TrainingControlConfig training_control;
    EvaluationCheckpointConfig evaluation_checkpoint;
    MetricsConfig metrics;
    VisualizationLoggingConfig visualization_logging;
    // added with the loader (EIR sections accepted at their defaults; latent_sampling must be null)
    GlobalModelConfig model;
    AttributionAnalysisConfig attribution_analysis;
    DataPreparationConfig data_preparation;
} GlobalConfig;

// ---- input config (one file = one input) ----
typedef enum { SAMPLE_UNIFORM, SAMPLE_FROM_START } SamplingStrategy;
// (the model has its own PositionKind / PoolKind: src/train/model_from_config.c maps these)
typedef enum { INPUT_POS_ENCODE, INPUT_POS_EMBED } InputPosition;
typedef enum { INPUT_POOL_NONE, INPUT_POOL_AVG, INPUT_POOL_MAX } InputPool;

typedef struct {
    char *input_source;  // folder (searched recursively) or a text file listing one path per line
    char *input_name;
    char *input_type;    // "bytes"
    int max_length;                       // 256
    char *byte_encoding;                  // "uint8"
    SamplingStrategy sampling_strategy;   // uniform
    char *mixing_subtype;                 // "mixup"
    double modality_dropout_rate;         // 0.0
    char *model_type;                     // "sequence-default"
    int embedding_dim;                    // 64 (YAML null -> auto, resolved here)
    InputPosition position;               // encode
    double position_dropout;              // 0.10
    int window_size;                      // 0
    InputPool pool;                       // none
    bool masked;                          // false
    int num_heads;                        // 8
    int num_layers;                       // 2
    int dim_feedforward;                  // "auto" -> 4 * embedding_dim (resolved)
    double dropout;                       // 0.10
    // beyond EIR (model.h: the global stage over windows); written to the defaulted config only
    // when global_layers > 0, so EIR's configs never meet them
    int global_layers;                    // 0 = off
    int global_heads;                     // 4
    int global_embedding_dim;             // null (-1) -> embedding_dim (resolved)
    char *source_file;                    // the YAML file this input came from
    bool freeze_pretrained_model;         // false (accepted; meaningless: pretrained_model is refused)
    bool embedding_dim_auto;              // YAML null: embedding_dim was computed (spec §1.2)
    bool dim_feedforward_auto;            // "auto": dim_feedforward = 4 * embedding_dim
} InputConfig;

// ---- output config (one file = one output) ----
typedef struct {
    char *output_source;  // labels CSV with an ID column
    char *output_name;
    char *output_type;    // "tabular"
    StrList target_cat_columns;
    StrList target_con_columns;
    int label_parsing_chunk_size;  // 0 = None
    double cat_label_smoothing;    // 0.0
    char *cat_loss_name;           // "CrossEntropyLoss"
    char *con_loss_name;           // "MSELoss"
    bool uncertainty_weighted_mt_loss;  // false
    char *model_type;              // "mlp_residual"
    int layers;                    // [2] -> 2 blocks per branch... layers[0]
    int fc_task_dim;               // 256
    double rb_do;                  // 0.10
    double fc_do;                  // 0.10
    double stochastic_depth_p;     // 0.10
    char *final_layer_type;        // "linear"
    char *source_file;
} OutputConfig;

// ---- fusion config (absent -> defaults) ----
typedef struct {
    char *model_type;          // "mlp-residual"
    int layers;                // [2] -> layers[0]
    int fc_task_dim;           // 256
    double rb_do;              // 0.10
    double fc_do;              // 0.10 (unused by the fusion module, kept for the effective config)
    double stochastic_depth_p; // 0.10
} FusionConfig;

typedef struct {
    GlobalConfig global;
    InputConfig *inputs;
    int n_inputs;
    OutputConfig *outputs;
    int n_outputs;
    FusionConfig fusion;
    // the merged node trees, kept to write the effective config
    struct YamlNode *global_tree, **input_trees, **output_trees, *fusion_tree;
} ExperimentConfig;

// Command line of eir-dist / eir-predict split into config files, overrides and program flags.
typedef struct {
    StrList global_files, input_files, output_files, fusion_files;
    StrList overrides;  // "--<file_stem>.<dotted.key>=<value>" without the leading "--"
} ConfigSources;

// Parses, merges, applies overrides, fills defaults and validates. Any problem: one message naming
// file, line, column, key, what was found and what was expected, then exit code 2 (eir_die_user).
void config_load(ExperimentConfig *cfg, const ConfigSources *src);
// Same, without exiting: 0 on success; -1 with the one message in err (cfg is then left zeroed,
// nothing to free). Never exits except on out-of-memory.
int config_try_load(ExperimentConfig *cfg, const ConfigSources *src, char *err, size_t errlen);

// Flags for the *_flags variants.
enum {
    // Paths (output_folder, input_source, output_source, manual_valid_ids_file) may be null and
    // are not checked on disk: for the stripped configs that serve/predict read.
    CONFIG_NO_PATH_CHECKS = 1 << 0,
};
int config_try_load_flags(ExperimentConfig *cfg, const ConfigSources *src, int flags, char *err,
                          size_t errlen);
// Loads what config_write_effective wrote: <dir>/global_config.yaml (one mapping),
// input_configs.yaml and output_configs.yaml (lists of mappings), fusion_config.yaml (optional).
int config_try_load_effective(ExperimentConfig *cfg, const char *dir, int flags, char *err,
                              size_t errlen);
void config_load_effective(ExperimentConfig *cfg, const char *dir, int flags);

// Writes the fully defaulted configs to <dir>/{global_config,input_configs,fusion_config,output_configs}.yaml.
void config_write_effective(const ExperimentConfig *cfg, const char *dir);
// Same, with the paths set to null, as EIR's serializations/configs_stripped/ (for serve/predict).
void config_write_stripped(const ExperimentConfig *cfg, const char *dir);
// The text config_write_effective puts in each file (malloc'd); which: "global_config",
// "input_configs", "fusion_config" or "output_configs". NULL for any other name.
char *config_effective_yaml(const ExperimentConfig *cfg, const char *which, bool stripped);
void config_free(ExperimentConfig *cfg);
// Compares every typed field (not the trees or source_file). Returns true when equal; otherwise
// false with the first difference ("optimization.lr: 0.0003 vs 0.001") in diff.
bool config_equal(const ExperimentConfig *a, const ExperimentConfig *b, char *diff, size_t difflen);

// Where a value was set, for messages about it found later (e.g. a target column absent from the
// labels CSV). tree: one of cfg's kept trees; path: dotted keys, list items by index
// ("output_type_info.target_cat_columns.0"). Returns the mark of the deepest node found on the path
// (line 0 when the tree is NULL). file points into the tree: valid until config_free.
ConfigMark config_mark_of(const struct YamlNode *tree, const char *dotted_path);

// StrList helpers (items are malloc'd copies).
void strlist_push(StrList *l, const char *s);
void strlist_free(StrList *l);
bool strlist_contains(const StrList *l, const char *s);
void config_sources_free(ConfigSources *src);
