// fmt.c: Python-compatible shortest float formatting.
#include "common/fmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *fmt_double_repr(char *buf, size_t cap, double x) {
    if (isnan(x)) { snprintf(buf, cap, "nan"); return buf; }
    if (isinf(x)) { snprintf(buf, cap, x > 0 ? "inf" : "-inf"); return buf; }
    if (x == 0) { snprintf(buf, cap, signbit(x) ? "-0.0" : "0.0"); return buf; }
    // shortest precision that round-trips, in scientific form: d.ddde[+-]XX
    char sci[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, x);
        if (strtod(sci, NULL) == x) break;
    }
    char *e = strchr(sci, 'e');
    int exp10 = atoi(e + 1);
    *e = 0;
    char digits[24];
    int nd = 0;
    bool neg = sci[0] == '-';
    for (const char *s = sci + neg; *s; s++)
        if (*s >= '0' && *s <= '9') digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0') nd--;  // trailing zeros never needed
    digits[nd] = 0;
    char out[64];
    int o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) {  // Python's repr: fixed for 1e-4 <= |x| < 1e16
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    snprintf(buf, cap, "%s", out);
    return buf;
}
