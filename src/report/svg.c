/* svg.c - chart pieces of the report (see svg.h). */
#include "svg.h"

#include <math.h>

double svg_nice_step(double range, int ticks) {
    if (!(range > 0)) return 1;
    const double raw = range / ticks, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

double svg_x(const svg_chart *c, double x) {
    return c->left + (x - c->x0) / (c->x1 - c->x0) * (c->w - c->left - c->right);
}

double svg_y(const svg_chart *c, double y) {
    return c->h - c->bottom - (y - c->y0) / (c->y1 - c->y0) * (c->h - c->top - c->bottom);
}

/* 60000 -> "60k", 0.25 -> "0.25" */
static void tick_label(double v, char *buf, size_t cap) {
    if (fabs(v) >= 1e6) snprintf(buf, cap, "%gM", v / 1e6);
    else if (fabs(v) >= 1e3) snprintf(buf, cap, "%gk", v / 1e3);
    else snprintf(buf, cap, "%g", fabs(v) < 1e-12 ? 0.0 : v);
}

void svg_chart_begin(svg_chart *c, FILE *out, int w, int h, double x0, double x1, double y0,
                     double y1, const char *xlabel, const char *ylabel) {
    *c = (svg_chart){out, x0, x1, y0, y1, w, h, 52, 12, 12, 40, 0};
    if (!(c->x1 > c->x0)) c->x1 = c->x0 + 1;
    if (!(c->y1 > c->y0)) c->y1 = c->y0 + 1;
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n", w, h, w, h);
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" "
                 "stroke=\"#999\"/>\n", c->left, c->top, w - c->left - c->right,
            h - c->top - c->bottom);
    char label[32];
    const double sx = svg_nice_step(c->x1 - c->x0, 6), sy = svg_nice_step(c->y1 - c->y0, 5);
    for (double v = ceil(c->x0 / sx) * sx; v <= c->x1 + sx * 1e-9; v += sx) {
        const double x = svg_x(c, v);
        tick_label(v, label, sizeof label);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                x, c->top, x, h - c->bottom, x, h - c->bottom + 14, label);
    }
    for (double v = ceil(c->y0 / sy) * sy; v <= c->y1 + sy * 1e-9; v += sy) {
        const double y = svg_y(c, v);
        tick_label(v, label, sizeof label);
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                c->left, y, w - c->right, y, c->left - 4, y + 4, label);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
                 "<text transform=\"translate(12 %d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
            (c->left + w - c->right) / 2, h - 6, xlabel, (c->top + h - c->bottom) / 2, ylabel);
}

void svg_polyline(svg_chart *c, const double *x, const double *y, size_t n, const char *color) {
    if (n == 0) return;
    fprintf(c->out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (size_t i = 0; i < n; i++)
        fprintf(c->out, "%s%.1f,%.1f", i ? " " : "", svg_x(c, x[i]), svg_y(c, y[i]));
    fprintf(c->out, "\"/>\n");
}

void svg_points(svg_chart *c, const double *x, const double *y, size_t n, const char *color,
                double r, const char *const *title) {
    for (size_t i = 0; i < n; i++) {
        fprintf(c->out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\">",
                svg_x(c, x[i]), svg_y(c, y[i]), r, color);
        if (title && title[i]) fprintf(c->out, "<title>%s</title>", title[i]);
        fprintf(c->out, "</circle>\n");
    }
}

void svg_legend(svg_chart *c, const char *color, int dot, const char *label) {
    const int x = c->w - c->right - 150, y = c->top + 14 + 16 * c->legend++;
    if (dot) fprintf(c->out, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>", x + 8, y - 4, color);
    else fprintf(c->out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                         "stroke-width=\"2\"/>", x, y - 4, x + 16, y - 4, color);
    fprintf(c->out, "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 22, y, label);
}

void svg_chart_end(svg_chart *c) { fprintf(c->out, "</svg>\n"); }
