/* `cassnn train --idx $CASSNN_DATA/mnist` end to end: 3 epochs of the
 * tutorial recipe on real MNIST must reach >= 96.5% test accuracy (PyTorch
 * 1.13 reaches 96.9% with the same recipe). Needs no database; fails when
 * the data is not there. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_train_mnist_accuracy(void **state) {
    (void)state;
    const char *data = getenv("CASSNN_DATA"), *bin = getenv("CASSNN_BINARY_DIR");
    if (!data || !*data) fail_msg("CASSNN_DATA is not set (it must point at the folder holding mnist/)");
    assert_non_null(bin);
    char dir[2048], cmd[4096];
    snprintf(dir, sizeof dir, "%s/mnist", data);
    static const char *files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char path[2200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (stat(path, &st) != 0) {
            snprintf(path, sizeof path, "%s/%s.gz", dir, files[i]);
            if (stat(path, &st) != 0) fail_msg("MNIST file %s[.gz] missing under %s", files[i], dir);
        }
    }
    snprintf(cmd, sizeof cmd, "'%s/cassnn' train --idx '%s' --epochs 3 --log-interval 100 2>&1",
             bin, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[1024];
    int tests = 0, done = 0;
    long correct = -1, total = -1;
    while (fgets(line, sizeof line, p)) {
        fputs(line, stdout);
        double loss;
        long c, t;
        if (sscanf(line, "Test set: Average loss: %lf, Accuracy: %ld/%ld", &loss, &c, &t) == 3) {
            tests++;
            correct = c;
            total = t;
        }
        if (!strncmp(line, "Done: 3 epochs", 14) && strstr(line, " images/s training")) done = 1;
    }
    const int status = pclose(p);
    assert_int_equal(status, 0);
    assert_int_equal(tests, 4); /* before training and after each epoch */
    assert_true(done);
    assert_int_equal(total, 10000);
    if (correct < 9650) fail_msg("final accuracy %ld/%ld is below 96.5%%", correct, total);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_train_mnist_accuracy)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
