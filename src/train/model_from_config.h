// model_from_config.h: ModelConfig (model.h) from the experiment config (config.h).
#pragma once
#include "config/config.h"
#include "model/model.h"

// Targets, in order: for each output, its categorical columns (class counts taken from n_classes
// in that order) then its continuous columns. Dies (usage error) on settings this model does not
// implement.
void model_config_from_experiment(ModelConfig *mc, const InputConfig *inputs, int n_inputs, const FusionConfig *fusion,
                                  const OutputConfig *outputs, int n_outputs, const int *n_classes);
