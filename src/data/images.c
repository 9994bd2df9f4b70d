#include "cassnn/images.h"

#include <math.h>
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

/* The integer square root of n when n is a square, else 0. */
static size_t square_side(size_t n) {
    size_t k = (size_t)llround(sqrt((double)n));
    while (k * k > n) k--;
    while ((k + 1) * (k + 1) <= n) k++;
    return k * k == n ? k : 0;
}

int data_shape_from_pixels(size_t n, data_shape *out) {
    size_t side;
    if (n == 0 || n > (size_t)1 << 30) return -1;
    if ((side = square_side(n))) *out = (data_shape){1, (int)side, (int)side};
    else if (n % 3 == 0 && (side = square_side(n / 3))) *out = (data_shape){3, (int)side, (int)side};
    else return -1;
    return 0;
}

/* Copies count images of src from index start into a fresh set. */
static int copy_range(const data_images *src, size_t start, size_t count, data_images *dst,
                      cassnn_err *err) {
    if (data_images_alloc(dst, count, src->channels, src->rows, src->cols, err)) return -1;
    size_t image = data_image_size(src);
    if (count) {
        memcpy(dst->pixels, src->pixels + start * image, count * image);
        memcpy(dst->labels, src->labels + start, count * sizeof *dst->labels);
    }
    return 0;
}

int data_images_split(const data_images *all, double fraction, data_images *first,
                      data_images *rest, cassnn_err *err) {
    memset(first, 0, sizeof *first);
    memset(rest, 0, sizeof *rest);
    if (!(fraction >= 0.0 && fraction <= 1.0))
        return cassnn_err_set(err, "split fraction %g is not in [0, 1]", fraction);
    size_t head = (size_t)llround((double)all->count * fraction);
    if (head > all->count) head = all->count;
    if (copy_range(all, 0, head, first, err)) return -1;
    if (copy_range(all, head, all->count - head, rest, err)) {
        data_images_free(first);
        return -1;
    }
    return 0;
}

/* An id and where it came from, sortable by id. */
typedef struct id_origin {
    int32_t id;
    uint32_t set;
    size_t record;
} id_origin;

static int by_id(const void *a, const void *b) {
    const id_origin *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->set != y->set) return x->set < y->set ? -1 : 1;
    return x->record < y->record ? -1 : x->record > y->record;
}

int data_images_check_unique_ids(const data_images *const *sets, const char *const *names,
                                 size_t n, cassnn_err *err) {
    size_t total = 0;
    for (size_t s = 0; s < n; s++) total += sets[s]->count;
    if (total < 2) return 0;
    id_origin *all = malloc(total * sizeof *all);
    if (!all) return cassnn_err_set(err, "out of memory checking %zu ids", total);
    size_t k = 0;
    for (size_t s = 0; s < n; s++)
        for (size_t i = 0; i < sets[s]->count; i++)
            all[k++] = (id_origin){sets[s]->ids[i], (uint32_t)s, i};
    qsort(all, total, sizeof *all, by_id);
    int rc = 0;
    for (size_t i = 1; i < total && rc == 0; i++)
        if (all[i].id == all[i - 1].id)
            rc = cassnn_err_set(err, "%s record %zu and %s record %zu both have id %d",
                                names[all[i - 1].set], all[i - 1].record, names[all[i].set],
                                all[i].record, all[i].id);
    free(all);
    return rc;
}

void data_images_free(data_images *s) {
    free(s->pixels);
    free(s->labels);
    free(s->ids);
    memset(s, 0, sizeof *s);
}
