/* test_spool.c - the checkpoint spool on disk, without a database: where it
 * lives, one whole file per checkpoint named by its uuid (no temporary file
 * left), and a file that is not a whole checkpoint reported and kept. The
 * replay into a registry is tested on a real node in test_faults_one_db. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/registry.h"
#include "data/test_dir.h"

static void test_spool_directory(void **state) {
    (void)state;
    char path[4096];
    cassnn_err err = {0};
    setenv("CASSNN_SPOOL", "/var/spool/x", 1);
    assert_int_equal(registry_spool_dir("mnist_digits", path, sizeof path, &err), 0);
    assert_string_equal(path, "/var/spool/x/mnist_digits");
    unsetenv("CASSNN_SPOOL");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(registry_spool_dir("ks", path, sizeof path, &err), 0);
    assert_string_equal(path, "/home/u/.cassnn/spool/ks");
    assert_int_equal(registry_spool_dir("../etc", path, sizeof path, &err), -1);
}

static long files_in(const char *path, const char *suffix) {
    DIR *d = opendir(path);
    long n = 0;
    if (!d) return -1;
    for (const struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, suffix) != NULL;
    closedir(d);
    return n;
}

static void test_one_whole_file_per_checkpoint(void **state) {
    (void)state;
    char root[128], ks_dir[192], path[4200];
    snprintf(root, sizeof root, "%s/nested/spool", dir);
    setenv("CASSNN_SPOOL", root, 1);
    snprintf(ks_dir, sizeof ks_dir, "%s/ks", root);
    uint8_t net[100], opt[50];
    memset(net, 1, sizeof net);
    memset(opt, 2, sizeof opt);
    registry_model m = {.table = REGISTRY_TEST, .epoch = -1, .loss = 0.5f, .accuracy = 0.9f,
                        .network = net, .network_len = sizeof net, .optimizer = opt,
                        .optimizer_len = sizeof opt};
    cassnn_err err = {0};
    assert_int_equal(registry_uuid_v4(m.id, &err), 0);
    assert_int_equal(registry_spool_put("ks", &m, path, sizeof path, &err), 0);
    char id[37], want[4200];
    registry_uuid_format(m.id, id);
    snprintf(want, sizeof want, "%s/%s.checkpoint", ks_dir, id);
    assert_string_equal(path, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > (off_t)(sizeof net + sizeof opt));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the same uuid again replaces the file: still one */
    assert_int_equal(registry_spool_put("ks", &m, path, sizeof path, &err), 0);
    assert_int_equal(files_in(ks_dir, ".checkpoint"), 1);
    assert_int_equal(files_in(ks_dir, ".tmp"), 0);

    /* cut short: reported with its name, left in place (no session needed:
     * the file is read before anything is sent) */
    assert_int_equal(truncate(path, st.st_size - 1), 0);
    registry_spool_report rep;
    assert_int_equal(registry_spool_replay(NULL, "ks", &rep, &err), -1);
    assert_int_equal(rep.found, 1);
    assert_int_equal(rep.written, 0);
    assert_non_null(strstr(err.msg, "is not a whole cassnn checkpoint"));
    assert_non_null(strstr(err.msg, id));
    assert_int_equal(files_in(ks_dir, ".checkpoint"), 1);
    /* an empty or missing spool is nothing to do */
    assert_int_equal(registry_spool_replay(NULL, "other", &rep, &err), 0);
    assert_int_equal(rep.found, 0);
    unsetenv("CASSNN_SPOOL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_directory),
        cmocka_unit_test(test_one_whole_file_per_checkpoint),
    };
    return cmocka_run_group_tests(tests, test_dir_make, test_dir_remove);
}
