// model_cuda_internal.h: what model_cuda.c and model_cuda_passes.c share.
#pragma once
#include "model/model_cuda.h"

// model_cuda_passes.c
void model_cuda_input_forward(ModelCuda *g, int i, int B);
void model_cuda_input_backward(ModelCuda *g, int i, int B);
void model_cuda_fusion_heads_forward(ModelCuda *g, int B);
void model_cuda_heads_fusion_backward(ModelCuda *g, int B);
void model_cuda_report_range(ModelCuda *g, int unit);
