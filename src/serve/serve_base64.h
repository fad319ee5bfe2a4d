// serve_base64.h: base64 decoding exactly as EIR's server does it (spec §6): Python's
// base64.b64decode(str) without validate=True, i.e. binascii.a2b_base64 in non-strict mode.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Decodes the n characters at s. The first out_cap decoded bytes go to out (the rest are counted,
// not stored: the model reads only max_length bytes); *decoded_len gets the full decoded length.
// Returns 0, or -1 with Python's message in err ("Incorrect padding", ...).
int b64_decode_python(const char *s, size_t n, uint8_t *out, size_t out_cap, size_t *decoded_len, char *err,
                      size_t errlen);
