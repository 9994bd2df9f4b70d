/* digit.h - a picture of a handwritten digit made into an MNIST image, the
 * way the MNIST set was made: the ink (the darker side is the paper: an
 * image whose border is mostly light is inverted) cropped to its bounding
 * box, scaled with area averaging so that its longer side is 20 pixels
 * (aspect ratio kept), and placed in a 28x28 field so that its centre of
 * mass lies at the field's centre. Pure code: no I/O, no threads. */
#ifndef CASSNN_SERVE_DIGIT_H
#define CASSNN_SERVE_DIGIT_H

#include <stddef.h>
#include <stdint.h>

#define DIGIT_SIDE 28
#define DIGIT_BOX 20
/* Largest PNG accepted, in pixels (width x height). */
#define DIGIT_MAX_PIXELS (4096L * 4096L)

/* gray: w x h 8-bit pixels, row by row. A picture without ink gives an
 * all-zero digit. */
void digit_from_gray(const uint8_t *gray, int w, int h, uint8_t out[DIGIT_SIDE * DIGIT_SIDE]);

/* Decodes a PNG (any colour type and bit depth; transparency is composited
 * onto white) and makes it a digit. 0, or -1 with msg set (what libpng
 * said, or the size limit). */
int digit_from_png(const uint8_t *png, size_t len, uint8_t out[DIGIT_SIDE * DIGIT_SIDE],
                   char *msg, size_t cap);

/* 1 when buf starts with the PNG signature. */
int digit_is_png(const uint8_t *buf, size_t len);

#endif
