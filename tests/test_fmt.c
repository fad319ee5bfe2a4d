// test_fmt.c: fmt_double_repr against what Python's repr() prints for the same doubles.
#include "common/fmt.h"
#include "test_util.h"

int main(void) {
    char b[64];
    struct { double x; const char *want; } cases[] = {
        {0.6910417675971985, "0.6910417675971985"}, {(double)0.30895823f, "0.3089582324028015"},
        {1.0, "1.0"}, {0.0, "0.0"}, {100.0, "100.0"}, {0.1, "0.1"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
        {1e16, "1e+16"}, {1234567890123456.0, "1234567890123456.0"}, {-2.5, "-2.5"}, {1.5e-10, "1.5e-10"},
        {123.456, "123.456"}, {(double)0.1f, "0.10000000149011612"}, {1e22, "1e+22"}, {5e-324, "5e-324"},
        {0.00012345, "0.00012345"}, {12345678.9, "12345678.9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) CHECK_STR(fmt_double_repr(b, sizeof b, cases[i].x), cases[i].want);
    TEST_MAIN_END();
}
