// op_profile.c: names of the profiled op kinds (op_profile.h), as eir-bench-train --profile prints them.
#include "model/op_profile.h"

const char *op_kind_name(OpKind k) {
    static const char *names[OP_KINDS] = {
        [OP_EMBED] = "embedding (lookup, mixup, position, pad)",
        [OP_DROPOUT] = "dropout (input layers)",
        [OP_NORM] = "RMSNorm (input layers)",
        [OP_QKV] = "QKV projection",
        [OP_ROPE] = "RoPE",
        [OP_ATTENTION] = "attention (scores, softmax, AV)",
        [OP_PROJ] = "attention out projection",
        [OP_RESIDUAL] = "LayerScale + residual",
        [OP_MLP_W12] = "MLP w1,w2 (forward: with the SwiGLU gate)",
        [OP_SWIGLU] = "SwiGLU gate",
        [OP_MLP_W3] = "MLP w3",
        [OP_POOL] = "pooling",
        [OP_FUSION] = "fusion MLP blocks",
        [OP_HEAD] = "output head",
        [OP_LOSS] = "loss",
        [OP_ZERO_GRAD] = "zero gradients",
        [OP_GRAD_CLIP] = "gradient clipping",
        [OP_ADAMW] = "AdamW",
    };
    return k >= 0 && k < OP_KINDS && names[k] ? names[k] : "?";
}
