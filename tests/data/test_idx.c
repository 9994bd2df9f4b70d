/* Tests of the IDX reader on small generated files (raw and gzip), every kind
 * of bad file, and - when $CASSNN_DATA is set - the real MNIST files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cassnn/idx.h"
#include "data/test_dir.h"


static void path_of(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", dir, name);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* Writes header (magic + dims) then body bytes; gzip-compressed when gz. */
static void write_idx(const char *name, uint32_t magic, const uint32_t *dims, int ndims,
                      const uint8_t *body, size_t body_size, int gz) {
    char path[128];
    path_of(path, sizeof path, name);
    uint8_t header[16];
    put_be32(header, magic);
    for (int d = 0; d < ndims; d++) put_be32(header + 4 + 4 * d, dims[d]);
    size_t header_size = 4 + 4 * (size_t)ndims;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, header, (unsigned)header_size), (int)header_size);
        if (body_size) assert_int_equal(gzwrite(f, body, (unsigned)body_size), (int)body_size);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(header, 1, header_size, f), header_size);
        if (body_size) assert_int_equal(fwrite(body, 1, body_size, f), body_size);
        assert_int_equal(fclose(f), 0);
    }
}

/* 3 images of 2x4 with pixel values i*8+p and labels 7, 0, 9. */
enum { N = 3, ROWS = 2, COLS = 4 };
static uint8_t pixels[N * ROWS * COLS];
static const uint8_t labels[N] = {7, 0, 9};

static void write_good_pair(const char *images, const char *labels_name, int gz) {
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)(i * 11);
    const uint32_t idims[3] = {N, ROWS, COLS}, ldims[1] = {N};
    write_idx(images, 2051, idims, 3, pixels, sizeof pixels, gz);
    write_idx(labels_name, 2049, ldims, 1, labels, sizeof labels, gz);
}

/* Loads the pair and asserts failure with a message containing needle. */
static void expect_error(const char *images, const char *labels_name, const char *needle) {
    char ip[128], lp[128];
    path_of(ip, sizeof ip, images);
    path_of(lp, sizeof lp, labels_name);
    data_images set;
    cassnn_err err = {0};
    assert_int_equal(data_idx_load(ip, labels_name ? lp : NULL, &set, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
    assert_null(set.pixels);
}

static void check_good_set(const data_images *set) {
    assert_int_equal(set->count, N);
    assert_int_equal(set->channels, 1);
    assert_int_equal(set->rows, ROWS);
    assert_int_equal(set->cols, COLS);
    assert_memory_equal(set->pixels, pixels, sizeof pixels);
    for (int i = 0; i < N; i++) {
        assert_int_equal(set->labels[i], labels[i]);
        assert_int_equal(set->ids[i], i);
    }
}

static void load_pair(const char *images, const char *labels_name) {
    char ip[128], lp[128];
    path_of(ip, sizeof ip, images);
    path_of(lp, sizeof lp, labels_name);
    data_images set;
    cassnn_err err = {0};
    if (data_idx_load(ip, lp, &set, &err) != 0) fail_msg("%s", err.msg);
    check_good_set(&set);
    data_images_free(&set);
}

static void loads_raw_files(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    load_pair("i.idx", "l.idx");
}

static void loads_gzip_files(void **state) {
    (void)state;
    write_good_pair("i.gz", "l.gz", 1);
    load_pair("i.gz", "l.gz");
}

static void labels_are_optional(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    char ip[128];
    path_of(ip, sizeof ip, "i.idx");
    data_images set;
    cassnn_err err = {0};
    assert_int_equal(data_idx_load(ip, NULL, &set, &err), 0);
    assert_int_equal(set.count, N);
    assert_int_equal(set.labels[0], -1);
    data_images_free(&set);
}

static void rejects_missing_file(void **state) {
    (void)state;
    expect_error("does-not-exist", NULL, "cannot open");
}

static void rejects_swapped_magic(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    expect_error("l.idx", "i.idx", "bad magic 2049");
    expect_error("i.idx", "i.idx", "bad magic 2051");
}

static void rejects_truncated_raw(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    const uint32_t idims[3] = {N, ROWS, COLS};
    write_idx("short.idx", 2051, idims, 3, pixels, sizeof pixels - 1, 0);
    expect_error("short.idx", "l.idx", "truncated");
    write_idx("header.idx", 2051, idims, 1, NULL, 0, 0); /* only magic + count */
    expect_error("header.idx", "l.idx", "truncated header");
}

static void rejects_trailing_garbage(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    uint8_t more[sizeof pixels + 1] = {0};
    const uint32_t idims[3] = {N, ROWS, COLS}, ldims[1] = {N};
    write_idx("long.idx", 2051, idims, 3, more, sizeof more, 0);
    expect_error("long.idx", "l.idx", "trailing data");
    const uint8_t four[4] = {1, 2, 3, 4};
    write_idx("long-l.gz", 2049, ldims, 1, four, sizeof four, 1);
    expect_error("i.idx", "long-l.gz", "trailing data");
}

static void rejects_zero_size(void **state) {
    (void)state;
    const uint32_t idims[3] = {N, 0, COLS};
    write_idx("zero.idx", 2051, idims, 3, NULL, 0, 0);
    expect_error("zero.idx", NULL, "invalid size 0");
}

static void rejects_count_mismatch(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    const uint32_t ldims[1] = {N - 1};
    write_idx("l2.idx", 2049, ldims, 1, labels, N - 1, 0);
    expect_error("i.idx", "l2.idx", "holds 3 images but");
}

static void rejects_label_out_of_range(void **state) {
    (void)state;
    write_good_pair("i.idx", "l.idx", 0);
    const uint32_t ldims[1] = {N};
    const uint8_t bad[N] = {1, 10, 2};
    write_idx("bad-l.idx", 2049, ldims, 1, bad, N, 0);
    expect_error("i.idx", "bad-l.idx", "record 1: label 10 is not in 0..9");
}

/* Copies the first keep bytes of a gzip file of a larger image set, so the
 * cut lands inside the deflate data. */
static void rejects_truncated_gzip(void **state) {
    (void)state;
    enum { BIG = 2000 };
    static uint8_t big[BIG * ROWS * COLS];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 2654435761u >> 13);
    const uint32_t idims[3] = {BIG, ROWS, COLS};
    write_idx("big.gz", 2051, idims, 3, big, sizeof big, 1);
    char p[128];
    path_of(p, sizeof p, "big.gz");
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    static uint8_t gz[sizeof big * 2];
    size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    assert_true(n > 100);

    path_of(p, sizeof p, "cut.gz");
    f = fopen(p, "wb");
    assert_int_equal(fwrite(gz, 1, n / 2, f), n / 2);
    fclose(f);
    expect_error("cut.gz", NULL, "truncated");

    /* Only the 8-byte trailer (CRC + length) missing: data complete, stream not. */
    f = fopen(p, "wb");
    assert_int_equal(fwrite(gz, 1, n - 8, f), n - 8);
    fclose(f);
    expect_error("cut.gz", NULL, "gzip stream is truncated");

    /* A flipped byte inside the compressed data. */
    gz[n / 2] ^= 0x5a;
    gz[n / 2 + 1] ^= 0xa5;
    path_of(p, sizeof p, "corrupt.gz");
    f = fopen(p, "wb");
    assert_int_equal(fwrite(gz, 1, n, f), n);
    fclose(f);
    expect_error("corrupt.gz", NULL, "gzip data is corrupt");
}

/* A flipped byte in the stored CRC: the data decompresses but fails its check. */
static void rejects_gzip_crc_mismatch(void **state) {
    (void)state;
    write_good_pair("i.gz", "l.gz", 1);
    char p[128];
    path_of(p, sizeof p, "l.gz");
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -8, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -8, SEEK_END), 0);
    fputc(c ^ 0xff, f);
    fclose(f);
    expect_error("i.gz", "l.gz", "gzip data is corrupt");
}

/* The real MNIST, when the data directory is configured. Setting
 * CASSNN_DATA without the files present is a failure, not a skip. */
static void loads_real_mnist(void **state) {
    (void)state;
    const char *root = getenv("CASSNN_DATA");
    if (!root || !*root) skip();
    char ip[512], lp[512];
    data_images set;
    cassnn_err err = {0};

    snprintf(ip, sizeof ip, "%s/mnist/train-images-idx3-ubyte.gz", root);
    snprintf(lp, sizeof lp, "%s/mnist/train-labels-idx1-ubyte.gz", root);
    if (data_idx_load(ip, lp, &set, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(set.count, 60000);
    assert_int_equal(set.rows, 28);
    assert_int_equal(set.cols, 28);
    const int first[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};
    for (int i = 0; i < 10; i++) assert_int_equal(set.labels[i], first[i]);
    double sum = 0;
    for (size_t i = 0; i < set.count * 784; i++) sum += set.pixels[i];
    assert_true(fabs(sum / (double)(set.count * 784) - 33.3184) < 5e-5);
    data_images_free(&set);

    snprintf(ip, sizeof ip, "%s/mnist/t10k-images-idx3-ubyte.gz", root);
    snprintf(lp, sizeof lp, "%s/mnist/t10k-labels-idx1-ubyte.gz", root);
    if (data_idx_load(ip, lp, &set, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(set.count, 10000);
    assert_int_equal(set.labels[0], 7);
    data_images_free(&set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_raw_files),
        cmocka_unit_test(loads_gzip_files),
        cmocka_unit_test(labels_are_optional),
        cmocka_unit_test(rejects_missing_file),
        cmocka_unit_test(rejects_swapped_magic),
        cmocka_unit_test(rejects_truncated_raw),
        cmocka_unit_test(rejects_trailing_garbage),
        cmocka_unit_test(rejects_zero_size),
        cmocka_unit_test(rejects_count_mismatch),
        cmocka_unit_test(rejects_label_out_of_range),
        cmocka_unit_test(rejects_truncated_gzip),
        cmocka_unit_test(rejects_gzip_crc_mismatch),
        cmocka_unit_test(loads_real_mnist),
    };
    return cmocka_run_group_tests(tests, test_dir_make, test_dir_remove);
}
