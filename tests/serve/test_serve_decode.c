/* Tests of the /predict body decoder and of the MNIST-style digit maker:
 * every kind of bad body gets its status and a message naming the place,
 * and a drawing of any size becomes a 20x20 box centred by mass in 28x28. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/decode.h"
#include "serve/digit.h"

static const serve_shape MNIST = {1, 28, 28};

/* {"pixels": [v, v+1, ...]} with n values, the value at `bad_at` replaced by
 * bad (when bad_at >= 0). */
static char *pixels_json(int n, int bad_at, const char *bad) {
    char *s = malloc((size_t)n * 8 + 64);
    size_t k = (size_t)sprintf(s, "{\"pixels\": [");
    for (int i = 0; i < n; i++) {
        if (i == bad_at) k += (size_t)sprintf(s + k, "%s%s", i ? "," : "", bad);
        else k += (size_t)sprintf(s + k, "%s%d", i ? "," : "", i % 256);
    }
    sprintf(s + k, "]}");
    return s;
}

static int decode(const char *body, const char *type, serve_input *in, char *msg) {
    return serve_decode((const uint8_t *)body, strlen(body), type, MNIST, 4, in, msg, 512);
}

static void expect_status(const char *body, const char *type, int status, const char *needle) {
    serve_input in;
    char msg[512] = "";
    assert_int_equal(decode(body, type, &in, msg), status);
    if (!strstr(msg, needle)) fail_msg("message '%s' does not contain '%s'", msg, needle);
    assert_null(in.pixels);
}

static void test_one_image(void **state) {
    (void)state;
    char *body = pixels_json(784, 3, "7.6");
    serve_input in;
    char msg[512];
    assert_int_equal(decode(body, "application/json", &in, msg), 0);
    assert_int_equal(in.n, 1);
    assert_int_equal(in.batch, 0);
    assert_int_equal(in.pixels[0], 0);
    assert_int_equal(in.pixels[3], 8); /* reals are rounded */
    assert_int_equal(in.pixels[300], 300 % 256);
    serve_input_free(&in);
    free(body);
}

static void test_batch(void **state) {
    (void)state;
    char *one = pixels_json(784, -1, NULL);
    const char *values = strchr(one, '[');
    char *body = malloc(strlen(one) * 3 + 64);
    const size_t len = strlen(values) - 1; /* without the closing } */
    sprintf(body, "{\"batch\": [%.*s, %.*s, %.*s]}", (int)len, values, (int)len, values,
            (int)len, values);
    serve_input in;
    char msg[512];
    /* any Content-Type: the body says it is JSON */
    assert_int_equal(decode(body, "application/x-www-form-urlencoded", &in, msg), 0);
    assert_int_equal(in.n, 3);
    assert_int_equal(in.batch, 1);
    assert_memory_equal(in.pixels, in.pixels + 784, 784);
    assert_int_equal(in.pixels[2 * 784 + 783], 783 % 256);
    serve_input_free(&in);
    free(body);
    free(one);
}

static void test_bad_json(void **state) {
    (void)state;
    char *b = pixels_json(783, -1, NULL);
    expect_status(b, "application/json", 422, "pixels: 783 values, the model takes 784 (1x28x28)");
    free(b);
    b = pixels_json(785, -1, NULL);
    expect_status(b, NULL, 422, "785 values");
    free(b);
    b = pixels_json(784, 17, "300");
    expect_status(b, NULL, 422, "pixels[17]: 300 is outside 0..255");
    free(b);
    b = pixels_json(784, 5, "-1");
    expect_status(b, NULL, 422, "pixels[5]: -1 is outside 0..255");
    free(b);
    b = pixels_json(784, 9, "255.6");
    expect_status(b, NULL, 422, "pixels[9]: 255.6 is outside 0..255");
    free(b);
    b = pixels_json(784, 2, "\"x\"");
    expect_status(b, NULL, 422, "pixels[2]: expected a number");
    free(b);
    b = pixels_json(784, 2, "null");
    expect_status(b, NULL, 422, "pixels[2]");
    free(b);
    expect_status("{\"pixels\": [1, 2,", "application/json", 400, "malformed JSON at line 1");
    expect_status("{\"pixels\": 5}", NULL, 422, "pixels: expected an array of 784 numbers");
    expect_status("{\"image\": []}", NULL, 422, "expected an object with \"pixels\"");
    expect_status("[1, 2, 3]", NULL, 422, "expected an object");
    expect_status("{\"pixels\": [], \"batch\": []}", NULL, 422, "expected an object");
    expect_status("{\"batch\": []}", NULL, 422, "batch: expected a list of 1..4 images");
    expect_status("{\"batch\": [[],[],[],[],[]]}", NULL, 422, "1..4 images");
    expect_status("{\"batch\": [[1]]}", NULL, 422, "batch[0]: 1 values");
    expect_status("{\"pixels\": [1], \"pixels\": [2]}", NULL, 400, "duplicate");
    expect_status("hello", "text/plain", 415, "Content-Type text/plain");
    expect_status("", NULL, 415, "(none)");
    expect_status("not json", "application/json", 400, "malformed JSON");
    expect_status("GIF89a....", "image/png", 400, "not a PNG");
}

/* A w x h gray (or gray+alpha) PNG in memory. */
static uint8_t *make_png(const uint8_t *pixels, int w, int h, int alpha, size_t *len) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY;
    png_alloc_size_t n = 0;
    assert_true(png_image_write_to_memory(&img, NULL, &n, 0, pixels, 0, NULL));
    uint8_t *out = malloc(n);
    assert_true(png_image_write_to_memory(&img, out, &n, 0, pixels, 0, NULL));
    *len = n;
    return out;
}

static void mass_centre(const uint8_t *d, double *cx, double *cy, int box[4]) {
    double m = 0, x = 0, y = 0;
    box[0] = box[1] = 28;
    box[2] = box[3] = -1;
    for (int r = 0; r < 28; r++)
        for (int c = 0; c < 28; c++) {
            const int v = d[r * 28 + c];
            m += v;
            x += v * (c + 0.5);
            y += v * (r + 0.5);
            if (v > 0) {
                if (c < box[0]) box[0] = c;
                if (r < box[1]) box[1] = r;
                if (c > box[2]) box[2] = c;
                if (r > box[3]) box[3] = r;
            }
        }
    *cx = x / m;
    *cy = y / m;
}

/* Dark ink on a light page, off centre in a large picture: inverted, the
 * longer side 20 pixels, the centre of mass within half a pixel of (14, 14). */
static void test_png_digit(void **state) {
    (void)state;
    const int w = 300, h = 240;
    uint8_t *page = malloc((size_t)w * h);
    memset(page, 250, (size_t)w * h);
    for (int y = 20; y < 120; y++)          /* a bar 100 tall, 30 wide, near the top left */
        for (int x = 30; x < 60; x++) page[y * w + x] = 10;
    for (int y = 100; y < 120; y++)         /* and a foot to the right */
        for (int x = 60; x < 80; x++) page[y * w + x] = 10;
    size_t len;
    uint8_t *png = make_png(page, w, h, 0, &len);
    serve_input in;
    char msg[512] = "";
    assert_int_equal(serve_decode(png, len, NULL, MNIST, 4, &in, msg, sizeof msg), 0);
    assert_int_equal(in.n, 1);
    double cx, cy;
    int box[4];
    mass_centre(in.pixels, &cx, &cy, box);
    assert_int_equal(box[3] - box[1] + 1, 20); /* 100 tall -> 20 */
    assert_int_equal(box[2] - box[0] + 1, 10); /* 50 wide -> 10 */
    assert_true(fabs(cx - 14.0) <= 0.5 && fabs(cy - 14.0) <= 0.5);
    assert_int_equal(in.pixels[(box[1] + 2) * 28 + box[0] + 2], 245); /* ink: 255 - 10 */
    serve_input_free(&in);
    free(png);

    /* PNG bodies are only for 1x28x28 models */
    png = make_png(page, w, h, 0, &len);
    const serve_shape rgb = {3, 32, 32};
    assert_int_equal(serve_decode(png, len, "image/png", rgb, 4, &in, msg, sizeof msg), 422);
    assert_non_null(strstr(msg, "3x32x32"));
    /* a truncated PNG */
    assert_int_equal(serve_decode(png, len / 2, "image/png", MNIST, 4, &in, msg, sizeof msg), 400);
    assert_non_null(strstr(msg, "not a valid PNG"));
    free(png);
    free(page);
}

/* Strokes on a transparent canvas are composited onto white: ink. */
static void test_png_alpha(void **state) {
    (void)state;
    const int w = 56, h = 56;
    uint8_t *ga = calloc((size_t)w * h * 2, 1); /* black, fully transparent */
    for (int y = 8; y < 48; y++)
        for (int x = 24; x < 32; x++) ga[(y * w + x) * 2 + 1] = 255; /* opaque black stroke */
    size_t len;
    uint8_t *png = make_png(ga, w, h, 1, &len);
    uint8_t d[784];
    char msg[256];
    assert_int_equal(digit_from_png(png, len, d, msg, sizeof msg), 0);
    double cx, cy;
    int box[4];
    mass_centre(d, &cx, &cy, box);
    assert_int_equal(box[3] - box[1] + 1, 20);
    assert_int_equal(box[2] - box[0] + 1, 4);
    assert_int_equal(d[14 * 28 + 14], 255);
    free(png);
    free(ga);
}

/* Light ink on a dark background is kept as it is; nothing drawn gives a
 * blank digit. */
static void test_gray_polarity_and_blank(void **state) {
    (void)state;
    uint8_t g[28 * 28] = {0}, d[784];
    digit_from_gray(g, 28, 28, d);
    for (int i = 0; i < 784; i++) assert_int_equal(d[i], 0);
    for (int y = 2; y < 6; y++)
        for (int x = 2; x < 6; x++) g[y * 28 + x] = 200; /* a 4x4 square in a corner */
    digit_from_gray(g, 28, 28, d);
    double cx, cy;
    int box[4];
    mass_centre(d, &cx, &cy, box);
    assert_int_equal(box[2] - box[0] + 1, 20); /* scaled up to the box */
    assert_int_equal(d[14 * 28 + 14], 200);
    assert_true(fabs(cx - 14.0) <= 0.5 && fabs(cy - 14.0) <= 0.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_image),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_png_digit),
        cmocka_unit_test(test_png_alpha),
        cmocka_unit_test(test_gray_polarity_and_blank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
