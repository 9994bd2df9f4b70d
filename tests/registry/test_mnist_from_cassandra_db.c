/* test_mnist_from_cassandra_db.c - the tutorial end to end on the full
 * datasets in a real node (slow): all of MNIST ingested in the tutorial's
 * layout, 3 epochs of the tutorial's recipe read from Cassandra reach >= 96.5%
 * test accuracy; the best model's stored accuracy is that of the last test
 * and predict on raw_test reproduces it; Fashion-MNIST (blob layout) runs
 * through the same pipeline and its accuracy is printed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

/* The final accuracy line of a train run, as a fraction. */
static double final_accuracy(const char *out) {
    const char *p = strstr(out, "final accuracy ");
    long c, n;
    if (!p || sscanf(p, "final accuracy %ld/%ld", &c, &n) != 2 || n == 0)
        fail_msg("no final accuracy in:\n%s", out);
    return (double)c / (double)n;
}

static void pipeline(const char *ks, const char *dataset, int blob, double *accuracy) {
    cql_session *s = reg_connect();
    data_images train, test;
    reg_ingest(s, ks, dataset, 0, 0, !blob, blob, &train, &test);
    const char *suffix = blob ? "_blob" : "";
    char *out;
    int rc = reg_run(&out, "train --keyspace %s --train-table raw_train%s --test-table raw_test%s",
                     ks, suffix, suffix);
    if (rc) fail_msg("train failed:\n%s", out);
    assert_non_null(strstr(out, "first test batch: [1000, 1, 28, 28]"));
    *accuracy = final_accuracy(out);
    print_message("%s from Cassandra (%s layout), 3 epochs of the tutorial recipe: %.2f%%\n%s",
                  dataset, blob ? "blob" : "tutorial", 100.0 * *accuracy,
                  strstr(out, "Done:"));

    /* the most accurate stored model is the final one (accuracy rises here)
     * or better, and predict reproduces its stored accuracy */
    cassnn_err err = {0};
    registry_model best;
    reg_must(registry_best(s, ks, REGISTRY_BY_ACCURACY, NULL, NULL, &best, &err), &err, "best");
    assert_true(best.accuracy >= (float)*accuracy - 1e-6f);
    char *pred;
    assert_int_equal(reg_run(&pred, "predict --keyspace %s --table raw_test%s --quiet", ks, suffix), 0);
    assert_true(fabs(reg_predict_accuracy(pred) - (double)best.accuracy) < 1e-6);
    free(pred);
    free(out);
    reg_drop(s, ks);
    cql_session_close(s);
    data_images_free(&train);
    data_images_free(&test);
}

static void test_mnist_tutorial_layout(void **state) {
    (void)state;
    double accuracy;
    pipeline("cassnn_test_reg_mnist", "mnist", 0, &accuracy);
    assert_true(accuracy >= 0.965);
}

static void test_fashion_blob_layout(void **state) {
    (void)state;
    double accuracy;
    pipeline("cassnn_test_reg_fashion", "fashion", 1, &accuracy);
    assert_true(accuracy >= 0.70); /* a sanity bound; the accuracy is printed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_tutorial_layout),
        cmocka_unit_test(test_fashion_blob_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
