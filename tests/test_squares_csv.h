/* test_squares_csv.h - a small learnable Kaggle-style labelled CSV for tests
 * that run `cassnn ingest` and `train` against a node: n 28x28 images, class
 * c a bright 6x6 square at one of ten places on a dark, varying background
 * (learnable within an epoch or two of a few hundred images). */
#ifndef CASSNN_TESTS_TEST_SQUARES_CSV_H
#define CASSNN_TESTS_TEST_SQUARES_CSV_H

#include <stdio.h>

/* Pixel p (0..783) of image i: class i % 10. */
static inline int test_squares_pixel(int i, int p) {
    const int c = i % 10, y0 = 3 + (c / 5) * 12, x0 = 1 + (c % 5) * 5, y = p / 28, x = p % 28;
    return y >= y0 && y < y0 + 6 && x >= x0 && x < x0 + 6 ? 250 : (i * 7 + p) % 30;
}

/* Writes the CSV at path: 0, or -1 when it cannot be written. */
static inline int test_squares_csv_write(const char *path, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "label");
    for (int p = 0; p < 784; p++) fprintf(f, ",pixel%d", p);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d", i % 10);
        for (int p = 0; p < 784; p++) fprintf(f, ",%d", test_squares_pixel(i, p));
        fputc('\n', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

#endif
