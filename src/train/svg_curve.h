// svg_curve.h: training curves as standalone SVG line charts (EIR draws PDFs; spec §10).
#pragma once

typedef struct {
    const char *name;   // legend label
    const char *color;  // CSS colour
    const double *x, *y;
    int n;
} CurveSeries;

// Writes an SVG chart (axes with nice ticks, grid, legend, title) atomically to path.
// NaN points are skipped. Returns 0 or -1 with errno.
int svg_curve_write(const char *path, const char *title, const char *xlabel, const char *ylabel,
                    const CurveSeries *series, int n_series);
