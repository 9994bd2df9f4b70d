/* augment.c - seeded shifts and small affine transforms of training
 * batches (see augment.h). */
#include "cassnn/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/rng.h"

/* Keeps the augmentation's draws apart from the shuffle's and dropout's. */
#define AUGMENT_STREAM_TAG 0x4155474d454e5400ULL

/* The largest settings that still leave a digit recognisable. */
#define AUGMENT_MAX_SHIFT 8
#define AUGMENT_MAX_ROTATE 45.0
#define AUGMENT_MAX_SCALE 0.5

int data_augment_active(const data_augment *a) {
    return a->max_shift > 0 || a->max_rotate > 0.0f || a->max_scale > 0.0f;
}

/* One "key=value" of the list; part is NUL-terminated. */
static int parse_part(const char *part, const char *whole, data_augment *a, cassnn_err *err) {
    const char *eq = strchr(part, '=');
    char *end;
    const double v = eq ? strtod(eq + 1, &end) : 0.0;
    if (!eq || end == eq + 1 || *end)
        return cassnn_err_set(err, "augmentation '%s': '%s' is not key=number (shift, rotate, "
                                   "scale)", whole, part);
    const size_t key = (size_t)(eq - part);
    if (key == 5 && !strncmp(part, "shift", 5) && v >= 0 && v <= AUGMENT_MAX_SHIFT &&
        v == (int)v)
        a->max_shift = (int)v;
    else if (key == 6 && !strncmp(part, "rotate", 6) && v >= 0 && v <= AUGMENT_MAX_ROTATE)
        a->max_rotate = (float)v;
    else if (key == 5 && !strncmp(part, "scale", 5) && v >= 0 && v <= AUGMENT_MAX_SCALE)
        a->max_scale = (float)v;
    else
        return cassnn_err_set(err, "augmentation '%s': '%s': expected shift=0..%d (pixels), "
                                   "rotate=0..%g (degrees) or scale=0..%g", whole, part,
                              AUGMENT_MAX_SHIFT, AUGMENT_MAX_ROTATE, AUGMENT_MAX_SCALE);
    return 0;
}

int data_augment_parse(const char *text, data_augment *out, cassnn_err *err) {
    data_augment a = {0};
    char buf[256];
    if (strlen(text) >= sizeof buf) return cassnn_err_set(err, "augmentation: text too long");
    const size_t len = strlen(text);
    if (!len || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,"))
        return cassnn_err_set(err, "augmentation '%s': expected none or a list of shift=N, "
                                   "rotate=DEG, scale=F separated by commas", text);
    if (strcmp(text, "none") != 0) {
        snprintf(buf, sizeof buf, "%s", text);
        char *save = NULL;
        for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
            if (parse_part(p, text, &a, err)) return -1;
    }
    *out = a;
    return 0;
}

void data_augment_format(const data_augment *a, char *out, size_t cap) {
    if (!data_augment_active(a)) {
        snprintf(out, cap, "none");
        return;
    }
    size_t len = 0;
    out[0] = 0;
    if (a->max_shift) len += (size_t)snprintf(out + len, cap - len, "shift=%d,", a->max_shift);
    if (len < cap && a->max_rotate > 0.0f)
        len += (size_t)snprintf(out + len, cap - len, "rotate=%g,", a->max_rotate);
    if (len < cap && a->max_scale > 0.0f)
        len += (size_t)snprintf(out + len, cap - len, "scale=%g,", a->max_scale);
    if (len > 0 && len <= cap) out[len - 1] = 0; /* the last comma */
}

/* ---- the transforms ---- */

/* One image's transform: out(x, y) = in(m * (x, y) + offset). */
typedef struct sampling {
    int dx, dy;                 /* the shift (pure shifts) */
    float m[2][2], offset[2];   /* the inverse map (affine) */
} sampling;

static int affine(const data_augment *a) { return a->max_rotate > 0.0f || a->max_scale > 0.0f; }

/* Uniform in [-max, max]. */
static float symmetric(nn_rng *rng, float max) { return (2.0f * nn_rng_uniform(rng) - 1.0f) * max; }

static sampling draw(const data_augment *a, const data_augment_frame *f, int epoch, long pos) {
    nn_rng rng;
    nn_rng_seed(&rng, f->seed, AUGMENT_STREAM_TAG ^ ((uint64_t)epoch << 36) ^ (uint64_t)pos);
    sampling s = {0};
    const uint32_t span = 2u * (uint32_t)a->max_shift + 1u;
    s.dx = (int)nn_rng_below(&rng, span) - a->max_shift;
    s.dy = (int)nn_rng_below(&rng, span) - a->max_shift;
    if (!affine(a)) return s;
    const double angle = symmetric(&rng, a->max_rotate) * M_PI / 180.0;
    const double scale = 1.0 + symmetric(&rng, a->max_scale);
    /* the inverse of "rotate by angle and scale about the centre, then
     * shift": in = R(-angle) (out - centre - shift) / scale + centre */
    const double c = cos(angle) / scale, sn = sin(angle) / scale;
    const double cx = (f->cols - 1) / 2.0, cy = (f->rows - 1) / 2.0;
    s.m[0][0] = (float)c, s.m[0][1] = (float)sn;
    s.m[1][0] = (float)-sn, s.m[1][1] = (float)c;
    const double ox = -cx - s.dx, oy = -cy - s.dy;
    s.offset[0] = (float)(c * ox + sn * oy + cx);
    s.offset[1] = (float)(-sn * ox + c * oy + cy);
    return s;
}

/* out(x, y) = in(x - dx, y - dy), background outside. */
static void shift_plane(const float *in, float *out, int rows, int cols, int dx, int dy,
                        float fill) {
    for (int y = 0; y < rows; y++) {
        float *o = out + (long)y * cols;
        const int sy = y - dy;
        if (sy < 0 || sy >= rows) {
            for (int x = 0; x < cols; x++) o[x] = fill;
            continue;
        }
        const float *i = in + (long)sy * cols;
        const int x0 = dx > 0 ? dx : 0, x1 = dx < 0 ? cols + dx : cols;
        for (int x = 0; x < x0; x++) o[x] = fill;
        memcpy(o + x0, i + x0 - dx, sizeof(float) * (size_t)(x1 > x0 ? x1 - x0 : 0));
        for (int x = x1 > x0 ? x1 : x0; x < cols; x++) o[x] = fill;
    }
}

void data_augment_shift(const float *in, float *out, const data_augment_frame *f, int dx,
                        int dy) {
    const long plane = (long)f->rows * f->cols;
    for (int c = 0; c < f->channels; c++)
        shift_plane(in + c * plane, out + c * plane, f->rows, f->cols, dx, dy, f->fill);
}

static float pixel(const float *in, int rows, int cols, int x, int y, float fill) {
    return x < 0 || y < 0 || x >= cols || y >= rows ? fill : in[(long)y * cols + x];
}

/* Bilinear resampling through the inverse map. */
static void warp_plane(const float *in, float *out, int rows, int cols, const sampling *s,
                       float fill) {
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) {
            const float u = s->m[0][0] * (float)x + s->m[0][1] * (float)y + s->offset[0];
            const float v = s->m[1][0] * (float)x + s->m[1][1] * (float)y + s->offset[1];
            const float fu = floorf(u), fv = floorf(v);
            const int x0 = (int)fu, y0 = (int)fv;
            const float ax = u - fu, ay = v - fv;
            const float top = pixel(in, rows, cols, x0, y0, fill) * (1.0f - ax) +
                              pixel(in, rows, cols, x0 + 1, y0, fill) * ax;
            const float bottom = pixel(in, rows, cols, x0, y0 + 1, fill) * (1.0f - ax) +
                                 pixel(in, rows, cols, x0 + 1, y0 + 1, fill) * ax;
            out[(long)y * cols + x] = top * (1.0f - ay) + bottom * ay;
        }
}

void data_augment_images(const data_augment *a, const data_augment_frame *f, int epoch,
                         long first, float *x, int n, float *scratch) {
    if (!data_augment_active(a)) return;
    const long plane = (long)f->rows * f->cols, image = plane * f->channels;
    for (int i = 0; i < n; i++) {
        float *img = x + (long)i * image;
        const sampling s = draw(a, f, epoch, first + i);
        if (!affine(a) && s.dx == 0 && s.dy == 0) continue;
        memcpy(scratch, img, sizeof(float) * (size_t)image);
        if (!affine(a)) {
            data_augment_shift(scratch, img, f, s.dx, s.dy);
            continue;
        }
        for (int c = 0; c < f->channels; c++)
            warp_plane(scratch + c * plane, img + c * plane, f->rows, f->cols, &s, f->fill);
    }
}

/* ---- the batch source ---- */

static long source_size(void *ctx) {
    data_augment_source *s = ctx;
    return s->inner.size(s->inner.ctx);
}

static int source_begin(void *ctx, int epoch, cassnn_err *err) {
    data_augment_source *s = ctx;
    s->epoch = epoch;
    s->position = s->resume_at;
    s->resume_at = 0;
    return s->inner.begin_epoch(s->inner.ctx, epoch, err);
}

static int source_next(void *ctx, float *x, int32_t *labels, int max, cassnn_err *err) {
    data_augment_source *s = ctx;
    const int n = s->inner.next(s->inner.ctx, x, labels, max, err);
    if (n <= 0) return n;
    data_augment_images(&s->augment, &s->frame, s->epoch, s->position, x, n, s->scratch);
    s->position += n;
    return n;
}

int data_augment_source_init(data_augment_source *s, nn_batch_source inner,
                             const data_augment *a, const data_augment_frame *f,
                             cassnn_err *err) {
    memset(s, 0, sizeof *s);
    if (f->channels < 1 || f->rows < 1 || f->cols < 1)
        return cassnn_err_set(err, "augmentation: bad image shape %dx%dx%d", f->channels,
                              f->rows, f->cols);
    s->scratch = malloc(sizeof(float) * (size_t)f->channels * (size_t)f->rows * (size_t)f->cols);
    if (!s->scratch) return cassnn_err_set(err, "augmentation: out of memory");
    s->inner = inner;
    s->augment = *a;
    s->frame = *f;
    return 0;
}

void data_augment_source_resume_at(data_augment_source *s, long images) {
    s->resume_at = images;
}

nn_batch_source data_augment_source_batches(data_augment_source *s) {
    nn_batch_source b = {s, source_size, source_begin, source_next};
    return b;
}

void data_augment_source_free(data_augment_source *s) {
    free(s->scratch);
    memset(s, 0, sizeof *s);
}
