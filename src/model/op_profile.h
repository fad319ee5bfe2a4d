// op_profile.h: optional wall-clock time and FLOPs per kind of op of the CPU model's passes, so
// eir-bench-train --profile can show where a step's time goes (docs/performance.md).
//
// A Model whose prof pointer is NULL (always, outside the benchmark) pays one branch per op.
// Each timed op is a whole layer call on the calling thread: the layers' OpenMP regions join
// before they return, so the wall time between two calls is that op's time on all threads.
#pragma once
#include <stddef.h>

#include "common/util.h"

typedef enum {
    OP_EMBED,      // lookup, mixup, sqrt(d) scale + position, front padding into windows
    OP_DROPOUT,    // position, attention-output and residual-branch dropout of the input layers
    OP_NORM,       // the transformer layers' RMSNorms
    OP_QKV,        // q, k, v projection (one GEMM)
    OP_ROPE,       // rotary embedding of q and k
    OP_ATTENTION,  // window attention: scores, softmax, product with V (one fused kernel)
    OP_PROJ,       // attention output projection
    OP_RESIDUAL,   // LayerScale * branch + residual
    OP_MLP_W12,    // SwiGLU's w1 and w2 (one GEMM; in the forward the gate is fused into it)
    OP_SWIGLU,     // SiLU(a) * b
    OP_MLP_W3,     // SwiGLU's w3
    OP_POOL,       // average / max pooling into the fusion input
    OP_FUSION,     // the fusion MLP blocks (all their ops)
    OP_HEAD,       // the output heads (blocks, final norm, GELU, dropout, linear)
    OP_LOSS,       // loss and d(loss)/d(logits)
    OP_ZERO_GRAD,
    OP_GRAD_CLIP,  // global gradient norm and scaling
    OP_ADAMW,
    OP_KINDS
} OpKind;

enum { OP_FWD = 0, OP_BWD = 1, OP_PASSES = 2 };

typedef struct {
    double seconds[OP_PASSES][OP_KINDS];
    double flops[OP_PASSES][OP_KINDS];  // multiply-add = 2
    long calls[OP_PASSES][OP_KINDS];
} OpProfile;

const char *op_kind_name(OpKind k);

static inline double op_begin(const OpProfile *p) { return p ? now_seconds() : 0.0; }
static inline void op_end(OpProfile *p, OpKind k, int pass, double t0, double flops) {
    if (!p) return;
    p->seconds[pass][k] += now_seconds() - t0;
    p->flops[pass][k] += flops;
    p->calls[pass][k]++;
}

// Times one statement (a layer call) as op kind K of pass PASS with FLOPS floating-point ops.
#define OP_TIMED(prof, kind, pass, flops, stmt)            \
    do {                                                   \
        double op_t0_ = op_begin(prof);                    \
        stmt;                                              \
        op_end((prof), (kind), (pass), op_t0_, (flops));   \
    } while (0)
