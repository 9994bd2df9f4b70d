/* Tests of the training-batch augmentation: the same seed gives the same
 * images, a shift moves every pixel by the drawn offset (all offsets of
 * the range occur), an affine transform keeps its centre and the
 * background, a resumed epoch draws what the uninterrupted one drew, and
 * the text form parses and is refused with reasons. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/augment.h"

#define SIDE 28
#define PLANE (SIDE * SIDE)
#define FILL (-0.5f)

static const data_augment_frame frame = {1, SIDE, SIDE, FILL, 42};

/* n images of random values in [0, 1). */
static float *random_images(int n, unsigned seed) {
    float *x = malloc(sizeof(float) * PLANE * (size_t)n);
    srand(seed);
    for (int i = 0; i < PLANE * n; i++) x[i] = (float)rand() / (float)RAND_MAX;
    return x;
}

static void test_same_seed_same_images(void **state) {
    (void)state;
    const int n = 16;
    float scratch[PLANE];
    float *a = random_images(n, 1), *b = random_images(n, 1), *c = random_images(n, 1);
    const data_augment aug = {.max_shift = 2, .max_rotate = 10.0f, .max_scale = 0.1f};
    data_augment_images(&aug, &frame, 1, 0, a, n, scratch);
    data_augment_images(&aug, &frame, 1, 0, b, n, scratch);
    assert_memory_equal(a, b, sizeof(float) * PLANE * n);
    /* another seed, or another epoch, draws other transforms */
    data_augment_frame other = frame;
    other.seed = 43;
    data_augment_images(&aug, &other, 1, 0, c, n, scratch);
    assert_memory_not_equal(a, c, sizeof(float) * PLANE * n);
    free(c);
    c = random_images(n, 1);
    data_augment_images(&aug, &frame, 2, 0, c, n, scratch);
    assert_memory_not_equal(a, c, sizeof(float) * PLANE * n);
    free(a), free(b), free(c);
}

/* One bright pixel at (row 13, col 11) per image: after a shift it is at
 * (13 + dy, 11 + dx) with |dx|, |dy| <= 2, everything else background. */
static void test_shift_moves_pixels(void **state) {
    (void)state;
    const int n = 400, max = 2;
    float scratch[PLANE];
    float *x = malloc(sizeof(float) * PLANE * n);
    for (int i = 0; i < PLANE * n; i++) x[i] = FILL;
    for (int i = 0; i < n; i++) x[(long)i * PLANE + 13 * SIDE + 11] = 1.0f + (float)i;
    const data_augment aug = {.max_shift = max};
    data_augment_images(&aug, &frame, 1, 0, x, n, scratch);
    int seen[5][5] = {{0}};
    for (int i = 0; i < n; i++) {
        const float *img = x + (long)i * PLANE;
        int found = -1, others = 0;
        for (int p = 0; p < PLANE; p++) {
            if (img[p] == 1.0f + (float)i) found = p;
            else if (img[p] != FILL) others++;
        }
        assert_int_equal(others, 0);
        assert_true(found >= 0);
        const int dy = found / SIDE - 13, dx = found % SIDE - 11;
        assert_true(abs(dx) <= max && abs(dy) <= max);
        seen[dy + max][dx + max]++;
    }
    for (int dy = 0; dy < 5; dy++)
        for (int dx = 0; dx < 5; dx++) assert_true(seen[dy][dx] > 0);
    free(x);
}

/* The direction: +dx is right, +dy down, on every channel; what comes in
 * from outside is background. */
static void test_shift_direction(void **state) {
    (void)state;
    const data_augment_frame rgb = {3, 4, 5, FILL, 1};
    float in[60], out[60];
    for (int i = 0; i < 60; i++) in[i] = (float)i;
    data_augment_shift(in, out, &rgb, 2, -1);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++) {
                const float want = x < 2 || y == 3 ? FILL : in[c * 20 + (y + 1) * 5 + x - 2];
                assert_true(out[c * 20 + y * 5 + x] == want);
            }
    data_augment_shift(in, out, &rgb, -5, 0); /* all the way out */
    for (int i = 0; i < 60; i++) assert_true(out[i] == FILL);
}

/* A shift moves whole rows: image 0's shifted copy equals the original
 * moved by the offset, background where the original has no pixel. */
static void test_shift_moves_the_whole_image(void **state) {
    (void)state;
    float scratch[PLANE];
    float *orig = random_images(64, 7), *x = malloc(sizeof(float) * PLANE * 64);
    memcpy(x, orig, sizeof(float) * PLANE * 64);
    const data_augment aug = {.max_shift = 3};
    data_augment_images(&aug, &frame, 1, 0, x, 64, scratch);
    for (int i = 0; i < 64; i++) {
        const float *in = orig + (long)i * PLANE, *out = x + (long)i * PLANE;
        /* find the offset from a pixel that must have survived: the centre */
        int dx = 99, dy = 99;
        for (int oy = -3; oy <= 3; oy++)
            for (int ox = -3; ox <= 3; ox++)
                if (out[(14 + oy) * SIDE + 14 + ox] == in[14 * SIDE + 14]) dx = ox, dy = oy;
        assert_true(dx != 99);
        for (int y = 0; y < SIDE; y++)
            for (int xx = 0; xx < SIDE; xx++) {
                const int sy = y - dy, sx = xx - dx;
                const float want = sy < 0 || sx < 0 || sy >= SIDE || sx >= SIDE
                                       ? FILL : in[sy * SIDE + sx];
                assert_true(out[y * SIDE + xx] == want);
            }
    }
    free(orig), free(x);
}

/* Rotation and scaling happen about the centre: on an odd-sized image the
 * centre pixel keeps its value when there is no shift, and a blank image
 * stays blank. */
static void test_affine_keeps_centre_and_background(void **state) {
    (void)state;
    enum { S = 29, P = S * S };
    const data_augment_frame odd = {1, S, S, FILL, 5};
    const data_augment aug = {.max_rotate = 30.0f, .max_scale = 0.2f};
    float scratch[P];
    float *x = malloc(sizeof(float) * P * 32);
    for (int i = 0; i < P * 32; i++) x[i] = FILL;
    for (int i = 0; i < 32; i++) x[(long)i * P + 14 * S + 14] = 3.0f;
    data_augment_images(&aug, &odd, 1, 0, x, 32, scratch);
    int changed = 0;
    for (int i = 0; i < 32; i++) {
        const float *img = x + (long)i * P;
        assert_float_equal(img[14 * S + 14], 3.0f, 1e-4);
        for (int p = 0; p < P; p++) {
            assert_true(img[p] >= FILL - 1e-5f && img[p] <= 3.0f + 1e-5f);
            if (p != 14 * S + 14 && img[p] > FILL + 1e-3f) changed++;
        }
    }
    assert_true(changed > 0); /* scaling up spreads the pixel to its neighbours */
    for (int i = 0; i < P; i++) x[i] = FILL;
    data_augment_images(&aug, &odd, 3, 0, x, 1, scratch);
    for (int i = 0; i < P; i++) assert_float_equal(x[i], FILL, 1e-6);
    free(x);
}

/* An epoch resumed at image 40 hands out what the whole epoch handed out
 * from image 40 on. */
static void test_resumed_source_draws_the_same(void **state) {
    (void)state;
    enum { N = 100 };
    uint8_t *pixels = malloc(PLANE * N);
    int16_t labels[N];
    for (int i = 0; i < PLANE * N; i++) pixels[i] = (uint8_t)(i * 37 + i / 91);
    for (int i = 0; i < N; i++) labels[i] = (int16_t)(i % 10);
    const data_augment aug = {.max_shift = 2, .max_rotate = 5.0f};
    float *whole = malloc(sizeof(float) * PLANE * N);
    float *resumed = malloc(sizeof(float) * PLANE * N);
    int32_t got_labels[N];
    cassnn_err err = {0};
    for (int pass = 0; pass < 2; pass++) {
        nn_memory_source m;
        data_augment_source s;
        assert_int_equal(nn_memory_source_init(&m, pixels, labels, N, PLANE, 0.1f, 0.3f, 1, 9,
                                               &err), 0);
        assert_int_equal(data_augment_source_init(&s, nn_memory_source_batches(&m), &aug, &frame,
                                                  &err), 0);
        nn_batch_source b = data_augment_source_batches(&s);
        assert_int_equal(b.begin_epoch(b.ctx, 2, &err), 0);
        float *out = pass ? resumed : whole;
        if (pass) { /* what a resumed feed does: skip 40 images of the order */
            m.pos = 40;
            s.position = 40;
            out += 40 * PLANE;
        }
        int n;
        while ((n = b.next(b.ctx, out, got_labels, 16, &err)) > 0) out += (long)n * PLANE;
        assert_int_equal(n, 0);
        data_augment_source_free(&s);
        nn_memory_source_free(&m);
    }
    assert_memory_equal(whole + 40 * PLANE, resumed + 40 * PLANE, sizeof(float) * PLANE * 60);
    free(pixels), free(whole), free(resumed);
}

static void test_resume_at_sets_the_position(void **state) {
    (void)state;
    data_augment_source s;
    cassnn_err err = {0};
    nn_memory_source m;
    uint8_t px[PLANE * 2] = {0};
    assert_int_equal(nn_memory_source_init(&m, px, NULL, 2, PLANE, 0.1f, 0.3f, 0, 1, &err), 0);
    const data_augment aug = {.max_shift = 1};
    assert_int_equal(data_augment_source_init(&s, nn_memory_source_batches(&m), &aug, &frame,
                                              &err), 0);
    data_augment_source_resume_at(&s, 1);
    nn_batch_source b = data_augment_source_batches(&s);
    assert_int_equal(b.begin_epoch(b.ctx, 1, &err), 0);
    assert_int_equal(s.position, 1);
    assert_int_equal(b.begin_epoch(b.ctx, 2, &err), 0); /* one epoch only */
    assert_int_equal(s.position, 0);
    data_augment_source_free(&s);
    nn_memory_source_free(&m);
}

static void test_parse(void **state) {
    (void)state;
    data_augment a;
    cassnn_err err = {0};
    char text[64];
    assert_int_equal(data_augment_parse("shift=2", &a, &err), 0);
    assert_int_equal(a.max_shift, 2);
    assert_true(a.max_rotate == 0.0f && a.max_scale == 0.0f);
    assert_int_equal(data_augment_parse("shift=1,rotate=10,scale=0.1", &a, &err), 0);
    assert_int_equal(a.max_shift, 1);
    assert_float_equal(a.max_rotate, 10.0f, 1e-6);
    assert_float_equal(a.max_scale, 0.1f, 1e-6);
    data_augment_format(&a, text, sizeof text);
    assert_string_equal(text, "shift=1,rotate=10,scale=0.1");
    assert_int_equal(data_augment_parse("none", &a, &err), 0);
    assert_false(data_augment_active(&a));
    data_augment_format(&a, text, sizeof text);
    assert_string_equal(text, "none");
    static const char *const bad[] = {"", "shift", "shift=1.5", "shift=-1", "shift=9",
                                      "rotate=90", "scale=2", "zoom=1", "shift=2,", "shift=2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        assert_int_equal(data_augment_parse(bad[i], &a, &err), -1);
        assert_non_null(strstr(err.msg, "augmentation"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_images),
        cmocka_unit_test(test_shift_direction),
        cmocka_unit_test(test_shift_moves_pixels),
        cmocka_unit_test(test_shift_moves_the_whole_image),
        cmocka_unit_test(test_affine_keeps_centre_and_background),
        cmocka_unit_test(test_resumed_source_draws_the_same),
        cmocka_unit_test(test_resume_at_sets_the_position),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
