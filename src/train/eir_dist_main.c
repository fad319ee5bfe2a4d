// eir_dist_main.c: the eir-dist program (placeholder until the CLI lands).
#include <stdio.h>
#include "common/util.h"
int main(int argc, char **argv) {
    (void)argc; (void)argv;
    printf("eir-dist %s\n", EIR_VERSION);
    return 0;
}
