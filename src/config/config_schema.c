// config_schema.c: the global config's table (config_schema.h), EIR's defaults (spec §1) and what
// eir-dist accepts of each key.
#include "config/config_schema.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define F(field) offsetof(CUR, field)
#define CUR GlobalConfig
#define INT_K(sec, k, field, def, lo_, hi_, doc_) \
    {.section = sec, .key = k, .kind = CK_INT, .off = F(field), .def_int = def, .lo = lo_, .hi = hi_, .doc = doc_}
// YAML null stores nullv; write_null_: that value is written back as null
#define INT_OR_NULL(sec, k, field, def, nullv, lo_, hi_, write_null_, doc_)                                      \
    {.section = sec, .key = k, .kind = CK_INT, .off = F(field), .def_int = def, .lo = lo_, .hi = hi_,           \
     .nullable = true, .null_int = nullv, .write_null = write_null_, .doc = doc_}
#define NUM_K(sec, k, field, def, lo_, lo_open_, hi_, hi_open_, doc_)                                            \
    {.section = sec, .key = k, .kind = CK_NUM, .off = F(field), .def_num = def, .nlo = lo_, .nlo_open = lo_open_, \
     .nhi = hi_, .nhi_open = hi_open_, .doc = doc_}
#define BOOL_K(sec, k, field, def, doc_) \
    {.section = sec, .key = k, .kind = CK_BOOL, .off = F(field), .def_int = def, .doc = doc_}
#define FALSE_ONLY(sec, k, field, why_, doc_) \
    {.section = sec, .key = k, .kind = CK_FALSE_ONLY, .off = F(field), .why = why_, .doc = doc_}
#define CHOICE(sec, k, field, choices_, eir_only_, why_, doc_)                                                    \
    {.section = sec, .key = k, .kind = CK_CHOICE, .off = F(field), .choices = choices_, .eir_only = eir_only_,   \
     .why = why_, .doc = doc_}
#define METRICS(sec, k, field, choices_, eir_only_, def_, nullable_, doc_)                                        \
    {.section = sec, .key = k, .kind = CK_METRICS, .off = F(field), .choices = choices_, .eir_only = eir_only_,  \
     .def_list = def_, .nullable = nullable_, .doc = doc_}
#define NULL_ONLY(sec, k, why_, doc_) \
    {.section = sec, .key = k, .kind = CK_NULL_ONLY, .off = CK_NO_FIELD, .why = why_, .doc = doc_}

static const char *const k_optimizers[] = {"adamw", NULL};
static const char *const k_optimizers_eir[] = {"sgdm", "adam", "adahessian", "adabelief", "adabeliefw", NULL};
static const char *const k_lr_schedules[] = {"plateau", "cosine", "cycle", NULL};  // order = LRScheduleKind
static const char *const k_cat_metrics[] = {"mcc", "acc", "roc-auc-macro", "ap-macro", NULL};
static const char *const k_cat_metrics_eir[] = {"f1-macro", "precision-macro", "recall-macro", "cohen-kappa", NULL};
static const char *const k_con_metrics[] = {"r2", "pcc", "loss", NULL};
static const char *const k_con_metrics_eir[] = {"rmse", "mae", "mape", "explained-variance", NULL};
static const char *const k_cat_avg_def[] = {"mcc", "roc-auc-macro", "ap-macro", NULL};
static const char *const k_con_avg_def[] = {"loss", "pcc", "r2", NULL};
static const char *const k_log_levels[] = {"info", "debug", "warning", "error", "critical", NULL};
static const char *const k_hardware[] = {"auto", "cpu", "cuda", "gpu", NULL};
static const char *const k_hardware_eir[] = {"mps", "tpu", "hpu", NULL};
// "tf32" is eir-dist's own (Lightning has no name for it); on the CPU every mode computes in fp32
static const char *const k_precisions[] = {"32-true", "32", "tf32", "bf16-mixed", NULL};
static const char *const k_precisions_eir[] = {"64", "16", "bf16", "64-true", "16-true", "bf16-true", "16-mixed",
    "transformer-engine", "transformer-engine-float16", NULL};
static const char *const k_devices[] = {"cpu", "cuda", "auto", NULL};
static const char *const k_devices_eir[] = {"mps", NULL};
static const char *const k_strategies[] = {"auto", "ddp", NULL};
static const char *const k_strategies_eir[] = {"dp", "ddp_spawn", "ddp_fork", "ddp_notebook", "deepspeed", "fsdp",
    "single_device", NULL};

const char *const CONFIG_GLOBAL_SECTIONS[] = {
    "basic_experiment", "model", "optimization", "lr_schedule", "training_control",
    "evaluation_checkpoint", "attribution_analysis", "metrics", "visualization_logging",
    "data_preparation", "accelerator", "latent_sampling", NULL};

static bool valid_size_equal(const void *x, const void *y) {
    const GlobalConfig *a = x, *b = y;
    return a->basic_experiment.valid_size == b->basic_experiment.valid_size &&
           a->basic_experiment.valid_size_is_count == b->basic_experiment.valid_size_is_count;
}
static bool warmup_equal(const void *x, const void *y) {
    const GlobalConfig *a = x, *b = y;
    return a->lr_schedule.warmup_auto == b->lr_schedule.warmup_auto &&
           a->lr_schedule.warmup_steps == b->lr_schedule.warmup_steps;
}

static bool evaluation_crops_equal(const void *x, const void *y) {
    return ((const GlobalConfig *)x)->evaluation_checkpoint.evaluation_crops ==
           ((const GlobalConfig *)y)->evaluation_checkpoint.evaluation_crops;
}

static const ConfigKey k_global[] = {
    // basic_experiment
    {.section = "basic_experiment", .key = "output_folder", .kind = CK_STR, .off = F(basic_experiment.output_folder),
     .required = true, .stripped_null = true, .doc = "the run folder to create, e.g. runs/imdb_bytes"},
    INT_K("basic_experiment", "n_epochs", basic_experiment.n_epochs, 10, 1, INT_MAX, "passes over the training set"),
    INT_K("basic_experiment", "batch_size", basic_experiment.batch_size, 64, 1, INT_MAX,
          "samples per optimizer step, over all ranks together (the global batch)"),
    {.section = "basic_experiment", .key = "valid_size", .kind = CK_CUSTOM, .off = F(basic_experiment.valid_size),
     .def_num = 0.1, .load = config_load_valid_size, .write = config_write_valid_size, .equal = valid_size_equal,
     .doc = "validation share: a fraction in (0, 1), or a count of samples (an integer, or a float > 1 cut to one)"},
    {.section = "basic_experiment", .key = "manual_valid_ids_file", .kind = CK_PATH,
     .off = F(basic_experiment.manual_valid_ids_file), .stripped_null = true,
     .doc = "a text file with one validation ID per line"},
    INT_K("basic_experiment", "dataloader_workers", basic_experiment.dataloader_workers, 0, 0, INT_MAX,
          "accepted and ignored: files are read in the training thread"),
    {.section = "basic_experiment", .key = "device", .kind = CK_CHOICE, .off = F(basic_experiment.device),
     .choices = k_devices, .eir_only = k_devices_eir,
     .why = "eir-dist has CPU and CUDA backends only", .load = config_load_device,
     .doc = "cpu, cuda or auto (deprecated in EIR; cuda:N is read as cuda: each MPI rank takes its own GPU)"},
    BOOL_K("basic_experiment", "memory_dataset", basic_experiment.memory_dataset, false,
           "read every file into memory at start-up"),
    // model
    FALSE_ONLY("model", "compile_model", model.compile_model,
               "there is no torch.compile here; the kernels are already compiled C/CUDA", "torch.compile (refused)"),
    NULL_ONLY("model", "n_iter_before_swa", "stochastic weight averaging is not implemented", "SWA (refused)"),
    NULL_ONLY("model", "pretrained_checkpoint",
              "starting from a pretrained EIR checkpoint is not implemented; use --resume RUN_FOLDER to continue an "
              "eir-dist run", "a pretrained EIR checkpoint (refused)"),
    BOOL_K("model", "strict_pretrained_loading", model.strict_pretrained_loading, true,
           "accepted; meaningless without a pretrained checkpoint"),
    // optimization
    CHOICE("optimization", "optimizer", optimization.optimizer, k_optimizers, k_optimizers_eir,
           "only AdamW is implemented", "the optimizer"),
    NUM_K("optimization", "lr", optimization.lr, 3e-4, 0.0, false, INFINITY, false, "base learning rate"),
    NUM_K("optimization", "lr_lb", optimization.lr_lb, 0.0, 0.0, false, INFINITY, false,
          "learning-rate floor of the schedules"),
    NUM_K("optimization", "b1", optimization.b1, 0.9, 0.0, false, 1.0, true, "AdamW beta 1"),
    NUM_K("optimization", "b2", optimization.b2, 0.999, 0.0, false, 1.0, true, "AdamW beta 2"),
    NUM_K("optimization", "wd", optimization.wd, 1e-4, 0.0, false, INFINITY, false, "AdamW weight decay"),
    {.section = "optimization", .key = "gradient_clipping", .kind = CK_NUM, .off = F(optimization.gradient_clipping),
     .def_num = 1.0, .nlo = 0.0, .nhi = INFINITY, .nullable = true, .null_num = 0.0,
     .doc = "global gradient-norm limit (0 or null: none)"},
    INT_OR_NULL("optimization", "gradient_accumulation_steps", optimization.gradient_accumulation_steps, 1, 1, 1,
                INT_MAX, false, "micro-batches per optimizer step (null: 1)"),
    NUM_K("optimization", "gradient_noise", optimization.gradient_noise, 0.0, 0.0, false, INFINITY, false,
          "std of Gaussian noise added to the gradients"),
    // lr_schedule
    {.section = "lr_schedule", .key = "lr_schedule", .kind = CK_ENUM, .off = F(lr_schedule.lr_schedule),
     .choices = k_lr_schedules, .load = config_load_lr_schedule, .doc = "plateau, cosine or cycle"},
    INT_K("lr_schedule", "lr_plateau_patience", lr_schedule.lr_plateau_patience, 10, 1, INT_MAX,
          "validations without improvement before the plateau schedule lowers the rate"),
    NUM_K("lr_schedule", "lr_plateau_factor", lr_schedule.lr_plateau_factor, 0.2, 0.0, true, 1.0, true,
          "factor of each plateau reduction"),
    {.section = "lr_schedule", .key = "warmup_steps", .kind = CK_CUSTOM, .off = F(lr_schedule.warmup_steps),
     .load = config_load_warmup, .write = config_write_warmup, .equal = warmup_equal,
     .doc = "'auto' (round(2 / (1 - b2))) or an integer >= 0"},
    BOOL_K("lr_schedule", "plot_lr_schedule", lr_schedule.plot_lr_schedule, false, "accepted; no plot is drawn"),
    // training_control
    INT_OR_NULL("training_control", "early_stopping_patience", training_control.early_stopping_patience, 10, 0, 0,
                INT_MAX, false, "validations without improvement before training stops (0 or null: never)"),
    INT_OR_NULL("training_control", "early_stopping_buffer", training_control.early_stopping_buffer, 0, 0, 0,
                INT_MAX, true, "iterations before early stopping may start"),
    NULL_ONLY("training_control", "weighted_sampling_columns", "weighted sampling is not implemented",
              "weighted sampling (refused)"),
    NUM_K("training_control", "mixing_alpha", training_control.mixing_alpha, 0.0, 0.0, false, INFINITY, false,
          "mixup Beta(alpha, alpha) (0: off)"),
    // evaluation_checkpoint
    INT_K("evaluation_checkpoint", "sample_interval", evaluation_checkpoint.sample_interval, 200, 1, INT_MAX,
          "iterations between validations"),
    INT_K("evaluation_checkpoint", "saved_result_detail_level", evaluation_checkpoint.saved_result_detail_level, 5,
          0, INT_MAX, "accepted"),
    {.section = "evaluation_checkpoint", .key = "checkpoint_interval", .kind = CK_INT,
     .off = F(evaluation_checkpoint.checkpoint_interval), .def_int = 0, .lo = 1, .hi = INT_MAX, .nullable = true,
     .null_int = 0, .write_null = true, .load = config_load_checkpoint_interval,
     .doc = "iterations between model files and training states, a multiple of sample_interval (null: never)"},
    INT_K("evaluation_checkpoint", "n_saved_models", evaluation_checkpoint.n_saved_models, 1, 1, INT_MAX,
          "best model files kept"),
    {.section = "evaluation_checkpoint", .key = "evaluation_crops", .kind = CK_CUSTOM,
     .off = F(evaluation_checkpoint.evaluation_crops), .def_int = 1, .load = config_load_evaluation_crops,
     .write = config_write_evaluation_crops, .equal = evaluation_crops_equal, .written_if_set = true,
     .doc = "eir-dist's own: 'all' or N > 1 also scores each validation file by the mean over all (at most N) "
            "of its crops, beside EIR's first-max_length-bytes metrics (1: off)"},
    // attribution_analysis
    FALSE_ONLY("attribution_analysis", "compute_attributions", attribution_analysis.compute_attributions,
               "integrated-gradients attributions are not implemented; EIR skips them for bytes inputs anyway",
               "attributions (refused)"),
    INT_OR_NULL("attribution_analysis", "max_attributions_per_class", attribution_analysis.max_attributions_per_class,
                0, 0, 1, INT_MAX, true, "accepted"),
    INT_K("attribution_analysis", "attributions_every_sample_factor",
          attribution_analysis.attributions_every_sample_factor, 1, 1, INT_MAX, "accepted"),
    INT_K("attribution_analysis", "attribution_background_samples",
          attribution_analysis.attribution_background_samples, 256, 1, INT_MAX, "accepted"),
    // metrics
    METRICS("metrics", "cat_metrics", metrics.cat_metrics, k_cat_metrics, k_cat_metrics_eir, k_cat_metrics, false,
            "metrics of categorical targets"),
    METRICS("metrics", "con_metrics", metrics.con_metrics, k_con_metrics, k_con_metrics_eir, k_con_metrics, false,
            "metrics of continuous targets"),
    METRICS("metrics", "cat_averaging_metrics", metrics.cat_averaging_metrics, k_cat_metrics, k_cat_metrics_eir,
            k_cat_avg_def, true, "what perf-average averages for categorical targets (null: the default)"),
    METRICS("metrics", "con_averaging_metrics", metrics.con_averaging_metrics, k_con_metrics, k_con_metrics_eir,
            k_con_avg_def, true, "what perf-average averages for continuous targets (null: the default)"),
    // visualization_logging
    INT_K("visualization_logging", "plot_skip_steps", visualization_logging.plot_skip_steps, 200, 0, INT_MAX,
          "iterations left out at the start of the training curves"),
    BOOL_K("visualization_logging", "no_pbar", visualization_logging.no_pbar, false, "no progress bar"),
    CHOICE("visualization_logging", "log_level", visualization_logging.log_level, k_log_levels, NULL, NULL,
           "info, debug, warning, error or critical"),
    FALSE_ONLY("visualization_logging", "save_model_diagram", visualization_logging.save_model_diagram,
               "model diagrams (torchview) are not drawn", "model diagram (refused)"),
    // latent_sampling (a top-level key)
    NULL_ONLY("", "latent_sampling", "latent sampling is not implemented", "latent sampling (refused)"),
    // data_preparation
    INT_OR_NULL("data_preparation", "streaming_setup_samples", data_preparation.streaming_setup_samples, 10000, 0, 1,
                INT_MAX, true, "streaming data only; accepted, unused"),
    INT_OR_NULL("data_preparation", "streaming_batch_size", data_preparation.streaming_batch_size, 0, 0, 1, INT_MAX,
                true, "streaming data only; accepted, unused"),
    // accelerator
    CHOICE("accelerator", "hardware", accelerator.hardware, k_hardware, k_hardware_eir,
           "eir-dist has CPU and CUDA backends only", "auto, cpu, cuda or gpu"),
    CHOICE("accelerator", "precision", accelerator.precision, k_precisions, k_precisions_eir,
           "GPU matrix products run in fp32, tf32 or bf16 with fp32 master weights (bf16-mixed); everything else in "
           "fp32", "matrix-product precision on a GPU: 32-true, tf32 or bf16-mixed"),
    CHOICE("accelerator", "strategy", accelerator.strategy, k_strategies, k_strategies_eir,
           "eir-dist always trains data-parallel over MPI ranks", "auto or ddp"),
    {.section = "accelerator", .key = "devices", .kind = CK_FIXED, .off = F(accelerator.devices), .def_str = "auto",
     .why = "eir-dist uses one device per MPI rank, so choose the number of devices with the launcher (mpirun -np N)",
     .doc = "auto only"},
    {.section = "accelerator", .key = "num_nodes", .kind = CK_FIXED, .off = F(accelerator.num_nodes), .def_int = 1,
     .why = "nodes come from the MPI launch (mpirun's host list), not from the config", .doc = "1 only"},
};

const ConfigSchema CONFIG_GLOBAL_SCHEMA = {"global config", "the global config", k_global,
                                           (int)(sizeof k_global / sizeof *k_global), NULL, NULL};

// ---- input config (one file = one input) ----
#undef CUR
#define CUR InputConfig
static const char *const k_input_types[] = {"bytes", NULL};
static const char *const k_input_types_eir[] = {"omics", "tabular", "sequence", "image", "array", NULL};
static const char *const k_encodings[] = {"uint8", NULL};
static const char *const k_sampling[] = {"uniform", "from_start", NULL};  // order = SamplingStrategy
static const char *const k_mixing[] = {"mixup", NULL};
static const char *const k_mixing_eir[] = {"cutmix", "cutmix-block", "cutmix-uniform", NULL};
static const char *const k_seq_models[] = {"sequence-default", NULL};
static const char *const k_positions[] = {"encode", "embed", NULL};  // order = InputPosition
static const char *const k_pools[] = {"avg", "max", NULL};           // InputPool - 1; null is none
static const char *const k_interp_keys[] = {"interpretation_sampling_strategy", "num_samples_to_interpret",
    "manual_samples_to_interpret", NULL};
#define RATE(sec, k, field, def, doc_) NUM_K(sec, k, field, def, 0.0, false, 1.0, true, doc_)

static const ConfigKey k_input[] = {
    {.section = "input_info", .key = "input_source", .kind = CK_PATH, .off = F(input_source), .required = true,
     .path_kind = 0, .stripped_null = true, .doc = "a folder of input files, or a text file listing one file per line"},
    {.section = "input_info", .key = "input_name", .kind = CK_STR, .off = F(input_name), .required = true,
     .doc = "a unique name for this input, e.g. imdb_reviews_bytes"},
    {.section = "input_info", .key = "input_type", .kind = CK_CHOICE, .off = F(input_type), .required = true,
     .choices = k_input_types, .eir_only = k_input_types_eir, .why = "eir-dist implements the raw-bytes workflow only",
     .doc = "'bytes'"},
    INT_K("input_type_info", "max_length", max_length, 256, 1, INT_MAX, "bytes read per sample (L)"),
    CHOICE("input_type_info", "byte_encoding", byte_encoding, k_encodings, NULL, NULL, "uint8"),
    {.section = "input_type_info", .key = "sampling_strategy_if_longer", .kind = CK_ENUM, .off = F(sampling_strategy),
     .choices = k_sampling, .doc = "which L bytes of a longer file: uniform (random window) or from_start"},
    CHOICE("input_type_info", "mixing_subtype", mixing_subtype, k_mixing, k_mixing_eir,
           "EIR offers only mixup for bytes inputs too", "mixup"),
    RATE("input_type_info", "modality_dropout_rate", modality_dropout_rate, 0.0,
         "probability of dropping this input for a sample (multi-input models)"),
    INT_K("model_config.model_init_config", "num_heads", num_heads, 8, 1, INT_MAX, "attention heads"),
    INT_K("model_config.model_init_config", "num_layers", num_layers, 2, 1, INT_MAX, "transformer layers"),
    {.section = "model_config.model_init_config", .key = "dim_feedforward", .kind = CK_INT, .off = F(dim_feedforward),
     .lo = 1, .hi = INT_MAX, .load = config_load_dim_feedforward, .doc = "'auto' (4 x embedding_dim) or an integer >= 1"},
    RATE("model_config.model_init_config", "dropout", dropout, 0.10, "dropout inside the transformer layers"),
    {.section = "model_config.model_init_config", .key = "global_layers", .kind = CK_INT, .off = F(global_layers),
     .def_int = 0, .lo = 0, .hi = 4094, .write = config_write_global_key,
     .doc = "eir-dist only: transformer layers across the windows' summaries (0: off, EIR's model)"},
    {.section = "model_config.model_init_config", .key = "global_heads", .kind = CK_INT, .off = F(global_heads),
     .def_int = 4, .lo = 1, .hi = INT_MAX, .write = config_write_global_key,
     .doc = "eir-dist only: attention heads of the global layers"},
    {.section = "model_config.model_init_config", .key = "global_embedding_dim", .kind = CK_INT,
     .off = F(global_embedding_dim), .def_int = -1, .lo = 1, .hi = 1 << 20, .nullable = true, .null_int = -1,
     .write = config_write_global_key,
     .doc = "eir-dist only: width of the global layers (null: embedding_dim)"},
    {.section = "model_config", .key = "model_type", .kind = CK_CHOICE, .off = F(model_type), .choices = k_seq_models,
     .nullable = true, .load = config_load_input_model_type, .doc = "sequence-default (EIR's own transformer)"},
    INT_OR_NULL("model_config", "embedding_dim", embedding_dim, 64, -1, 1, INT_MAX, false,
                "d (null: computed from the vocabulary and num_heads, as EIR does)"),
    {.section = "model_config", .key = "position", .kind = CK_ENUM, .off = F(position), .choices = k_positions,
     .doc = "encode (sinusoidal) or embed (learned)"},
    RATE("model_config", "position_dropout", position_dropout, 0.10, "dropout after adding the positions"),
    INT_K("model_config", "window_size", window_size, 0, 0, INT_MAX, "attention window (0: the whole sequence)"),
    {.section = "model_config", .key = "pool", .kind = CK_ENUM, .off = F(pool), .choices = k_pools,
     .load = config_load_pool, .write = config_write_pool, .doc = "null, avg or max over each window"},
    BOOL_K("model_config", "masked", masked, false, "causal attention inside each window"),
    {.section = "model_config", .key = "pretrained_model", .kind = CK_FALSE_ONLY, .off = CK_NO_FIELD,
     .why = "pretrained HuggingFace models are not available", .doc = "HuggingFace model (refused)"},
    BOOL_K("model_config", "freeze_pretrained_model", freeze_pretrained_model, false,
           "accepted; meaningless without a pretrained model"),
    NULL_ONLY("", "pretrained_config", "loading pretrained input modules is not implemented",
              "pretrained input modules (refused)"),
    {.section = "", .key = "interpretation_config", .kind = CK_KEYS_ONLY, .off = CK_NO_FIELD, .choices = k_interp_keys,
     .doc = "interpretation_config"},
    NULL_ONLY("", "tensor_broker_config", "the tensor broker is not implemented", "tensor broker (refused)"),
};

static const ConfigSectionInfo k_input_sections[] = {
    {"input_info", "input_info", "it gives input_source, input_name, input_type"},
    {"input_type_info", "input_type_info (bytes)", NULL},
    {"model_config", "model_config (sequence model)", NULL},
    {"model_config.model_init_config", "model_init_config (transformer)", NULL},
    {NULL, NULL, NULL},
};

const ConfigSchema CONFIG_INPUT_SCHEMA = {"input config", "an input config", k_input,
                                          (int)(sizeof k_input / sizeof *k_input), k_input_sections,
                                          config_finish_input};

// ---- output config (one file = one output) ----
#undef CUR
#define CUR OutputConfig
static const char *const k_output_types[] = {"tabular", NULL};
static const char *const k_output_types_eir[] = {"sequence", "array", "image", "survival", NULL};
static const char *const k_cat_losses[] = {"CrossEntropyLoss", NULL};
static const char *const k_cat_losses_eir[] = {"BCEWithLogitsLoss", NULL};
static const char *const k_con_losses[] = {"MSELoss", NULL};
static const char *const k_con_losses_eir[] = {"L1Loss", "SmoothL1Loss", "PoissonNLLLoss", "HuberLoss", NULL};
static const char *const k_head_models[] = {"mlp_residual", NULL};
static const char *const k_head_models_eir[] = {"linear", "shared_mlp_residual", NULL};
static const char *const k_finals[] = {"linear", NULL};
static const char *const k_finals_eir[] = {"mlp_residual", NULL};

static const ConfigKey k_output[] = {
    {.section = "output_info", .key = "output_source", .kind = CK_PATH, .off = F(output_source), .required = true,
     .path_kind = 1, .stripped_null = true, .doc = "a CSV file of labels with an ID column"},
    {.section = "output_info", .key = "output_name", .kind = CK_STR, .off = F(output_name), .required = true,
     .doc = "a unique name for this output, e.g. imdb_output"},
    {.section = "output_info", .key = "output_type", .kind = CK_CHOICE, .off = F(output_type), .required = true,
     .choices = k_output_types, .eir_only = k_output_types_eir, .why = "eir-dist implements tabular outputs only",
     .doc = "'tabular'"},
    {.section = "output_type_info", .key = "target_cat_columns", .kind = CK_STRLIST, .off = F(target_cat_columns),
     .doc = "categorical target columns of the labels CSV"},
    {.section = "output_type_info", .key = "target_con_columns", .kind = CK_STRLIST, .off = F(target_con_columns),
     .doc = "continuous target columns of the labels CSV"},
    INT_OR_NULL("output_type_info", "label_parsing_chunk_size", label_parsing_chunk_size, 0, 0, 1, INT_MAX, true,
                "accepted (the labels are read at once)"),
    RATE("output_type_info", "cat_label_smoothing", cat_label_smoothing, 0.0, "label smoothing of the cross-entropy"),
    CHOICE("output_type_info", "cat_loss_name", cat_loss_name, k_cat_losses, k_cat_losses_eir,
           "categorical targets use softmax cross-entropy only", "CrossEntropyLoss"),
    CHOICE("output_type_info", "con_loss_name", con_loss_name, k_con_losses, k_con_losses_eir,
           "continuous targets use mean squared error only", "MSELoss"),
    FALSE_ONLY("output_type_info", "uncertainty_weighted_mt_loss", uncertainty_weighted_mt_loss,
               "uncertainty-weighted multi-task loss is not implemented", "uncertainty weighting (refused)"),
    {.section = "model_config.model_init_config", .key = "layers", .kind = CK_LAYERS, .off = F(layers), .def_int = 2,
     .doc = "[N]: N residual blocks"},
    INT_K("model_config.model_init_config", "fc_task_dim", fc_task_dim, 256, 1, INT_MAX, "width of the head"),
    RATE("model_config.model_init_config", "rb_do", rb_do, 0.10, "dropout inside the residual blocks"),
    RATE("model_config.model_init_config", "fc_do", fc_do, 0.10, "dropout before the final layer"),
    RATE("model_config.model_init_config", "stochastic_depth_p", stochastic_depth_p, 0.10, "stochastic depth"),
    CHOICE("model_config.model_init_config", "final_layer_type", final_layer_type, k_finals, k_finals_eir,
           "the head ends in one linear layer", "linear"),
    {.section = "model_config", .key = "model_type", .kind = CK_CHOICE, .off = F(model_type), .choices = k_head_models,
     .eir_only = k_head_models_eir, .why = "only EIR's default residual MLP head is implemented", .nullable = true,
     .doc = "mlp_residual"},
    NULL_ONLY("", "sampling_config", "sampling settings do not apply to tabular outputs", "sampling (refused)"),
    NULL_ONLY("", "tensor_broker_config", "the tensor broker is not implemented", "tensor broker (refused)"),
};

static const ConfigSectionInfo k_output_sections[] = {
    {"output_info", "output_info", "it gives output_source, output_name, output_type"},
    {"output_type_info", "output_type_info (tabular)", NULL},
    {"model_config", "model_config (tabular output)", NULL},
    {"model_config.model_init_config", "model_init_config (residual MLP head)", NULL},
    {NULL, NULL, NULL},
};

const ConfigSchema CONFIG_OUTPUT_SCHEMA = {"output config", "an output config", k_output,
                                           (int)(sizeof k_output / sizeof *k_output), k_output_sections,
                                           config_finish_output};

// ---- fusion config (absent: every default) ----
#undef CUR
#define CUR FusionConfig
static const char *const k_fusions[] = {"mlp-residual", NULL};
static const char *const k_fusions_eir[] = {"identity", "pass-through", "mgmoe", "attention", "linear", NULL};

static const ConfigKey k_fusion[] = {
    CHOICE("", "model_type", model_type, k_fusions, k_fusions_eir, "only EIR's default residual MLP fusion is implemented",
           "mlp-residual"),
    {.section = "model_config", .key = "layers", .kind = CK_LAYERS, .off = F(layers), .def_int = 2,
     .doc = "[N]: N residual blocks"},
    INT_K("model_config", "fc_task_dim", fc_task_dim, 256, 1, INT_MAX, "width of the fusion blocks"),
    RATE("model_config", "rb_do", rb_do, 0.10, "dropout inside the residual blocks"),
    RATE("model_config", "fc_do", fc_do, 0.10, "accepted (unused by the fusion module, as in EIR)"),
    RATE("model_config", "stochastic_depth_p", stochastic_depth_p, 0.10, "stochastic depth"),
    NULL_ONLY("", "tensor_broker_config", "the tensor broker is not implemented", "tensor broker (refused)"),
};

static const ConfigSectionInfo k_fusion_sections[] = {
    {"model_config", "model_config (residual MLP fusion)", NULL},
    {NULL, NULL, NULL},
};

const ConfigSchema CONFIG_FUSION_SCHEMA = {"fusion config", "the fusion config", k_fusion,
                                           (int)(sizeof k_fusion / sizeof *k_fusion), k_fusion_sections, NULL};

// ---- --config-keys ----

static const char *kind_name(ConfigKeyKind k) {
    switch (k) {
    case CK_INT: return "integer";
    case CK_NUM: return "number";
    case CK_BOOL: case CK_FALSE_ONLY: return "bool";
    case CK_STR: return "string";
    case CK_PATH: return "path";
    case CK_CHOICE: case CK_ENUM: return "choice";
    case CK_METRICS: case CK_STRLIST: return "list";
    case CK_LAYERS: return "[int]";
    case CK_NULL_ONLY: return "null";
    case CK_KEYS_ONLY: return "section";
    case CK_FIXED: return "fixed";
    case CK_CUSTOM: return "special";
    }
    return "?";
}

static void print_list(FILE *f, const char *const *l) {
    for (int i = 0; l && l[i]; i++) fprintf(f, "%s%s", i ? ", " : "", l[i]);
}

static void print_default(FILE *f, const ConfigKey *k) {
    if (k->load == config_load_valid_size) { fprintf(f, "%g", k->def_num); return; }
    if (k->load == config_load_warmup || k->load == config_load_dim_feedforward) { fprintf(f, "auto"); return; }
    if (k->load == config_load_pool) { fprintf(f, "null"); return; }
    if (k->load == config_load_evaluation_crops) { fprintf(f, "%lld", k->def_int); return; }
    switch (k->kind) {
    case CK_INT: case CK_LAYERS: fprintf(f, k->kind == CK_LAYERS ? "[%lld]" : "%lld", k->def_int); break;
    case CK_NUM: fprintf(f, "%g", k->def_num); break;
    case CK_BOOL: fprintf(f, "%s", k->def_int ? "true" : "false"); break;
    case CK_FALSE_ONLY: fprintf(f, "false"); break;
    case CK_STR: case CK_PATH: fprintf(f, "%s", k->required ? "(required)" : k->def_str ? k->def_str : "null"); break;
    case CK_CHOICE: case CK_ENUM: fprintf(f, "%s", k->required ? "(required)" : k->choices[k->def_index]); break;
    case CK_METRICS: fprintf(f, "["); print_list(f, k->def_list); fprintf(f, "]"); break;
    case CK_STRLIST: fprintf(f, "[]"); break;
    case CK_NULL_ONLY: case CK_KEYS_ONLY: fprintf(f, "null"); break;
    case CK_FIXED: if (k->def_str) fprintf(f, "%s", k->def_str); else fprintf(f, "%lld", k->def_int); break;
    case CK_CUSTOM: fprintf(f, "-"); break;
    }
}

void config_print_keys(FILE *f) {
    const ConfigSchema *schemas[] = {&CONFIG_GLOBAL_SCHEMA, &CONFIG_INPUT_SCHEMA, &CONFIG_FUSION_SCHEMA,
                                     &CONFIG_OUTPUT_SCHEMA};
    fprintf(f, "# config | key | type | default | accepted | meaning\n");
    for (size_t s = 0; s < sizeof schemas / sizeof *schemas; s++) {
        for (int i = 0; i < schemas[s]->n_keys; i++) {
            const ConfigKey *k = &schemas[s]->keys[i];
            fprintf(f, "%s | %s%s%s | %s | ", schemas[s]->name, k->section, *k->section ? "." : "", k->key,
                    kind_name(k->kind));
            print_default(f, k);
            fprintf(f, " | ");
            if (k->load == config_load_evaluation_crops) {
                fprintf(f, "all or [1, inf)");
            } else if (k->kind == CK_INT) {
                fprintf(f, "[%lld, ", k->lo);
                if (k->hi >= INT_MAX) fprintf(f, "inf)");
                else fprintf(f, "%lld]", k->hi);
                if (k->nullable) fprintf(f, " or null");
            } else if (k->kind == CK_NUM) {
                fprintf(f, "%c%g, %g%c", k->nlo_open ? '(' : '[', k->nlo, k->nhi,
                        k->nhi_open || isinf(k->nhi) ? ')' : ']');
                if (k->nullable) fprintf(f, " or null");
            } else if (k->choices && k->kind != CK_KEYS_ONLY) {
                print_list(f, k->choices);
            } else {
                fprintf(f, "-");
            }
            fprintf(f, " | %s\n", k->doc ? k->doc : "");
        }
    }
}
