/* test_idx.h - small learnable IDX files for tests that train without a
 * database or downloaded data: class c (0..9) is a bright 3x3 square at
 * one of ten places of a side x side image (side >= 10), on noise -
 * learnable in a few epochs, but not without training. */
#ifndef CASSNN_TESTS_TEST_IDX_H
#define CASSNN_TESTS_TEST_IDX_H

#include <stdint.h>
#include <stdio.h>

#include "nn/rng.h"

static inline void test_idx_be32(FILE *f, uint32_t v) {
    const uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* Writes DIR/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte with count
 * images drawn from seed; 0, or -1 when a file cannot be written. */
static inline int test_idx_write(const char *dir, const char *prefix, int count, int side,
                                 uint64_t seed) {
    char path[512];
    nn_rng rng;
    nn_rng_seed(&rng, seed, 0);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *images = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *labels = fopen(path, "wb");
    if (!images || !labels || side < 10 || side > 64) {
        if (images) fclose(images);
        if (labels) fclose(labels);
        return -1;
    }
    test_idx_be32(images, 0x803);
    test_idx_be32(images, (uint32_t)count);
    test_idx_be32(images, (uint32_t)side);
    test_idx_be32(images, (uint32_t)side);
    test_idx_be32(labels, 0x801);
    test_idx_be32(labels, (uint32_t)count);
    for (int i = 0; i < count; i++) {
        const uint8_t label = (uint8_t)nn_rng_below(&rng, 10);
        uint8_t px[64 * 64];
        for (int p = 0; p < side * side; p++) px[p] = (uint8_t)nn_rng_below(&rng, 80);
        const int y0 = 1 + (label / 5) * 5, x0 = (label % 5) * 7 / 4;
        for (int y = y0; y < y0 + 3; y++)
            for (int x = x0; x < x0 + 3; x++) px[y * side + x] = 255;
        fwrite(px, 1, (size_t)(side * side), images);
        fwrite(&label, 1, 1, labels);
    }
    fclose(images);
    fclose(labels);
    return 0;
}

#endif
