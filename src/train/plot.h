/*
 * plot.h - a small SVG line-plot writer (used for RUN_DIR/loss.svg): axes
 * with "nice" ticks (1, 2, 5 x 10^k), grid lines, axis labels, a title, a
 * legend, and series drawn as lines and/or point markers. Non-finite values
 * are left out. Long series are reduced to at most TP_MAX_POINTS points by
 * averaging buckets of consecutive points.
 */
#ifndef TRIT_TRAIN_PLOT_H
#define TRIT_TRAIN_PLOT_H

#include <stddef.h>
#include "trit.h"

#define TP_MAX_POINTS 1500

typedef struct {
    const double *x, *y;
    size_t n;
    const char *label;     /* legend text                                  */
    const char *color;     /* SVG color, e.g. "#1f77b4"                    */
    double width;          /* line width in pixels; 0: no line             */
    int markers;           /* 1: a circle at every point                   */
    double opacity;        /* 0..1                                         */
} tp_series;

/* Renders the plot as SVG text: malloc'ed, NUL-terminated; NULL when out
 * of memory. */
char *tp_svg(const char *title, const char *xlabel, const char *ylabel, const tp_series *s, size_t ns);

/* Renders and writes the plot to path atomically (temp + fsync + rename). */
trit_status tp_write_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                         const tp_series *s, size_t ns, trit_error *err);

#endif /* TRIT_TRAIN_PLOT_H */
