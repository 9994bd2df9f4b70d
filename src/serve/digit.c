/* digit.c - pictures of digits made into MNIST images (see digit.h). */
#include "digit.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int digit_is_png(const uint8_t *buf, size_t len) {
    return len >= 8 && png_sig_cmp(buf, 0, 8) == 0;
}

/* Ink is light on dark after this: the border's mean says which side the
 * paper is. */
static int border_is_light(const uint8_t *g, int w, int h) {
    double sum = 0;
    long n = 0;
    for (int x = 0; x < w; x++) {
        sum += g[x] + g[(long)(h - 1) * w + x];
        n += 2;
    }
    for (int y = 0; y < h; y++) {
        sum += g[(long)y * w] + g[(long)y * w + w - 1];
        n += 2;
    }
    return sum / (double)n > 127.5;
}

/* Overlap of [a0, a1) and [b0, b1). */
static double overlap(double a0, double a1, double b0, double b1) {
    const double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0.0;
}

void digit_from_gray(const uint8_t *gray, int w, int h, uint8_t out[DIGIT_SIDE * DIGIT_SIDE]) {
    memset(out, 0, DIGIT_SIDE * DIGIT_SIDE);
    const int invert = border_is_light(gray, w, h);
#define INK(x, y) (invert ? 255 - gray[(long)(y) * w + (x)] : gray[(long)(y) * w + (x)])
    /* bounding box of the ink: pixels above a tenth of the strongest one,
     * so that faint noise of a scanned page does not widen it */
    int max = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (INK(x, y) > max) max = INK(x, y);
    if (max < 16) return; /* nothing drawn */
    const int cut = max / 10;
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (INK(x, y) > cut) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    const int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    const double scale = (double)DIGIT_BOX / (double)(bw > bh ? bw : bh);
    int sw = (int)lround(bw * scale), sh = (int)lround(bh * scale);
    if (sw < 1) sw = 1;
    if (sh < 1) sh = 1;
    /* area averaging: each box pixel is the mean of the source area it
     * covers (fractional pixels weighted by their overlap) */
    float box[DIGIT_BOX * DIGIT_BOX];
    double mass = 0, mx = 0, my = 0;
    for (int oy = 0; oy < sh; oy++) {
        const double sy0 = oy / scale, sy1 = (oy + 1) / scale;
        for (int ox = 0; ox < sw; ox++) {
            const double sx0 = ox / scale, sx1 = (ox + 1) / scale;
            double sum = 0, area = 0;
            for (int y = (int)sy0; y < bh && y < sy1; y++) {
                const double wy = overlap(sy0, sy1, y, y + 1);
                for (int x = (int)sx0; x < bw && x < sx1; x++) {
                    const double a = wy * overlap(sx0, sx1, x, x + 1);
                    sum += a * INK(x0 + x, y0 + y);
                    area += a;
                }
            }
            const float v = area > 0 ? (float)(sum / area) : 0.0f;
            box[oy * DIGIT_BOX + ox] = v;
            mass += v;
            mx += v * (ox + 0.5);
            my += v * (oy + 0.5);
        }
    }
#undef INK
    /* the centre of mass goes to the field's centre (14, 14) */
    int px = (int)lround(DIGIT_SIDE / 2.0 - mx / mass), py = (int)lround(DIGIT_SIDE / 2.0 - my / mass);
    if (px < 0) px = 0;
    if (py < 0) py = 0;
    if (px > DIGIT_SIDE - sw) px = DIGIT_SIDE - sw;
    if (py > DIGIT_SIDE - sh) py = DIGIT_SIDE - sh;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            const float v = box[y * DIGIT_BOX + x];
            out[(py + y) * DIGIT_SIDE + px + x] = (uint8_t)(v > 255.0f ? 255 : lroundf(v));
        }
}

int digit_from_png(const uint8_t *png, size_t len, uint8_t out[DIGIT_SIDE * DIGIT_SIDE],
                   char *msg, size_t cap) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!digit_is_png(png, len)) {
        snprintf(msg, cap, "body is not a PNG (no PNG signature)");
        return -1;
    }
    if (!png_image_begin_read_from_memory(&img, png, len)) {
        snprintf(msg, cap, "body is not a valid PNG: %s", img.message);
        png_image_free(&img);
        return -1;
    }
    if (img.width == 0 || img.height == 0 ||
        (long)img.width * (long)img.height > DIGIT_MAX_PIXELS) {
        snprintf(msg, cap, "PNG of %ux%u pixels: at most %ld pixels", img.width, img.height,
                 DIGIT_MAX_PIXELS);
        png_image_free(&img);
        return -1;
    }
    img.format = PNG_FORMAT_GRAY; /* alpha composited onto the background below */
    const size_t size = PNG_IMAGE_SIZE(img);
    uint8_t *gray = malloc(size);
    png_color white = {255, 255, 255};
    if (!gray) {
        snprintf(msg, cap, "out of memory for a %ux%u PNG", img.width, img.height);
        png_image_free(&img);
        return -1;
    }
    if (!png_image_finish_read(&img, &white, gray, 0, NULL)) {
        snprintf(msg, cap, "body is not a valid PNG: %s", img.message);
        png_image_free(&img);
        free(gray);
        return -1;
    }
    digit_from_gray(gray, (int)img.width, (int)img.height, out);
    free(gray);
    return 0;
}
