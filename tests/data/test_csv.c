/* Tests of the Kaggle-style CSV reader: generated good and bad files, the
 * skip_bad option, the 80/20 split, and - when $CASSNN_DATA is set - a full
 * 42,000-row file written from the real MNIST IDX files and read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cassnn/csv.h"
#include "cassnn/idx.h"
#include "data/test_dir.h"

static char path[128];

/* Header text for a labeled or unlabeled file. */
static void put_header(FILE *f, int labeled, const char *eol) {
    if (labeled) fputs("label,", f);
    for (int i = 0; i < 784; i++) fprintf(f, i ? ",pixel%d" : "pixel%d", i);
    fputs(eol, f);
}

/* Row r: label r % 10, pixel i = (r * 7 + i) % 256. */
static void put_row(FILE *f, int labeled, int r, const char *eol) {
    if (labeled) fprintf(f, "%d,", r % 10);
    for (int i = 0; i < 784; i++) fprintf(f, i ? ",%d" : "%d", (r * 7 + i) % 256);
    fputs(eol, f);
}

static FILE *open_file(const char *name) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    return f;
}

/* A file of n good rows, with the row `bad_at` (if >= 0) replaced by text. */
/* One CSV line in out: the first field, then `fields` pixel fields of 0,
 * except field `at` (0-based; -1: none), written as `odd` (with its comma). */
static void csv_row(char *out, const char *first, int fields, int at, const char *odd) {
    int n = sprintf(out, "%s", first);
    for (int i = 0; i < fields; i++) n += sprintf(out + n, "%s", i == at ? odd : ",0");
    strcpy(out + n, "\n");
}

static void write_file(const char *name, int labeled, int n, int bad_at, const char *bad) {
    FILE *f = open_file(name);
    put_header(f, labeled, "\n");
    for (int r = 0; r < n; r++) {
        if (r == bad_at) fputs(bad, f);
        else put_row(f, labeled, r, "\n");
    }
    fclose(f);
}

static void check_rows(const data_images *set, int labeled, int n) {
    assert_int_equal(set->count, n);
    assert_int_equal(set->rows, 28);
    assert_int_equal(set->cols, 28);
    for (int r = 0; r < n; r++) {
        assert_int_equal(set->ids[r], r);
        assert_int_equal(set->labels[r], labeled ? r % 10 : -1);
        for (int i = 0; i < 784; i++)
            assert_int_equal(set->pixels[(size_t)r * 784 + i], (r * 7 + i) % 256);
    }
}

static void expect_error(int labeled, const char *needle) {
    data_images set;
    cassnn_err err = {0};
    assert_int_equal(data_csv_load(path, labeled, 0, &set, NULL, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
    assert_null(set.pixels);
}

static void loads_labeled_file(void **state) {
    (void)state;
    write_file("train.csv", 1, 5, -1, NULL);
    data_images set;
    cassnn_err err = {0};
    data_load_stats stats;
    if (data_csv_load(path, 1, 0, &set, &stats, &err)) fail_msg("%s", err.msg);
    check_rows(&set, 1, 5);
    assert_int_equal(stats.records, 5);
    assert_int_equal(stats.skipped, 0);
    data_images_free(&set);
}

static void loads_unlabeled_file(void **state) {
    (void)state;
    write_file("test.csv", 0, 3, -1, NULL);
    data_images set;
    cassnn_err err = {0};
    if (data_csv_load(path, 0, 0, &set, NULL, &err)) fail_msg("%s", err.msg);
    check_rows(&set, 0, 3);
    data_images_free(&set);
}

/* CRLF, a BOM, blank lines (also at the end) and a missing final newline. */
static void accepts_crlf_bom_and_blank_lines(void **state) {
    (void)state;
    FILE *f = open_file("crlf.csv");
    fputs("\xEF\xBB\xBF", f);
    put_header(f, 1, "\r\n");
    put_row(f, 1, 0, "\r\n");
    fputs("\r\n", f);
    put_row(f, 1, 1, "\r\n");
    put_row(f, 1, 2, "\n\n\n");
    put_row(f, 1, 3, "");
    fclose(f);
    data_images set;
    cassnn_err err = {0};
    if (data_csv_load(path, 1, 0, &set, NULL, &err)) fail_msg("%s", err.msg);
    check_rows(&set, 1, 4);
    data_images_free(&set);
}

static void rejects_non_integer(void **state) {
    (void)state;
    /* Row index 15 is line 17 (header is line 1); column 300 is pixel298. */
    char bad[8192];
    csv_row(bad, "3", 784, 298, ",abc");
    write_file("nonint.csv", 1, 20, 15, bad);
    expect_error(1, "nonint.csv line 17: column 300 'abc' is not an integer");

    csv_row(bad, "1.5", 784, -1, NULL);
    write_file("float.csv", 1, 2, 1, bad);
    expect_error(1, "line 3: column 1 '1.5' is not an integer");
}

static void rejects_out_of_range(void **state) {
    (void)state;
    char bad[8192];
    csv_row(bad, "10", 784, -1, NULL);
    write_file("label.csv", 1, 3, 2, bad);
    expect_error(1, "line 4: column 1 '10' is not a label in 0..9");

    csv_row(bad, "1", 784, 5, ",256");
    write_file("pixel.csv", 1, 3, 0, bad);
    expect_error(1, "line 2: column 7 '256' is not a pixel in 0..255");

    csv_row(bad, "1", 784, 0, ",-1");
    write_file("negative.csv", 1, 3, 0, bad);
    expect_error(1, "column 2 '-1' is not a pixel in 0..255");
}

static void rejects_wrong_column_count(void **state) {
    (void)state;
    char bad[8192];
    csv_row(bad, "1", 783, -1, NULL);
    write_file("short.csv", 1, 3, 1, bad);
    expect_error(1, "short.csv line 3: 784 columns, expected 785");

    csv_row(bad, "1", 786, -1, NULL);
    write_file("long.csv", 1, 3, 2, bad);
    expect_error(1, "long.csv line 4: 787 columns, expected 785");

    csv_row(bad, "1", 784, 9, ",");
    write_file("emptyfield.csv", 1, 3, 2, bad);
    expect_error(1, "line 4: column 11 '' is empty");
}

static void rejects_bad_header(void **state) {
    (void)state;
    write_file("unlabeled.csv", 0, 2, -1, NULL);
    expect_error(1, "line 1: header column 1 is 'pixel0', expected 'label' (is this an unlabeled");
    write_file("labeled.csv", 1, 2, -1, NULL);
    expect_error(0, "line 1: header column 1 is 'label', expected 'pixel0'");

    FILE *f = open_file("small.csv");
    fputs("label", f);
    for (int i = 0; i < 100; i++) fprintf(f, ",pixel%d", i);
    fputs("\n1", f);
    for (int i = 0; i < 100; i++) fputs(",0", f);
    fputs("\n", f);
    fclose(f);
    expect_error(1, "header has 100 pixel columns; an image must be 28x28 = 784");

    f = open_file("empty.csv");
    fclose(f);
    expect_error(1, "empty file");

    f = open_file("header-only.csv");
    put_header(f, 1, "\n");
    fclose(f);
    expect_error(1, "no data rows");

    snprintf(path, sizeof path, "%s/missing.csv", dir);
    expect_error(1, "cannot open");
}

static void skip_bad_skips_and_counts(void **state) {
    (void)state;
    FILE *f = open_file("mixed.csv");
    put_header(f, 1, "\n");
    put_row(f, 1, 0, "\n");
    fputs("1,2,3\n", f);          /* line 3: too few columns */
    put_row(f, 1, 1, "\n");
    fputs("x", f);                /* line 5: not an integer */
    for (int i = 0; i < 784; i++) fputs(",0", f);
    fputs("\n", f);
    put_row(f, 1, 2, "\n");
    fclose(f);

    data_images set;
    cassnn_err err = {0};
    data_load_stats stats;
    if (data_csv_load(path, 1, 1, &set, &stats, &err)) fail_msg("%s", err.msg);
    check_rows(&set, 1, 3); /* kept rows renumbered 0..2 */
    assert_int_equal(stats.records, 5);
    assert_int_equal(stats.skipped, 2);
    assert_non_null(strstr(stats.first_bad, "line 3: 3 columns, expected 785"));
    data_images_free(&set);

    expect_error(1, "line 3: 3 columns"); /* without skip_bad the same file fails */

    f = open_file("allbad.csv");
    put_header(f, 1, "\n");
    fputs("1,2\n", f);
    fclose(f);
    assert_int_equal(data_csv_load(path, 1, 1, &set, &stats, &err), -1);
    assert_non_null(strstr(err.msg, "no valid rows (1 bad rows skipped)"));
}

static void split_takes_first_fraction(void **state) {
    (void)state;
    write_file("split.csv", 1, 10, -1, NULL);
    data_images all, head, tail;
    cassnn_err err = {0};
    if (data_csv_load(path, 1, 0, &all, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(data_images_split(&all, 0.8, &head, &tail, &err), 0);
    assert_int_equal(head.count, 8);
    assert_int_equal(tail.count, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tail.ids[i], i);
        assert_int_equal(tail.labels[i], all.labels[8 + i]);
        assert_memory_equal(tail.pixels + i * 784, all.pixels + (8 + i) * 784, 784);
    }
    assert_memory_equal(head.pixels, all.pixels, 8 * 784);
    assert_int_equal(head.ids[7], 7);
    data_images_free(&head);
    data_images_free(&tail);
    assert_int_equal(data_images_split(&all, 1.5, &head, &tail, &err), -1);
    assert_int_equal(data_images_split(&all, 1.0, &head, &tail, &err), 0);
    assert_int_equal(head.count, 10);
    assert_int_equal(tail.count, 0);
    data_images_free(&head);
    data_images_free(&tail);
    data_images_free(&all);
}

/* Writes the first 42,000 real training images as train.csv, reads it back and
 * compares every pixel and label with the IDX source; also times the parse. */
static void reads_full_size_file(void **state) {
    (void)state;
    const char *root = getenv("CASSNN_DATA");
    if (!root || !*root) skip();
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/mnist/train-images-idx3-ubyte.gz", root);
    snprintf(lp, sizeof lp, "%s/mnist/train-labels-idx1-ubyte.gz", root);
    data_images idx, csv;
    cassnn_err err = {0};
    if (data_idx_load(ip, lp, &idx, &err)) fail_msg("%s", err.msg);
    enum { ROWS = 42000 };
    FILE *f = open_file("full.csv");
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    put_header(f, 1, "\n");
    for (size_t r = 0; r < ROWS; r++) {
        fprintf(f, "%d", idx.labels[r]);
        for (int i = 0; i < 784; i++) fprintf(f, ",%d", idx.pixels[r * 784 + i]);
        fputs("\n", f);
    }
    fclose(f);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (data_csv_load(path, 1, 0, &csv, NULL, &err)) fail_msg("%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    print_message("parsed %d rows in %.3f s\n", ROWS, seconds);
    assert_int_equal(csv.count, ROWS);
    assert_memory_equal(csv.pixels, idx.pixels, (size_t)ROWS * 784);
    for (int r = 0; r < ROWS; r++) assert_int_equal(csv.labels[r], idx.labels[r]);
    data_images_free(&csv);
    data_images_free(&idx);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_labeled_file),
        cmocka_unit_test(loads_unlabeled_file),
        cmocka_unit_test(accepts_crlf_bom_and_blank_lines),
        cmocka_unit_test(rejects_non_integer),
        cmocka_unit_test(rejects_out_of_range),
        cmocka_unit_test(rejects_wrong_column_count),
        cmocka_unit_test(rejects_bad_header),
        cmocka_unit_test(skip_bad_skips_and_counts),
        cmocka_unit_test(split_takes_first_fraction),
        cmocka_unit_test(reads_full_size_file),
    };
    return cmocka_run_group_tests(tests, test_dir_make, test_dir_remove);
}
