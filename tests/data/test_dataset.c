/* Tests of dataset lookup (MD5-checked), download and of the duplicate-id
 * check. The tests of the real files run when $CASSNN_DATA is set; corrupted
 * and missing copies are made in /tmp from them, and downloads come from a
 * file:// mirror made of such copies (through libcurl, as from https://). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/dataset.h"
#include "cassnn/images.h"
#include "data/test_dir.h"


static void md5_of_known_text(void **state) {
    (void)state;
    char path[128], hex[33];
    snprintf(path, sizeof path, "%s/abc.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("abc", f);
    fclose(f);
    cassnn_err err = {0};
    assert_int_equal(data_file_md5(path, hex, &err), 0);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72"); /* RFC 1321 test suite */
    snprintf(path, sizeof path, "%s/nope", dir);
    assert_int_equal(data_file_md5(path, hex, &err), -1);
}

static void knows_the_two_datasets(void **state) {
    (void)state;
    assert_string_equal(data_dataset_named("mnist")->keyspace, "mnist_digits");
    assert_string_equal(data_dataset_named("fashion")->keyspace, "mnist_fashion");
    assert_null(data_dataset_named("cifar"));
}

static void missing_file_names_file_and_mirror(void **state) {
    (void)state;
    data_dataset_paths paths;
    cassnn_err err = {0};
    assert_int_equal(data_dataset_locate(data_dataset_named("fashion"), dir, &paths, &err), -1);
    assert_non_null(strstr(err.msg, "fashion/train-images-idx3-ubyte.gz is missing"));
    assert_non_null(strstr(err.msg, "download it from http://fashion-mnist.s3-website"));
}

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void locates_real_files_and_refuses_a_corrupted_copy(void **state) {
    (void)state;
    const char *root = getenv("CASSNN_DATA");
    if (!root || !*root) skip();
    cassnn_err err = {0};
    data_dataset_paths paths;
    for (int d = 0; d < 2; d++) {
        const data_dataset *ds = data_dataset_named(d ? "fashion" : "mnist");
        if (data_dataset_locate(ds, NULL, &paths, &err)) fail_msg("%s", err.msg);
        assert_non_null(strstr(paths.path[DATA_TEST_LABELS], "t10k-labels-idx1-ubyte.gz"));
    }

    /* A copy of mnist with one byte of the test labels changed. */
    char copy[128], path[256];
    snprintf(copy, sizeof copy, "%s/mnist", dir);
    assert_int_equal(mkdir(copy, 0755), 0);
    const data_dataset *mnist = data_dataset_named("mnist");
    assert_int_equal(data_dataset_locate(mnist, root, &paths, &err), 0);
    for (int i = 0; i < DATA_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", copy, strrchr(paths.path[i], '/') + 1);
        copy_file(paths.path[i], path);
    }
    data_dataset_paths local;
    assert_int_equal(data_dataset_locate(mnist, dir, &local, &err), 0);
    FILE *f = fopen(local.path[DATA_TEST_LABELS], "r+b");
    fseek(f, 100, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    assert_int_equal(data_dataset_locate(mnist, dir, &local, &err), -1);
    assert_non_null(strstr(err.msg, "t10k-labels-idx1-ubyte.gz: MD5 is "));
    assert_non_null(strstr(err.msg, "the published file's is ec29112dd5afa0611ce80d1b7f02629c"));

    /* A partial copy. */
    assert_int_equal(truncate(local.path[DATA_TRAIN_LABELS], 1000), 0);
    assert_int_equal(data_dataset_locate(mnist, dir, &local, &err), -1);
    assert_non_null(strstr(err.msg, "train-labels-idx1-ubyte.gz: MD5 is "));
}

/* A mirror folder under dir holding copies of the real MNIST files. */
static void make_mirror(const char *mirror) {
    const char *root = getenv("CASSNN_DATA");
    if (!root || !*root) skip();
    data_dataset_paths real;
    cassnn_err err = {0};
    if (data_dataset_locate(data_dataset_named("mnist"), NULL, &real, &err)) fail_msg("%s", err.msg);
    assert_int_equal(mkdir(mirror, 0755), 0);
    char path[256];
    for (int i = 0; i < DATA_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", mirror, strrchr(real.path[i], '/') + 1);
        copy_file(real.path[i], path);
    }
}

static int downloads;
static void count_download(void *user, const char *text, const char *path) {
    (void)user;
    (void)text;
    if (path) downloads++;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void downloads_missing_files_and_refuses_a_bad_one(void **state) {
    (void)state;
    char mirror[128], url[160], root[128], part[1100];
    snprintf(mirror, sizeof mirror, "%s/mirror", dir);
    make_mirror(mirror);
    snprintf(url, sizeof url, "file://%s", mirror);
    snprintf(root, sizeof root, "%s/fetched", dir);
    const data_dataset *mnist = data_dataset_named("mnist");
    data_dataset_paths got;
    cassnn_err err = {0};

    /* A partial file on the mirror: refused, and nothing of it is left. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/t10k-images-idx3-ubyte.gz", mirror);
    assert_int_equal(truncate(bad, 4096), 0);
    downloads = 0;
    assert_int_equal(data_dataset_fetch(mnist, root, url, count_download, NULL, &got, &err), -1);
    assert_non_null(strstr(err.msg, "t10k-images-idx3-ubyte.gz.part: MD5 is "));
    assert_non_null(strstr(err.msg, "the published file's is 9fb629c4189551a2d022fa330f9573f3"));
    assert_int_equal(downloads, 3); /* the two train files, then this one */
    snprintf(part, sizeof part, "%s.part", got.path[DATA_TEST_IMAGES]);
    assert_false(exists(got.path[DATA_TEST_IMAGES]));
    assert_false(exists(part));
    assert_true(exists(got.path[DATA_TRAIN_IMAGES]));

    /* A file missing on the mirror: the error names the URL. */
    assert_int_equal(unlink(bad), 0);
    assert_int_equal(data_dataset_fetch(mnist, root, url, count_download, NULL, &got, &err), -1);
    assert_non_null(strstr(err.msg, "/mirror/t10k-images-idx3-ubyte.gz: download failed"));
    assert_false(exists(part));

    /* The mirror repaired: only the missing files are fetched, all check out. */
    data_dataset_paths real;
    assert_int_equal(data_dataset_locate(mnist, NULL, &real, &err), 0);
    copy_file(real.path[DATA_TEST_IMAGES], bad);
    downloads = 0;
    assert_int_equal(data_dataset_fetch(mnist, root, url, count_download, NULL, &got, &err), 0);
    assert_int_equal(downloads, 2);
    for (int i = 0; i < DATA_FILES; i++) assert_true(exists(got.path[i]));

    /* Everything present: nothing downloaded, and each file still checked. */
    downloads = 0;
    assert_int_equal(data_dataset_fetch(mnist, root, url, count_download, NULL, &got, &err), 0);
    assert_int_equal(downloads, 0);
    assert_int_equal(truncate(got.path[DATA_TRAIN_LABELS], 100), 0);
    assert_int_equal(data_dataset_fetch(mnist, root, url, count_download, NULL, &got, &err), -1);
    assert_non_null(strstr(err.msg, "train-labels-idx1-ubyte.gz: MD5 is "));
}

static void finds_duplicate_ids_across_sets(void **state) {
    (void)state;
    data_images a, b;
    cassnn_err err = {0};
    assert_int_equal(data_images_alloc(&a, 4, 1, 2, 2, &err), 0);
    assert_int_equal(data_images_alloc(&b, 3, 1, 2, 2, &err), 0);
    const data_images *sets[2] = {&a, &b};
    const char *names[2] = {"a.csv", "b.csv"};
    for (int i = 0; i < 3; i++) b.ids[i] = 10 + i;
    assert_int_equal(data_images_check_unique_ids(sets, names, 2, &err), 0);
    b.ids[2] = 3;
    assert_int_equal(data_images_check_unique_ids(sets, names, 2, &err), -1);
    assert_string_equal(err.msg, "a.csv record 3 and b.csv record 2 both have id 3");
    a.ids[1] = 0;
    assert_int_equal(data_images_check_unique_ids(sets, names, 1, &err), -1);
    assert_string_equal(err.msg, "a.csv record 0 and a.csv record 1 both have id 0");
    data_images_free(&a);
    data_images_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(md5_of_known_text),
        cmocka_unit_test(knows_the_two_datasets),
        cmocka_unit_test(missing_file_names_file_and_mirror),
        cmocka_unit_test(locates_real_files_and_refuses_a_corrupted_copy),
        cmocka_unit_test(downloads_missing_files_and_refuses_a_bad_one),
        cmocka_unit_test(finds_duplicate_ids_across_sets),
    };
    return cmocka_run_group_tests(tests, test_dir_make, test_dir_remove);
}
