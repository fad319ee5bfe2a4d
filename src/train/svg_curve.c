// svg_curve.c: a small, dependency-free SVG line-chart writer for the run folder's curves.
#include "train/svg_curve.h"

#include <math.h>
#include <string.h>

#include "common/util.h"

enum { W = 720, H = 440, ML = 70, MR = 20, MT = 44, MB = 56 };

// "Nice" tick step for a range: 1, 2 or 5 times a power of ten, about `target` ticks.
static double nice_step(double range, int target) {
    if (!(range > 0)) return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    return nice * mag;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0)) snprintf(buf, n, "%.2g", v);
    else if (step >= 1) snprintf(buf, n, "%.0f", v);
    else {
        int digits = (int)ceil(-log10(step));
        snprintf(buf, n, "%.*f", digits, v);
    }
}

static void xml_escape(StrBuf *sb, const char *s) {
    for (; *s; s++) {
        if (*s == '<') sb_puts(sb, "&lt;");
        else if (*s == '>') sb_puts(sb, "&gt;");
        else if (*s == '&') sb_puts(sb, "&amp;");
        else sb_append(sb, s, 1);
    }
}

int svg_curve_write(const char *path, const char *title, const char *xlabel, const char *ylabel,
                    const CurveSeries *series, int n_series) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x); x1 = fmax(x1, x);
            y0 = fmin(y0, y); y1 = fmax(y1, y);
        }
    if (!isfinite(x0)) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) { y0 -= 0.5; y1 += 0.5; }
    double xs = nice_step(x1 - x0, 6), ys = nice_step(y1 - y0, 5);
    double ax0 = floor(x0 / xs) * xs, ax1 = ceil(x1 / xs) * xs;
    double ay0 = floor(y0 / ys) * ys, ay1 = ceil(y1 / ys) * ys;
    double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + ((x) - ax0) / (ax1 - ax0) * pw)
#define PY(y) (MT + ph - ((y) - ay0) / (ay1 - ay0) * ph)

    StrBuf sb = {0};
    sb_printf(&sb, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
    sb_puts(&sb, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"");
    sb_printf(&sb, "%d\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">", W / 2);
    xml_escape(&sb, title);
    sb_puts(&sb, "</text>\n");
    char buf[64];
    for (double v = ax0; v <= ax1 + xs * 1e-9; v += xs) {
        double px = PX(v);
        fmt_tick(buf, sizeof buf, v, xs);
        sb_printf(&sb, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                  px, MT, px, MT + ph, px, MT + ph + 18, buf);
    }
    for (double v = ay0; v <= ay1 + ys * 1e-9; v += ys) {
        double py = PY(v);
        fmt_tick(buf, sizeof buf, v, ys);
        sb_printf(&sb, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                       "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  ML, py, ML + pw, py, ML - 6, py + 4, buf);
    }
    sb_printf(&sb, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n", ML, MT, pw, ph);
    sb_printf(&sb, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 14);
    xml_escape(&sb, xlabel);
    sb_printf(&sb, "</text>\n<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">",
              MT + ph / 2, MT + ph / 2);
    xml_escape(&sb, ylabel);
    sb_puts(&sb, "</text>\n");
    for (int s = 0; s < n_series; s++) {
        const CurveSeries *c = &series[s];
        sb_printf(&sb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", c->color);
        int pts = 0;
        for (int i = 0; i < c->n; i++) {
            if (!isfinite(c->x[i]) || !isfinite(c->y[i])) continue;
            sb_printf(&sb, "%s%.1f,%.1f", pts++ ? " " : "", PX(c->x[i]), PY(c->y[i]));
        }
        sb_puts(&sb, "\"/>\n");
        if (pts <= 30)  // mark sparse series (validation) so single points show
            for (int i = 0; i < c->n; i++)
                if (isfinite(c->x[i]) && isfinite(c->y[i]))
                    sb_printf(&sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", PX(c->x[i]), PY(c->y[i]), c->color);
        double ly = MT + 14 + 16 * s;
        sb_printf(&sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\">", ML + pw - 130, ly, ML + pw - 110, ly, c->color, ML + pw - 104, ly + 4);
        xml_escape(&sb, c->name);
        sb_puts(&sb, "</text>\n");
    }
    sb_puts(&sb, "</svg>\n");
#undef PX
#undef PY
    int rc = write_file_atomic(path, sb.data, sb.len);
    sb_free(&sb);
    return rc;
}
