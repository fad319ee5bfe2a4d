// test_config_errors.c: table-driven test of bad configs. Each row is a set of config files (a
// valid base unless given) plus optional overrides, and the substrings the one error message must
// contain: where (file:line:col), which key, what was found and what was expected. Every row must
// fail with config_try_load returning -1, leave the config zeroed and (under ASan) leak nothing.
#include "test_util.h"
#include "test_config_util.h"

#include "config/config.h"

// Valid base files; rows append lines to them (line numbers in the comments count from there).
#define G_BASE "basic_experiment:\n  output_folder: @DIR@/run\n"  // lines 1-2
#define I_BASE "input_info:\n  input_source: @DIR@/data\n  input_name: bytes_in\n  input_type: bytes\n"  // 1-4
#define O_INFO "output_info:\n  output_source: @DIR@/labels.csv\n  output_name: out\n  output_type: tabular\n"  // 1-4
#define O_TARGETS "output_type_info:\n  target_cat_columns: [label]\n"  // 5-6
#define O_BASE O_INFO O_TARGETS
#define NOFILE "@NOFILE@"  // pass the path of a file that is not there

typedef struct {
    const char *global, *input, *output;  // NULL: the valid base
    const char *fusion, *input2, *output2;  // NULL: no such file
    const char *override;                   // NULL or one override, without the leading "--"
    const char *expect[4];                  // substrings of the message
} BadCase;

static const BadCase k_cases[] = {
    // ---- unknown keys (with "did you mean")
    {G_BASE "  bach_size: 3\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:3: ", "basic_experiment.bach_size", "unknown key", "did you mean 'batch_size'?"}},
    {G_BASE "optimisation:\n  lr: 0.1\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:1: ", "optimisation", "unknown global config section", "did you mean 'optimization'?"}},
    {0, I_BASE "input_infos: {}\n", 0, 0, 0, 0, 0, {"input.yaml:5:1: ", "input_infos", "did you mean 'input_info'?"}},
    {0, 0, O_BASE "model_configs: {}\n", 0, 0, 0, 0, {"output.yaml:7:1: ", "model_configs", "did you mean 'model_config'?"}},
    {0, 0, 0, "model_type: mlp-residual\nmodel_config:\n  fc_task_dimm: 3\n", 0, 0, 0,
     {"fusion.yaml:3:3: ", "model_config.fc_task_dimm", "did you mean 'fc_task_dim'?"}},
    {0, I_BASE "interpretation_config:\n  num_samples: 3\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:3: ", "interpretation_config.num_samples", "unknown key"}},
    {0, I_BASE "model_config:\n  model_init_config:\n    num_head: 4\n", 0, 0, 0, 0, 0,
     {"input.yaml:7:5: ", "model_config.model_init_config.num_head", "did you mean 'num_heads'?"}},

    // ---- wrong types
    {G_BASE "  batch_size: ten\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:15: ", "basic_experiment.batch_size", "expected an integer >= 1", "found 'ten'"}},
    {G_BASE "  batch_size: 64.0\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:15: ", "expected an integer >= 1, found 64.0"}},
    {G_BASE "  n_epochs: {a: 1}\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:13: ", "basic_experiment.n_epochs", "found a mapping"}},
    {"basic_experiment: [a, b]\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:1:19: ", "basic_experiment", "expected a mapping of settings, found a list"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: label\n", 0, 0, 0, 0,
     {"output.yaml:6:23: ", "output_type_info.target_cat_columns", "expected a list of names, found 'label'"}},
    {0, "- a\n- b\n", 0, 0, 0, 0, 0, {"input.yaml:1:1: ", "expected a mapping of config sections", "found a list"}},
    {G_BASE "  memory_dataset: \"yes\"\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:19: ", "basic_experiment.memory_dataset", "expected true or false, found 'yes'"}},
    {G_BASE "  memory_dataset: 1\n", 0, 0, 0, 0, 0, 0, {"expected true or false, found 1"}},
    {0, "input_info:\n  input_source: null\n  input_name: x\n  input_type: bytes\n", 0, 0, 0, 0, 0,
     {"input.yaml:2:17: ", "input_info.input_source", "expected a string, found null"}},
    {0, I_BASE "model_config:\n  model_init_config:\n    dim_feedforward: big\n", 0, 0, 0, 0, 0,
     {"input.yaml:7:22: ", "model_config.model_init_config.dim_feedforward", "expected 'auto' or an integer >= 1, found 'big'"}},
    {G_BASE "lr_schedule:\n  warmup_steps: fast\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:17: ", "lr_schedule.warmup_steps", "expected 'auto' or an integer >= 0, found 'fast'"}},
    {0, 0, O_BASE "model_config:\n  model_init_config:\n    layers: 2\n", 0, 0, 0, 0,
     {"output.yaml:9:13: ", "model_config.model_init_config.layers", "expected a list whose first item is the number of residual blocks"}},

    // ---- out of range
    {G_BASE "  batch_size: 0\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:15: ", "basic_experiment.batch_size", "expected an integer >= 1, found 0"}},
    {G_BASE "  n_epochs: -3\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:13: ", "basic_experiment.n_epochs", "found -3"}},
    {G_BASE "optimization:\n  lr: -0.1\n", 0, 0, 0, 0, 0, 0, {"global.yaml:4:7: ", "optimization.lr", "expected a number >= 0, found -0.1"}},
    {G_BASE "  valid_size: 0\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:15: ", "basic_experiment.valid_size", "expected a fraction in (0, 1) or a count >= 1, found 0"}},
    {G_BASE "  valid_size: -0.5\n", 0, 0, 0, 0, 0, 0, {"basic_experiment.valid_size", "found -0.5"}},
    {G_BASE "  valid_size: 1.0\n", 0, 0, 0, 0, 0, 0, {"basic_experiment.valid_size", "found 1.0"}},
    {0, I_BASE "model_config:\n  model_init_config:\n    dropout: 1.0\n", 0, 0, 0, 0, 0,
     {"input.yaml:7:14: ", "model_config.model_init_config.dropout", "expected a number in [0, 1), found 1.0"}},
    {0, I_BASE "model_config:\n  position_dropout: -0.1\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:21: ", "model_config.position_dropout", "expected a number in [0, 1)"}},
    {0, I_BASE "input_type_info:\n  max_length: 0\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:15: ", "input_type_info.max_length", "expected an integer >= 1, found 0"}},
    {0, I_BASE "input_type_info:\n  max_length: 1024.5\n", 0, 0, 0, 0, 0, {"input_type_info.max_length", "found 1024.5"}},
    {G_BASE "optimization:\n  b1: 1.5\n", 0, 0, 0, 0, 0, 0, {"global.yaml:4:7: ", "optimization.b1", "expected a number in [0, 1), found 1.5"}},
    {G_BASE "optimization:\n  b2: 1\n", 0, 0, 0, 0, 0, 0, {"optimization.b2", "expected a number in [0, 1), found 1"}},
    {G_BASE "evaluation_checkpoint:\n  evaluation_crops: 0\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:21: ", "evaluation_checkpoint.evaluation_crops", "expected an integer >= 1 or \"all\", got 0"}},
    {G_BASE "evaluation_checkpoint:\n  evaluation_crops: some\n", 0, 0, 0, 0, 0, 0,
     {"evaluation_checkpoint.evaluation_crops", "expected an integer >= 1 or \"all\", got 'some'"}},
    {G_BASE "evaluation_checkpoint:\n  evaluation_crops: 2.5\n", 0, 0, 0, 0, 0, 0, {"evaluation_crops", "got 2.5"}},
    {G_BASE "evaluation_checkpoint:\n  evaluation_crops: null\n", 0, 0, 0, 0, 0, 0, {"evaluation_crops", "got null"}},
    {G_BASE "optimization:\n  gradient_accumulation_steps: 0\n", 0, 0, 0, 0, 0, 0,
     {"optimization.gradient_accumulation_steps", "expected an integer >= 1 or null, found 0"}},
    {G_BASE "evaluation_checkpoint:\n  n_saved_models: 0\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:19: ", "evaluation_checkpoint.n_saved_models", "expected an integer >= 1, found 0"}},
    {G_BASE "lr_schedule:\n  lr_plateau_factor: 1.0\n", 0, 0, 0, 0, 0, 0, {"lr_schedule.lr_plateau_factor", "expected a number in (0, 1)"}},
    {G_BASE "lr_schedule:\n  warmup_steps: -5\n", 0, 0, 0, 0, 0, 0, {"lr_schedule.warmup_steps", "found -5"}},
    {G_BASE "training_control:\n  early_stopping_patience: -1\n", 0, 0, 0, 0, 0, 0,
     {"training_control.early_stopping_patience", "expected an integer >= 0 or null, found -1"}},
    {G_BASE "training_control:\n  mixing_alpha: -1\n", 0, 0, 0, 0, 0, 0, {"training_control.mixing_alpha", "expected a number >= 0"}},
    {0, 0, O_BASE "model_config:\n  model_init_config:\n    rb_do: 1.5\n", 0, 0, 0, 0,
     {"output.yaml:9:12: ", "model_config.model_init_config.rb_do", "found 1.5"}},
    {0, 0, O_BASE "model_config:\n  model_init_config:\n    layers: [0]\n", 0, 0, 0, 0,
     {"output.yaml:9:14: ", "layers[0]", "expected an integer in [1, 1000], found 0"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: [label]\n  label_parsing_chunk_size: 0\n", 0, 0, 0, 0,
     {"output_type_info.label_parsing_chunk_size", "expected an integer >= 1 or null, found 0"}},
    {0, I_BASE "model_config:\n  embedding_dim: 0\n", 0, 0, 0, 0, 0, {"model_config.embedding_dim", "expected an integer >= 1 or null, found 0"}},
    {0, I_BASE "model_config:\n  model_init_config:\n    num_heads: 0\n", 0, 0, 0, 0, 0,
     {"model_config.model_init_config.num_heads", "found 0"}},

    // ---- model shape rules
    {0, I_BASE "model_config:\n  embedding_dim: 60\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:18: ", "model_config.embedding_dim", "60 is not divisible by model_init_config.num_heads = 8"}},
    {0, I_BASE "model_config:\n  embedding_dim: 24\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:18: ", "24 / 8 = 3 must be even", "RoPE"}},
    {0, I_BASE "model_config:\n  embedding_dim: null\n", 0, 0, 0, 0, 0, {"8 (computed from embedding_dim: null)", "must be even"}},
    {0, I_BASE "input_type_info:\n  max_length: 64\nmodel_config:\n  window_size: 128\n", 0, 0, 0, 0, 0,
     {"input.yaml:8:16: ", "model_config.window_size", "128 is larger than input_type_info.max_length = 64"}},
    {0, I_BASE "model_config:\n  window_size: -1\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:16: ", "model_config.window_size", "expected an integer >= 0, found -1"}},
    // the global stage (beyond EIR) needs windows, and heads that divide its width
    {0, I_BASE "model_config:\n  model_init_config:\n    global_layers: 2\n", 0, 0, 0, 0, 0,
     {"input.yaml:7:20: ", "model_config.model_init_config.global_layers", "2 needs model_config.window_size > 0"}},
    {0, I_BASE "model_config:\n  window_size: 64\n  model_init_config:\n    global_layers: 1\n    global_heads: 3\n",
     0, 0, 0, 0, 0,
     {"input.yaml:8:20: ", "model_config.model_init_config.global_embedding_dim",
      "64 is not divisible by global_heads = 3"}},
    {0, I_BASE "model_config:\n  model_init_config:\n    global_layers: -1\n", 0, 0, 0, 0, 0,
     {"input.yaml:7:20: ", "model_config.model_init_config.global_layers", "expected an integer in [0, 4094], found -1"}},

    // ---- missing required keys
    {"basic_experiment:\n  n_epochs: 3\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:2:3: ", "basic_experiment.output_folder", "required key is missing", "run folder"}},
    {"optimization:\n  lr: 0.1\n", 0, 0, 0, 0, 0, 0, {"global.yaml:1:1: ", "basic_experiment.output_folder", "required key is missing"}},
    {0, "input_info:\n  input_name: x\n  input_type: bytes\n", 0, 0, 0, 0, 0,
     {"input.yaml:2:3: ", "input_info.input_source", "required key is missing"}},
    {0, "input_info:\n  input_source: @DIR@/data\n  input_type: bytes\n", 0, 0, 0, 0, 0,
     {"input.yaml:2:3: ", "input_info.input_name", "required key is missing"}},
    {0, "input_info:\n  input_source: @DIR@/data\n  input_name: x\n", 0, 0, 0, 0, 0,
     {"input.yaml:2:3: ", "input_info.input_type", "required key is missing", "'bytes'"}},
    {0, "input_type_info:\n  max_length: 5\n", 0, 0, 0, 0, 0, {"input.yaml:1:1: ", "input_info", "required section is missing"}},
    {0, "", 0, 0, 0, 0, 0, {"input.yaml:1:1: ", "input_info", "required section is missing"}},
    {0, 0, "output_info:\n  output_name: o\n  output_type: tabular\n" O_TARGETS, 0, 0, 0, 0,
     {"output.yaml:2:3: ", "output_info.output_source", "required key is missing"}},
    {0, 0, "output_info:\n  output_source: @DIR@/labels.csv\n  output_type: tabular\n" O_TARGETS, 0, 0, 0, 0,
     {"output.yaml:2:3: ", "output_info.output_name", "required key is missing"}},
    {0, 0, "output_info:\n  output_source: @DIR@/labels.csv\n  output_name: o\n" O_TARGETS, 0, 0, 0, 0,
     {"output.yaml:2:3: ", "output_info.output_type", "required key is missing", "'tabular'"}},

    // ---- files and folders that must exist
    {0, "input_info:\n  input_source: @DIR@/no_such_folder\n  input_name: x\n  input_type: bytes\n", 0, 0, 0, 0, 0,
     {"input.yaml:2:17: ", "input_info.input_source", "no_such_folder' does not exist"}},
    {0, 0, "output_info:\n  output_source: @DIR@/data\n  output_name: o\n  output_type: tabular\n" O_TARGETS, 0, 0, 0, 0,
     {"output.yaml:2:18: ", "output_info.output_source", "is not a regular file"}},
    {0, 0, "output_info:\n  output_source: @DIR@/nope.csv\n  output_name: o\n  output_type: tabular\n" O_TARGETS, 0, 0, 0, 0,
     {"output.yaml:2:18: ", "nope.csv' does not exist", "CSV"}},
    {G_BASE "  manual_valid_ids_file: @DIR@/ids.txt\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:26: ", "basic_experiment.manual_valid_ids_file", "ids.txt' does not exist"}},
    {NOFILE, 0, 0, 0, 0, 0, 0, {"global.yaml: cannot open config file: No such file or directory"}},

    // ---- malformed YAML
    {G_BASE "  n_epochs: [1, 2\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:1: malformed YAML: did not find expected ',' or ']'", "while parsing a flow sequence at line 3 column 13"}},
    {G_BASE "\tn_epochs: 3\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:1: malformed YAML", "found a tab character that violates indentation"}},
    {0, I_BASE "model_config:\n  pool: avg\n    window: 3\n", 0, 0, 0, 0, 0,
     {"input.yaml:7:11: malformed YAML", "mapping values are not allowed in this context"}},
    {G_BASE "  output_folder: other\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:3:3: ", "duplicate key 'output_folder'", "first set at line 2 column 3"}},
    {0, I_BASE "model_config:\n  pool: avg\n  pool: max\n", 0, 0, 0, 0, 0, {"input.yaml:7:3: ", "duplicate key 'pool'"}},
    {G_BASE "  n_epochs: *nope\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:13: ", "alias '*nope'", "not defined"}},
    {G_BASE "---\nbasic_experiment: {}\n", 0, 0, 0, 0, 0, 0, {"global.yaml:3:1: ", "expected a single YAML document"}},
    {G_BASE "  n_epochs: \"\xff\xfe\"\n", 0, 0, 0, 0, 0, 0, {"global.yaml: malformed YAML", "invalid", "byte offset"}},

    // ---- bad enum values
    {0, I_BASE "model_config:\n  pool: mean\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:9: ", "model_config.pool", "expected one of 'avg', 'max' or null, found 'mean'"}},
    {0, I_BASE "model_config:\n  pool: None\n", 0, 0, 0, 0, 0, {"model_config.pool", "found 'None'", "YAML's null is written null or ~"}},
    {0, I_BASE "model_config:\n  pool: Avg\n", 0, 0, 0, 0, 0, {"model_config.pool", "did you mean 'avg'?"}},
    {0, I_BASE "model_config:\n  position: absolute\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:13: ", "model_config.position", "expected one of 'encode', 'embed', found 'absolute'"}},
    {0, I_BASE "input_type_info:\n  sampling_strategy_if_longer: random\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:32: ", "input_type_info.sampling_strategy_if_longer", "one of 'uniform', 'from_start'"}},
    {G_BASE "lr_schedule:\n  lr_schedule: same\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:16: ", "lr_schedule.lr_schedule", "'same'", "ValueError"}},
    {G_BASE "lr_schedule:\n  lr_schedule: linear\n", 0, 0, 0, 0, 0, 0,
     {"lr_schedule.lr_schedule", "expected one of 'plateau', 'cosine', 'cycle', found 'linear'"}},
    {G_BASE "visualization_logging:\n  log_level: verbose\n", 0, 0, 0, 0, 0, 0, {"visualization_logging.log_level", "found 'verbose'"}},
    {0, I_BASE "input_type_info:\n  byte_encoding: utf8\n", 0, 0, 0, 0, 0,
     {"input_type_info.byte_encoding", "expected 'uint8', found 'utf8'"}},
    {G_BASE "optimization:\n  optimizer: sgd\n", 0, 0, 0, 0, 0, 0, {"optimization.optimizer", "expected 'adamw', found 'sgd'"}},
    {0, "input_info:\n  input_source: @DIR@/data\n  input_name: x\n  input_type: text\n", 0, 0, 0, 0, 0,
     {"input.yaml:4:15: ", "input_info.input_type", "expected 'bytes', found 'text'"}},
    {G_BASE "metrics:\n  cat_metrics: [mcc, foo]\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:22: ", "metrics.cat_metrics", "unknown metric 'foo'"}},
    {G_BASE "  device: gpu0\n", 0, 0, 0, 0, 0, 0, {"basic_experiment.device", "expected one of 'cpu', 'cuda', 'auto', found 'gpu0'"}},

    // ---- EIR features eir-dist does not implement: refused by name
    {G_BASE "optimization:\n  optimizer: adam\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:14: ", "optimization.optimizer", "'adam' is valid in EIR but not implemented by eir-dist", "AdamW"}},
    {0, "input_info:\n  input_source: @DIR@/data\n  input_name: x\n  input_type: sequence\n", 0, 0, 0, 0, 0,
     {"input.yaml:4:15: ", "input_info.input_type", "'sequence' is valid in EIR but not implemented"}},
    {0, 0, "output_info:\n  output_source: @DIR@/labels.csv\n  output_name: o\n  output_type: sequence\n", 0, 0, 0, 0,
     {"output.yaml:4:16: ", "output_info.output_type", "'sequence' is valid in EIR but not implemented"}},
    {0, I_BASE "model_config:\n  model_type: bert-base-uncased\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:15: ", "model_config.model_type", "HuggingFace"}},
    {0, I_BASE "model_config:\n  pretrained_model: true\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:21: ", "model_config.pretrained_model", "true is not supported by eir-dist"}},
    {0, I_BASE "pretrained_config:\n  model_path: a.pt\n  load_module_name: x\n", 0, 0, 0, 0, 0,
     {"input.yaml:6:3: ", "pretrained_config", "found a mapping, but eir-dist supports only null here"}},
    {0, I_BASE "input_type_info:\n  mixing_subtype: cutmix\n", 0, 0, 0, 0, 0,
     {"input_type_info.mixing_subtype", "'cutmix' is valid in EIR but not implemented"}},
    {0, I_BASE "tensor_broker_config:\n  message_configs: []\n", 0, 0, 0, 0, 0, {"tensor_broker_config", "tensor broker"}},
    {G_BASE "attribution_analysis:\n  compute_attributions: true\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:25: ", "attribution_analysis.compute_attributions", "true is not supported"}},
    {G_BASE "training_control:\n  weighted_sampling_columns: [all]\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:30: ", "training_control.weighted_sampling_columns", "weighted sampling"}},
    {G_BASE "latent_sampling:\n  layers_to_sample: [x]\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:4:3: ", "latent_sampling", "latent sampling is not implemented"}},
    {G_BASE "model:\n  compile_model: true\n", 0, 0, 0, 0, 0, 0, {"global.yaml:4:18: ", "model.compile_model", "true is not supported"}},
    {G_BASE "model:\n  n_iter_before_swa: 100\n", 0, 0, 0, 0, 0, 0, {"global.yaml:4:22: ", "model.n_iter_before_swa: found 100", "stochastic weight averaging"}},
    {G_BASE "model:\n  pretrained_checkpoint: x.pt\n", 0, 0, 0, 0, 0, 0, {"model.pretrained_checkpoint", "--resume"}},
    {G_BASE "visualization_logging:\n  save_model_diagram: true\n", 0, 0, 0, 0, 0, 0,
     {"visualization_logging.save_model_diagram", "true is not supported"}},
    {G_BASE "metrics:\n  cat_metrics: [f1-macro]\n", 0, 0, 0, 0, 0, 0,
     {"metrics.cat_metrics", "metric 'f1-macro' is valid in EIR but not implemented"}},
    {G_BASE "accelerator:\n  hardware: tpu\n", 0, 0, 0, 0, 0, 0, {"accelerator.hardware", "'tpu' is valid in EIR but not implemented"}},
    {G_BASE "accelerator:\n  precision: 16-mixed\n", 0, 0, 0, 0, 0, 0, {"accelerator.precision", "'16-mixed'", "bf16 with fp32 master"}},
    {G_BASE "accelerator:\n  strategy: fsdp\n", 0, 0, 0, 0, 0, 0, {"accelerator.strategy", "'fsdp'", "MPI"}},
    {G_BASE "accelerator:\n  devices: 2\n", 0, 0, 0, 0, 0, 0, {"global.yaml:4:12: ", "accelerator.devices", "mpirun -np N"}},
    {G_BASE "accelerator:\n  num_nodes: 2\n", 0, 0, 0, 0, 0, 0, {"accelerator.num_nodes", "only 1 is supported"}},
    {G_BASE "  device: mps\n", 0, 0, 0, 0, 0, 0, {"basic_experiment.device", "'mps' is valid in EIR but not implemented"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: [label]\n  uncertainty_weighted_mt_loss: true\n", 0, 0, 0, 0,
     {"output.yaml:7:33: ", "output_type_info.uncertainty_weighted_mt_loss", "not supported"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: [label]\n  cat_loss_name: BCEWithLogitsLoss\n", 0, 0, 0, 0,
     {"output_type_info.cat_loss_name", "'BCEWithLogitsLoss' is valid in EIR but not implemented"}},
    {0, 0, O_INFO "output_type_info:\n  target_con_columns: [label]\n  con_loss_name: L1Loss\n", 0, 0, 0, 0,
     {"output_type_info.con_loss_name", "'L1Loss' is valid in EIR"}},
    {0, 0, O_BASE "model_config:\n  model_type: linear\n", 0, 0, 0, 0, {"output.yaml:8:15: ", "model_config.model_type", "'linear' is valid in EIR"}},
    {0, 0, O_BASE "model_config:\n  model_init_config:\n    final_layer_type: mlp_residual\n", 0, 0, 0, 0,
     {"model_config.model_init_config.final_layer_type", "'mlp_residual' is valid in EIR"}},
    {0, 0, O_BASE "sampling_config:\n  n_eval_inputs: 3\n", 0, 0, 0, 0, {"sampling_config", "tabular outputs"}},
    {0, 0, 0, "model_type: identity\n", 0, 0, 0, {"fusion.yaml:1:13: ", "model_type", "'identity' is valid in EIR but not implemented"}},

    // ---- EIR's own cross-checks
    {G_BASE "evaluation_checkpoint:\n  sample_interval: 100\n  checkpoint_interval: 150\n", 0, 0, 0, 0, 0, 0,
     {"global.yaml:5:24: ", "evaluation_checkpoint.checkpoint_interval", "150 is not a multiple of sample_interval 100"}},
    {G_BASE "evaluation_checkpoint:\n  checkpoint_interval: 100\n", 0, 0, 0, 0, 0, 0, {"100 is not a multiple of sample_interval 200"}},
    {0, 0, 0, 0, I_BASE, 0, 0, {"input2.yaml:3:15: ", "input_info.input_name", "'bytes_in' is already the name of the input from", "input.yaml"}},
    {0, 0, 0, 0, 0, O_BASE, 0, {"output2.yaml:3:16: ", "output_info.output_name", "'out' is already the name of the output from"}},
    {0, 0, "output_info:\n  output_source: @DIR@/labels.csv\n  output_name: bytes_in\n  output_type: tabular\n" O_TARGETS, 0, 0, 0, 0,
     {"output.yaml:3:16: ", "'bytes_in' is also the input_name"}},
    {0, 0, O_INFO, 0, 0, 0, 0, {"output.yaml:1:1: ", "output_type_info", "no target columns"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: []\n", 0, 0, 0, 0, {"output.yaml:6:3: ", "no target columns"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: [label, label]\n", 0, 0, 0, 0,
     {"output.yaml:6:31: ", "output_type_info.target_cat_columns", "'label' is listed twice"}},
    {0, 0, O_INFO "output_type_info:\n  target_cat_columns: [label]\n  target_con_columns: [label]\n", 0, 0, 0, 0,
     {"output.yaml:7:24: ", "output_type_info.target_con_columns", "'label' is also listed in target_cat_columns"}},

    // ---- command-line overrides
    {0, 0, 0, 0, 0, 0, "globalz.basic_experiment.n_epochs=3",
     {"command line '--globalz.basic_experiment.n_epochs=3'", "'globalz' is not the stem", "known stems: 'global', 'input', 'output'"}},
    {0, 0, 0, 0, 0, 0, "input.input_type_info.max_length='long'",
     {"command line '--input.input_type_info.max_length='long''", "input_type_info.max_length", "expected an integer >= 1, found 'long'"}},
    {0, 0, 0, 0, 0, 0, "global.basic_experiment.memory_dataset=true", {"found 'true'", "write True or False"}},
    {0, 0, 0, 0, 0, 0, "global.basic_experiment.batchsize=3", {"basic_experiment.batchsize", "did you mean 'batch_size'?"}},
    {0, 0, 0, 0, 0, 0, "input.input_type_info.max_length", {"--input.input_type_info.max_length", "needs the form"}},
    {0, 0, 0, 0, 0, 0, "input..max_length=3", {"empty key"}},
    {0, 0, 0, 0, 0, 0, "output.output_info.output_source=None", {"output_info.output_source", "expected a string, found null"}},
};

static void write_or_skip(const char *dir, const char *name, const char *text, const char *base, StrList *list) {
    if (!text && !base) return;
    const char *t = text ? text : base;
    if (strcmp(t, NOFILE) == 0) {
        char *p = path_join(dir, name);
        strlist_push(list, p);
        free(p);
        return;
    }
    char *p = tmp_write(dir, name, t);
    strlist_push(list, p);
    free(p);
}

static void run_case(const char *root, int idx, const BadCase *c) {
    char sub[64];
    snprintf(sub, sizeof sub, "case%03d", idx);
    char *dir = path_join(root, sub);
    mkdir_p(dir);
    tmp_make_data(dir);  // @DIR@/data and @DIR@/labels.csv
    ConfigSources src = {0};
    write_or_skip(dir, "global.yaml", c->global, G_BASE, &src.global_files);
    write_or_skip(dir, "input.yaml", c->input, I_BASE, &src.input_files);
    write_or_skip(dir, "input2.yaml", c->input2, NULL, &src.input_files);
    write_or_skip(dir, "output.yaml", c->output, O_BASE, &src.output_files);
    write_or_skip(dir, "output2.yaml", c->output2, NULL, &src.output_files);
    write_or_skip(dir, "fusion.yaml", c->fusion, NULL, &src.fusion_files);
    if (c->override) strlist_push(&src.overrides, c->override);

    ExperimentConfig cfg;
    char err[4096];
    int rc = config_try_load(&cfg, &src, err, sizeof err);
    CHECK_MSG(rc == -1, "case %d (%s): loaded although it should fail", idx, c->expect[0]);
    if (rc == 0) config_free(&cfg);
    else {
        for (int i = 0; i < 4 && c->expect[i]; i++)
            CHECK_MSG(strstr(err, c->expect[i]) != NULL, "case %d: message lacks \"%s\":\n  %s", idx, c->expect[i], err);
        // a failed load leaves nothing behind
        CHECK(cfg.inputs == NULL && cfg.outputs == NULL && cfg.global_tree == NULL && cfg.input_trees == NULL);
        CHECK(cfg.global.basic_experiment.output_folder == NULL);
        CHECK(strchr(err, '\n') == NULL);  // one line
    }
    if (getenv("EIR_TEST_VERBOSE")) printf("case %3d: %s\n", idx, err);
    config_sources_free(&src);
    free(dir);
}

// The base files (and each case's valid parts) load: a row fails for its own reason only.
static void test_base_is_valid(const char *root) {
    char *dir = path_join(root, "base");
    mkdir_p(dir);
    tmp_make_data(dir);
    ConfigSources src = {0};
    write_or_skip(dir, "global.yaml", NULL, G_BASE, &src.global_files);
    write_or_skip(dir, "input.yaml", NULL, I_BASE, &src.input_files);
    write_or_skip(dir, "output.yaml", NULL, O_BASE, &src.output_files);
    ExperimentConfig cfg;
    char err[4096];
    int rc = config_try_load(&cfg, &src, err, sizeof err);
    CHECK_MSG(rc == 0, "the base config does not load: %s", err);
    if (rc == 0) config_free(&cfg);
    config_sources_free(&src);
    free(dir);
}

int main(void) {
    char *root = tmp_make_dir();
    test_base_is_valid(root);
    int n = (int)(sizeof k_cases / sizeof k_cases[0]);
    for (int i = 0; i < n; i++) run_case(root, i, &k_cases[i]);
    printf("%d bad configs checked\n", n);
    rm_rf(root);
    free(root);
    TEST_MAIN_END();
}
