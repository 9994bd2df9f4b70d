#include "cassnn/images.h"

#include <stdlib.h>
#include <string.h>

int data_images_alloc(data_images *s, size_t count, int channels, int rows, int cols,
                      cassnn_err *err) {
    memset(s, 0, sizeof *s);
    if (channels <= 0 || rows <= 0 || cols <= 0)
        return cassnn_err_set(err, "invalid image shape %dx%dx%d", channels, rows, cols);
    size_t image = (size_t)channels * (size_t)rows * (size_t)cols;
    if (count && image > SIZE_MAX / count)
        return cassnn_err_set(err, "image set too large: %zu images of %zu bytes", count, image);
    s->count = count;
    s->channels = channels;
    s->rows = rows;
    s->cols = cols;
    /* calloc(0) may return NULL; ask for at least one element. */
    size_t n = count ? count : 1;
    s->pixels = malloc(n * image);
    s->labels = malloc(n * sizeof *s->labels);
    s->ids = malloc(n * sizeof *s->ids);
    if (!s->pixels || !s->labels || !s->ids) {
        data_images_free(s);
        return cassnn_err_set(err, "out of memory for %zu images of %zu bytes", count, image);
    }
    for (size_t i = 0; i < count; i++) {
        s->labels[i] = -1;
        s->ids[i] = (int32_t)i;
    }
    return 0;
}

void data_images_free(data_images *s) {
    free(s->pixels);
    free(s->labels);
    free(s->ids);
    memset(s, 0, sizeof *s);
}
