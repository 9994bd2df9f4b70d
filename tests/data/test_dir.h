/* test_dir.h - one fresh folder under /tmp for a test program's files, made
 * before its tests and removed after them (cmocka group setup/teardown):
 *   cmocka_run_group_tests(tests, test_dir_make, test_dir_remove) */
#ifndef CASSNN_TESTS_DATA_TEST_DIR_H
#define CASSNN_TESTS_DATA_TEST_DIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The folder, valid between setup and teardown. */
static char dir[64];

static int test_dir_make(void **state) {
    (void)state;
    strcpy(dir, "/tmp/cassnn-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* dir/name, in one of a few buffers used in turn (so that one call, e.g. a
 * config, can hold several). */
static inline const char *in_dir(const char *name) {
    static char ring[8][256];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

static int test_dir_remove(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
