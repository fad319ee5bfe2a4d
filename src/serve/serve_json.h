// serve_json.h: the JSON texts eir-serve writes: one predicted sample in EIR's response shape
// (spec §6), {"error": ...} bodies, GET /info, and string escaping.
#pragma once
#include <stddef.h>

#include "common/util.h"
#include "serve/serve.h"
#include "infer/inference.h"

// A JSON string literal (quotes included). Non-ASCII UTF-8 passes through unchanged, as
// FastAPI's json.dumps(ensure_ascii=False) writes it; control characters are escaped.
void json_put_string(StrBuf *sb, const char *s, size_t n);
// Like json_put_string, for text taken from a client: at most max_chars bytes, then "...".
void json_put_string_clipped(StrBuf *sb, const char *s, size_t n, size_t max_chars);
// {"error": "<msg>"} (msg is escaped).
void json_error_body(StrBuf *sb, const char *msg);
// One sample's outputs (outputs[t]: target t's K probabilities or its value, as
// predictor_outputs or the crop mean gives them) as EIR answers it:
// {"<output>": {"<column>": {"<class>": p, ...}, ...}, ...}, probabilities as Python's repr of
// the float32 value (eir-predict prints the same digits); continuous: {"<col>": {"<col>": v}}.
void json_render_outputs(StrBuf *sb, const ModelMeta *meta, const float *const *outputs);
// GET /info: EIR's {"inputs": ..., "outputs": ...} with the inputs' and outputs' description
// filled in, plus the parameter count, the model file and its checksum and the serving limits.
void json_render_info(StrBuf *sb, const ServeModel *m, const ServeOptions *opt, int threads_per_worker);
