/*
 * plot.c - SVG line plots (plot.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "io/atomic.h"
#include "io/json.h"
#include "train/plot.h"

/* Canvas and plot area, in pixels. */
#define W 800.0
#define H 480.0
#define ML 72.0  /* left margin: y tick labels and the y label */
#define MR 24.0
#define MT 44.0  /* title */
#define MB 58.0  /* x tick labels and the x label */

/* ======================================================================== */
/* Axes                                                                      */
/* ======================================================================== */

/* A "nice" tick step (1, 2 or 5 x 10^k) giving about `want` intervals over
 * span > 0. */
static double nice_step(double span, int want) {
    double raw = span / want, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

/* Range of the finite values of every series along x (axis 0) or y (1);
 * widened when empty or flat. */
static void data_range(const tp_series *s, size_t ns, int axis, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double v = axis ? s[k].y[i] : s[k].x[i], o = axis ? s[k].x[i] : s[k].y[i];
            if (!isfinite(v) || !isfinite(o)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    if (!(*lo <= *hi)) {
        *lo = 0.0;
        *hi = 1.0;
    }
    if (*hi - *lo < 1e-12 * (fabs(*hi) + 1.0)) {
        *lo -= 0.5;
        *hi += 0.5;
    }
}

/* Appends text with &, <, > escaped. */
static int put_text(json_sb *b, const char *s) {
    int ok = 1;
    for (; ok && *s; s++) {
        if (*s == '&') ok = json_sb_puts(b, "&amp;");
        else if (*s == '<') ok = json_sb_puts(b, "&lt;");
        else if (*s == '>') ok = json_sb_puts(b, "&gt;");
        else ok = json_sb_printf(b, "%c", *s);
    }
    return ok;
}

/* ======================================================================== */
/* Rendering                                                                 */
/* ======================================================================== */

typedef struct {
    double x0, x1, y0, y1; /* data range shown */
} view;

/* Canvas x of data x. */
static double px(const view *v, double x) { return ML + (x - v->x0) / (v->x1 - v->x0) * (W - ML - MR); }

/* Canvas y of data y (the y axis points up). */
static double py(const view *v, double y) { return H - MB - (y - v->y0) / (v->y1 - v->y0) * (H - MT - MB); }

/* Appends series s: a polyline of its finite points (bucket means when
 * longer than TP_MAX_POINTS) and/or markers. */
static int put_series(json_sb *b, const view *v, const tp_series *s) {
    size_t per = s->n > TP_MAX_POINTS ? (s->n + TP_MAX_POINTS - 1) / TP_MAX_POINTS : 1;
    int ok = 1;
    for (int pass = 0; pass < 2 && ok; pass++) {
        if (pass == 0 && s->width <= 0) continue;
        if (pass == 1 && !s->markers) continue;
        if (pass == 0)
            ok = json_sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.2f\" stroke-opacity=\"%.2f\" "
                                "stroke-linejoin=\"round\" points=\"", s->color, s->width, s->opacity);
        for (size_t i = 0; ok && i < s->n; i += per) {
            double sx = 0, sy = 0;
            size_t m = 0;
            for (size_t j = i; j < i + per && j < s->n; j++)
                if (isfinite(s->x[j]) && isfinite(s->y[j])) {
                    sx += s->x[j];
                    sy += s->y[j];
                    m++;
                }
            if (!m) continue;
            double X = px(v, sx / (double)m), Y = py(v, sy / (double)m);
            if (pass == 0) ok = json_sb_printf(b, "%.1f,%.1f ", X, Y);
            else
                ok = json_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" fill-opacity=\"%.2f\"/>\n",
                                    X, Y, s->color, s->opacity);
        }
        if (pass == 0) ok = ok && json_sb_puts(b, "\"/>\n");
    }
    return ok;
}

/* See plot.h. */
char *tp_svg(const char *title, const char *xlabel, const char *ylabel, const tp_series *s, size_t ns) {
    view v;
    data_range(s, ns, 0, &v.x0, &v.x1);
    data_range(s, ns, 1, &v.y0, &v.y1);
    double pad = 0.05 * (v.y1 - v.y0);
    v.y0 -= pad;
    v.y1 += pad;
    double xs = nice_step(v.x1 - v.x0, 8), ys = nice_step(v.y1 - v.y0, 6);
    json_sb b = {0};
    int ok = json_sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                            "viewBox=\"0 0 %.0f %.0f\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
                            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    /* grid and ticks */
    ok = ok && json_sb_puts(&b, "<g stroke=\"#e5e5e5\" stroke-width=\"1\">\n");
    for (double t = ceil(v.x0 / xs) * xs; ok && t <= v.x1 + 1e-9 * xs; t += xs)
        ok = json_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(&v, t), MT, px(&v, t),
                            H - MB);
    for (double t = ceil(v.y0 / ys) * ys; ok && t <= v.y1 + 1e-9 * ys; t += ys)
        ok = json_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ML, py(&v, t), W - MR,
                            py(&v, t));
    ok = ok && json_sb_puts(&b, "</g>\n<g fill=\"#333\">\n");
    for (double t = ceil(v.x0 / xs) * xs; ok && t <= v.x1 + 1e-9 * xs; t += xs)
        ok = json_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(&v, t), H - MB,
                            px(&v, t), H - MB + 5, px(&v, t), H - MB + 19, fabs(t) < 1e-9 * xs ? 0.0 : t);
    for (double t = ceil(v.y0 / ys) * ys; ok && t <= v.y1 + 1e-9 * ys; t += ys)
        ok = json_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 5, py(&v, t), ML,
                            py(&v, t), ML - 8, py(&v, t) + 4, fabs(t) < 1e-9 * ys ? 0.0 : t);
    ok = ok && json_sb_puts(&b, "</g>\n");
    /* axes frame and labels */
    ok = ok && json_sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                              "stroke=\"#333\"/>\n", ML, MT, W - ML - MR, H - MT - MB);
    ok = ok && json_sb_printf(&b, "<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", W / 2) &&
         put_text(&b, title) && json_sb_puts(&b, "</text>\n");
    ok = ok && json_sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", ML + (W - ML - MR) / 2,
                              H - 14) &&
         put_text(&b, xlabel) && json_sb_puts(&b, "</text>\n");
    ok = ok && json_sb_printf(&b, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\">",
                              MT + (H - MT - MB) / 2) &&
         put_text(&b, ylabel) && json_sb_puts(&b, "</text>\n");
    /* series, clipped to the plot area */
    ok = ok && json_sb_printf(&b, "<clipPath id=\"area\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                              "</clipPath>\n<g clip-path=\"url(#area)\">\n", ML, MT, W - ML - MR, H - MT - MB);
    for (size_t k = 0; ok && k < ns; k++) ok = put_series(&b, &v, &s[k]);
    ok = ok && json_sb_puts(&b, "</g>\n");
    /* legend, top right, on a white box */
    double ly = MT + 16;
    ok = ok && json_sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"186\" height=\"%.1f\" fill=\"white\" "
                              "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n", W - MR - 196, MT + 4, 18.0 * (double)ns + 6);
    for (size_t k = 0; ok && k < ns; k++, ly += 18) {
        double lx = W - MR - 190;
        if (s[k].width > 0)
            ok = json_sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                                "stroke-width=\"%.2f\" stroke-opacity=\"%.2f\"/>\n", lx, ly - 4, lx + 22, ly - 4,
                                s[k].color, s[k].width < 1.5 ? 1.5 : s[k].width, s[k].opacity);
        if (ok && s[k].markers)
            ok = json_sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", lx + 11, ly - 4,
                                s[k].color);
        ok = ok && json_sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">", lx + 30, ly) && put_text(&b, s[k].label) &&
             json_sb_puts(&b, "</text>\n");
    }
    ok = ok && json_sb_puts(&b, "</svg>\n");
    if (!ok) {
        json_sb_free(&b);
        return NULL;
    }
    return b.buf;
}

/* See plot.h. */
trit_status tp_write_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                         const tp_series *s, size_t ns, trit_error *err) {
    char *svg = tp_svg(title, xlabel, ylabel, s, ns);
    if (!svg) return trit_fail(err, TRIT_ERR_NOMEM, "%s: out of memory", path);
    const void *parts[1] = {svg};
    size_t lens[1] = {strlen(svg)};
    trit_status st = trit_write_atomic(path, parts, lens, 1, 0, err);
    free(svg);
    return st;
}
