// st_compare.c: test helper: compares one F32 tensor of two safetensors files.
//   st_compare A B TENSOR RTOL   exit 0 when ||a - b||_2 <= RTOL * ||a||_2 (prints the figures)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/safetensors.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: st_compare A B TENSOR RTOL\n");
        return 2;
    }
    char err[1024];
    SafeTensors *a = safetensors_open(argv[1], ST_OPEN_DEFAULT, err, sizeof err);
    if (!a) { fprintf(stderr, "%s\n", err); return 2; }
    SafeTensors *b = safetensors_open(argv[2], ST_OPEN_DEFAULT, err, sizeof err);
    if (!b) { fprintf(stderr, "%s\n", err); return 2; }
    const StTensor *x = safetensors_find(a, argv[3]), *y = safetensors_find(b, argv[3]);
    if (!x || !y || x->dtype != ST_F32 || y->dtype != ST_F32 || x->numel != y->numel) {
        fprintf(stderr, "tensor %s missing, not F32 or of different sizes\n", argv[3]);
        return 2;
    }
    const float *p = x->data, *q = y->data;
    double diff2 = 0, norm2 = 0, maxd = 0;
    for (size_t i = 0; i < x->numel; i++) {
        double d = (double)p[i] - q[i];
        diff2 += d * d;
        norm2 += (double)p[i] * p[i];
        maxd = fmax(maxd, fabs(d));
    }
    double rel = sqrt(diff2) / (sqrt(norm2) + 1e-30), rtol = atof(argv[4]);
    printf("%s: relative L2 difference %.3g (max abs %.3g) over %zu values; tolerance %g\n", argv[3], rel, maxd, x->numel, rtol);
    safetensors_close(a);
    safetensors_close(b);
    return rel <= rtol ? 0 : 1;
}
