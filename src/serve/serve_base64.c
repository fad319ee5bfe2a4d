// serve_base64.c: Python's non-validating b64decode (CPython Modules/binascii.c, a2b_base64 with
// strict_mode off), which EIR applies to every request value (spec §6):
//   - a str argument must be ASCII only (b64decode encodes it with the 'ascii' codec first);
//   - characters outside the standard alphabet and '=' are skipped;
//   - '=' counts as padding only after two or more data characters of the current quad; once the
//     quad is complete with padding, decoding stops and the rest of the input is ignored;
//   - a last quad with one data character is an error, with two or three (unpadded) it is
//     "Incorrect padding".
#include "serve/serve_base64.h"

#include <stdio.h>

static signed char b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return (signed char)(c - 'A');
    if (c >= 'a' && c <= 'z') return (signed char)(c - 'a' + 26);
    if (c >= '0' && c <= '9') return (signed char)(c - '0' + 52);
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int b64_decode_python(const char *s, size_t n, uint8_t *out, size_t out_cap, size_t *decoded_len, char *err,
                      size_t errlen) {
    const unsigned char *in = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++)
        if (in[i] >= 0x80) {
            snprintf(err, errlen, "string argument should contain only ASCII characters (non-ASCII byte at offset %zu)", i);
            return -1;
        }
    size_t len = 0;
    int quad_pos = 0, pads = 0;
    unsigned leftchar = 0;
#define EMIT(byte)                                       \
    do {                                                 \
        if (len < out_cap) out[len] = (uint8_t)(byte);   \
        len++;                                           \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (c == '=') {
            if (quad_pos >= 2 && quad_pos + ++pads >= 4) goto done;  // padded quad: stop here
            continue;
        }
        int v = b64_value(c);
        if (v < 0) continue;  // non-alphabet characters are discarded
        pads = 0;
        switch (quad_pos) {
            case 0:
                quad_pos = 1;
                leftchar = (unsigned)v;
                break;
            case 1:
                quad_pos = 2;
                EMIT((leftchar << 2) | ((unsigned)v >> 4));
                leftchar = (unsigned)v & 0x0f;
                break;
            case 2:
                quad_pos = 3;
                EMIT((leftchar << 4) | ((unsigned)v >> 2));
                leftchar = (unsigned)v & 0x03;
                break;
            default:
                quad_pos = 0;
                EMIT((leftchar << 6) | (unsigned)v);
                leftchar = 0;
                break;
        }
    }
#undef EMIT
    if (quad_pos == 1) {
        snprintf(err, errlen,
                 "Invalid base64-encoded string: number of data characters (%zu) cannot be 1 more than a multiple of 4",
                 len / 3 * 4 + 1);
        return -1;
    }
    if (quad_pos != 0) {
        snprintf(err, errlen, "Incorrect padding");
        return -1;
    }
done:
    *decoded_len = len;
    return 0;
}
