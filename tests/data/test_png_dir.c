/* Tests of the PNG folder reader on folders of generated PNGs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/png_dir.h"
#include "data/test_dir.h"

static char case_dir[128]; /* the folder of the current test, under dir */

/* Writes a PNG of the given shape whose pixels are all `value` (per sample). */
static void write_png(const char *rel, int width, int height, int color, int depth, int value) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", case_dir, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, depth, color,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    int channels = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4 : 1;
    size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(depth / 8);
    png_bytep row = malloc(row_bytes);
    memset(row, value, row_bytes);
    for (int r = 0; r < height; r++) png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    fclose(f);
}

static void write_digit(const char *rel, int value) {
    write_png(rel, 28, 28, PNG_COLOR_TYPE_GRAY, 8, value);
}

static void new_dir(const char *name, const char *const *folders) {
    snprintf(case_dir, sizeof case_dir, "%s/%s", dir, name);
    assert_int_equal(mkdir(case_dir, 0755), 0);
    for (; *folders; folders++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", case_dir, *folders);
        assert_int_equal(mkdir(path, 0755), 0);
    }
}

static void expect_error(const char *needle) {
    data_images set;
    cassnn_err err = {0};
    assert_int_equal(data_png_dir_load(case_dir, 0, &set, NULL, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
    assert_null(set.pixels);
}

static void knows_class_names(void **state) {
    (void)state;
    assert_int_equal(data_class_label("0"), 0);
    assert_int_equal(data_class_label("9"), 9);
    assert_int_equal(data_class_label("10"), -1);
    assert_int_equal(data_class_label("T-shirt_top"), 0);
    assert_int_equal(data_class_label("tshirt"), 0);
    assert_int_equal(data_class_label("Trouser"), 1);
    assert_int_equal(data_class_label("pullover"), 2);
    assert_int_equal(data_class_label("Ankle boot"), 9);
    assert_int_equal(data_class_label("ankle_boot"), 9);
    assert_int_equal(data_class_label("Sneaker"), 7);
    assert_int_equal(data_class_label("Shirt"), 6);
    assert_int_equal(data_class_label("Bag"), 8);
    assert_int_equal(data_class_label("cat"), -1);
    assert_int_equal(data_class_label("-"), -1);
    assert_string_equal(data_fashion_class_name(0), "T-shirt/top");
    assert_string_equal(data_fashion_class_name(9), "Ankle boot");
    assert_null(data_fashion_class_name(10));
}

/* Order: by label, then file names in natural order; ids 0.. in that order. */
static void loads_in_deterministic_order(void **state) {
    (void)state;
    const char *const folders[] = {"3", "1", NULL};
    new_dir("digits", folders);
    write_digit("3/10.png", 31);
    write_digit("3/2.png", 32);
    write_digit("1/b.png", 12);
    write_digit("1/a.PNG", 11);
    write_digit("1/.hidden.png", 99);
    data_images set;
    cassnn_err err = {0};
    data_load_stats stats;
    if (data_png_dir_load(case_dir, 0, &set, &stats, &err)) fail_msg("%s", err.msg);
    assert_int_equal(set.count, 4);
    assert_int_equal(stats.records, 4);
    const int labels[4] = {1, 1, 3, 3}, values[4] = {11, 12, 32, 31};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(set.ids[i], i);
        assert_int_equal(set.labels[i], labels[i]);
        assert_int_equal(set.pixels[i * 784], values[i]);
        assert_int_equal(set.pixels[i * 784 + 783], values[i]);
    }
    data_images_free(&set);
}

static void loads_fashion_class_folders(void **state) {
    (void)state;
    const char *const folders[] = {"Ankle boot", "T-shirt_top", "Sneaker", NULL};
    new_dir("fashion", folders);
    write_digit("Ankle boot/0.png", 90);
    write_digit("T-shirt_top/0.png", 0);
    write_digit("Sneaker/0.png", 70);
    data_images set;
    cassnn_err err = {0};
    if (data_png_dir_load(case_dir, 0, &set, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(set.count, 3);
    assert_int_equal(set.labels[0], 0);
    assert_int_equal(set.labels[1], 7);
    assert_int_equal(set.labels[2], 9);
    assert_int_equal(set.pixels[2 * 784], 90);
    data_images_free(&set);
}

static void rejects_wrong_shape_and_type(void **state) {
    (void)state;
    const char *const folders[] = {"5", NULL};
    new_dir("size", folders);
    write_digit("5/ok.png", 1);
    write_png("5/big.png", 640, 480, PNG_COLOR_TYPE_GRAY, 8, 1);
    expect_error("5/big.png: image is 640x480, expected 28x28");

    new_dir("rgb", folders);
    write_png("5/rgb.png", 28, 28, PNG_COLOR_TYPE_RGB, 8, 1);
    expect_error("5/rgb.png: image is 8-bit RGB, expected 8-bit grayscale");

    new_dir("deep", folders);
    write_png("5/deep.png", 28, 28, PNG_COLOR_TYPE_GRAY, 16, 1);
    expect_error("5/deep.png: image is 16-bit grayscale, expected 8-bit grayscale");
}

static void rejects_corrupt_and_stray_files(void **state) {
    (void)state;
    const char *const folders[] = {"2", NULL};
    new_dir("corrupt", folders);
    write_digit("2/cut.png", 1);
    char path[512];
    snprintf(path, sizeof path, "%s/2/cut.png", case_dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 20), 0);
    expect_error("2/cut.png: corrupt PNG");

    new_dir("notpng", folders);
    snprintf(path, sizeof path, "%s/2/fake.png", case_dir);
    FILE *f = fopen(path, "w");
    fputs("not an image", f);
    fclose(f);
    expect_error("2/fake.png: not a PNG file");

    new_dir("stray", folders);
    write_digit("2/a.png", 1);
    snprintf(path, sizeof path, "%s/2/notes.txt", case_dir);
    f = fopen(path, "w");
    fclose(f);
    expect_error("2/notes.txt: not a .png file");

    const char *const wrong[] = {"7", "cats", NULL};
    new_dir("unknown", wrong);
    expect_error("/cats: folder name is not a class");

    const char *const none[] = {NULL};
    new_dir("empty", none);
    expect_error("no class folders");
}

static void skip_bad_counts_bad_images(void **state) {
    (void)state;
    const char *const folders[] = {"4", "6", NULL};
    new_dir("mixed", folders);
    write_digit("4/a.png", 41);
    write_png("4/b.png", 28, 28, PNG_COLOR_TYPE_RGB, 8, 1);
    write_digit("6/a.png", 61);
    data_images set;
    cassnn_err err = {0};
    data_load_stats stats;
    if (data_png_dir_load(case_dir, 1, &set, &stats, &err)) fail_msg("%s", err.msg);
    assert_int_equal(set.count, 2);
    assert_int_equal(stats.records, 3);
    assert_int_equal(stats.skipped, 1);
    assert_non_null(strstr(stats.first_bad, "4/b.png: image is 8-bit RGB"));
    assert_int_equal(set.labels[1], 6);
    assert_int_equal(set.ids[1], 1);
    assert_int_equal(set.pixels[784], 61);
    data_images_free(&set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(knows_class_names),
        cmocka_unit_test(loads_in_deterministic_order),
        cmocka_unit_test(loads_fashion_class_folders),
        cmocka_unit_test(rejects_wrong_shape_and_type),
        cmocka_unit_test(rejects_corrupt_and_stray_files),
        cmocka_unit_test(skip_bad_counts_bad_images),
    };
    return cmocka_run_group_tests(tests, test_dir_make, test_dir_remove);
}
