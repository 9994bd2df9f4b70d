/* svg.h - the few chart pieces the report draws, as SVG text: a plot area
 * with axes, "nice" ticks and labels, lines, points and a legend. */
#ifndef CASSNN_REPORT_SVG_H
#define CASSNN_REPORT_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef struct svg_chart {
    FILE *out;
    double x0, x1, y0, y1;      /* data range shown */
    int w, h;                   /* whole picture, pixels */
    int left, right, top, bottom; /* plot area, pixels */
    int legend;                 /* legend entries so far */
} svg_chart;

/* Opens <svg>, draws the axes with ticks and the labels. */
void svg_chart_begin(svg_chart *c, FILE *out, int w, int h, double x0, double x1, double y0,
                     double y1, const char *xlabel, const char *ylabel);
double svg_x(const svg_chart *c, double x);
double svg_y(const svg_chart *c, double y);
void svg_polyline(svg_chart *c, const double *x, const double *y, size_t n, const char *color);
/* Circles of radius r; title[i] (may be NULL) becomes each point's tooltip. */
void svg_points(svg_chart *c, const double *x, const double *y, size_t n, const char *color,
                double r, const char *const *title);
void svg_legend(svg_chart *c, const char *color, int dot, const char *label);
void svg_chart_end(svg_chart *c);

/* A tick step of 1, 2 or 5 x 10^k giving about `ticks` ticks over range. */
double svg_nice_step(double range, int ticks);

#endif
