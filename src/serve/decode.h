/* decode.h - what a POST /predict body asks for, as images. Pure code (no
 * I/O, no threads), fuzzed by tests/fuzz/fuzz_serve_decode.c.
 *
 *   {"pixels": [v0, v1, ...]}          one image of exactly c*h*w values
 *   {"batch": [[...], [...], ...]}     1..max_images images
 *   a PNG of any size                  one 1x28x28 image made the MNIST way
 *                                      (digit.h); only for 1x28x28 models
 * Values are numbers in 0..255 (reals are rounded). The body is taken as a
 * PNG when it starts with the PNG signature, as JSON when its first
 * non-blank byte is '{' or '[', else by its Content-Type. */
#ifndef CASSNN_SERVE_DECODE_H
#define CASSNN_SERVE_DECODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct serve_input {
    int n;              /* images */
    int batch;          /* 1 when the body was {"batch": ...}: the answer is a list */
    uint8_t *pixels;    /* n * c*h*w values (malloc'ed; serve_input_free) */
} serve_input;

/* The shape a model takes. */
typedef struct serve_shape {
    int c, h, w;
} serve_shape;

/* 0 with *out filled, or the HTTP status of the error (400 malformed JSON
 * or PNG, 415 neither JSON nor PNG, 422 JSON of the wrong shape, count or
 * range) with msg saying what and where ("pixels[17]: 300 is outside 0..255"). */
int serve_decode(const uint8_t *body, size_t len, const char *content_type, serve_shape shape,
                 int max_images, serve_input *out, char *msg, size_t cap);

void serve_input_free(serve_input *in);

#endif
