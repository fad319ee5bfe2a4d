// fmt.h: number formatting shared by every output a person or a program compares: Python's
// repr() of a float (shortest digits that round-trip), as EIR prints probabilities (spec §6).
#pragma once
#include <stddef.h>

// Writes repr(float(x)) as Python prints it: "0.6910417675971985", "1.0", "1e-05", "nan", "inf".
// buf needs 32 bytes. Returns buf.
char *fmt_double_repr(char *buf, size_t cap, double x);
