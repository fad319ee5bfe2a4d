// config.h: EIR's three (four) YAML config kinds as typed structs with EIR's defaults (spec §1).
// Parsing: yaml_tree.c (YAML -> node tree with line/column marks, merging, CLI overrides),
// config.c (tree -> these structs, validation, defaults), config_write.c (effective config out).
#pragma once
#include <stdbool.h>
#include <stddef.h>

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

typedef struct {
    BasicExperimentConfig basic_experiment;
    AcceleratorConfig accelerator;
    OptimizationConfig optimization;
    LRScheduleConfig lr_schedule;
    TrainingControlConfig training_control;
    EvaluationCheckpointConfig evaluation_checkpoint;
    MetricsConfig metrics;
    VisualizationLoggingConfig visualization_logging;
} GlobalConfig;

// ---- input config (one file = one input) ----
typedef enum { SAMPLE_UNIFORM, SAMPLE_FROM_START } SamplingStrategy;
typedef enum { POS_ENCODE, POS_EMBED } PositionKind;
typedef enum { POOL_NONE, POOL_AVG, POOL_MAX } PoolKind;

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
    PositionKind position;                // encode
    double position_dropout;              // 0.10
    int window_size;                      // 0
    PoolKind pool;                        // none
    bool masked;                          // false
    int num_heads;                        // 8
    int num_layers;                       // 2
    int dim_feedforward;                  // "auto" -> 4 * embedding_dim (resolved)
    double dropout;                       // 0.10
    char *source_file;                    // the YAML file this input came from
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
// Writes the fully defaulted configs to <dir>/{global_config,input_configs,fusion_config,output_configs}.yaml.
void config_write_effective(const ExperimentConfig *cfg, const char *dir);
void config_free(ExperimentConfig *cfg);
