/* test_fast_recipe_db.c - `cassnn train --recipe fast` on all of MNIST read
 * from a real node (blob layout; slow): one seed reaches >= 98.9% test
 * accuracy (the floor for each of 5 seeds), the recipe's choices
 * are the ones the run used, and the final model is in the registry with
 * that accuracy. It took 82 s on the shared 2-core machine (load average
 * ~23), most of it the blob ingest of 70,000 rows; the training command
 * itself takes seconds (the test prints its wall time). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_fast_recipe"

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_fast_recipe_from_cassandra(void **state) {
    (void)state;
    cql_session *s = reg_connect();
    data_images train, test;
    reg_ingest(s, KS, "mnist", 0, 0, 0, 1, &train, &test);
    char *out;
    const double t0 = now_seconds();
    const int rc = reg_run(&out, "train --recipe fast --keyspace " KS " --train-table "
                                 "raw_train_blob --test-table raw_test_blob --seed 1 2>&1");
    const double seconds = now_seconds() - t0;
    if (rc) fail_msg("train failed:\n%s", out);
    /* the recipe's choices, as the run reports them */
    assert_non_null(strstr(out, "model: conv1=conv(8,k=5"));
    assert_non_null(strstr(out, " nesterov; schedule: onecycle peak 0.3"));
    assert_non_null(strstr(out, "batch size 128, augmentation: shift=2"));
    int tests = 0; /* after each epoch; the untrained net is not tested */
    for (const char *p = out; (p = strstr(p, "Test set:")); p++) tests++;
    assert_int_equal(tests, 2);
    const char *done = strstr(out, "Done: 2 epochs, 120000 training images");
    assert_non_null(done);
    long correct, total;
    const char *fin = strstr(done, "final accuracy ");
    assert_non_null(fin);
    assert_int_equal(sscanf(fin, "final accuracy %ld/%ld", &correct, &total), 2);
    assert_int_equal(total, 10000);
    print_message("fast recipe, MNIST from Cassandra (blob layout), seed 1: %.2f%% in %.2f s "
                  "(whole command)\n%s", correct / 100.0, seconds, done);
    if (correct < 9890) fail_msg("accuracy %ld/%ld is below 98.9%%", correct, total);

    /* the final model is in the registry with the accuracy printed */
    cassnn_err err = {0};
    registry_model best;
    reg_must(registry_best(s, KS, REGISTRY_BY_ACCURACY, NULL, NULL, &best, &err), &err, "best");
    assert_true(best.accuracy >= (float)correct / (float)total - 1e-6f);
    registry_model_free(&best);
    free(out);
    reg_drop(s, KS);
    cql_session_close(s);
    data_images_free(&train);
    data_images_free(&test);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fast_recipe_from_cassandra)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
