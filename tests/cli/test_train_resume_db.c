/* test_train_resume_db.c - `cassnn train --keyspace` with a BatchNorm2d net,
 * Adam and a one-cycle schedule (which cycles beta1) on a subset of real
 * MNIST in a real node: resumed from a mid-epoch checkpoint, the run goes on
 * exactly as the uninterrupted one - so the checkpoint holds Adam's state
 * (exp_avg, exp_avg_sq, step) and batchnorm's running statistics (the
 * eval-mode test accuracy depends on them). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_nn_resume"
#define MODEL "'conv(8,k=5) bn relu maxpool(2) conv(16,k=5) bn relu maxpool(2) flatten " \
              "linear(10) logsoftmax'"
/* the original run's schedule flags; a resumed run is given them again */
#define SCHEDULE "--epochs 2 --schedule onecycle --lr 0.01"
enum { N_TRAIN = 1000, N_TEST = 300, LOG = 4 };

static cql_session *S;

static int setup(void **state) {
    (void)state;
    data_images train, test;
    S = reg_connect();
    reg_ingest(S, KS, "mnist", N_TRAIN, N_TEST, 0, 1, &train, &test);
    data_images_free(&train);
    data_images_free(&test);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, KS);
    cql_session_close(S);
    return 0;
}

/* The lines of out that start with "Train Epoch:" or "Test set:", after the
 * line that starts with `after` (NULL: all); skip drops that many of them
 * first. */
static char *progress_lines(const char *out, const char *after, int skip) {
    char *res = calloc(1, strlen(out) + 1);
    int on = after == NULL;
    for (const char *p = out; p && *p;) {
        const char *e = strchr(p, '\n');
        const size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
        if (on && (!strncmp(p, "Train Epoch:", 12) || !strncmp(p, "Test set:", 9))) {
            if (skip > 0) skip--;
            else strncat(res, p, n);
        }
        if (!on && !strncmp(p, after, strlen(after))) on = 1;
        p = e ? e + 1 : NULL;
    }
    return res;
}

static void test_resume_adam_onecycle_batchnorm(void **state) {
    (void)state;
    char *out;
    int rc = reg_run(&out, "train --keyspace " KS " --train-table raw_train_blob --test-table "
                           "raw_test_blob --model " MODEL " --optimizer adam --weight-decay 1e-4 "
                           SCHEDULE " --log-interval %d --threads 2", LOG);
    if (rc) fail_msg("train failed (%d):\n%s", rc, out);
    assert_non_null(strstr(out, "optimizer: adam"));

    /* the checkpoint after batch 8 of 16 in epoch 1 */
    registry_model *models;
    size_t n;
    cassnn_err err = {0};
    reg_must(registry_list(S, KS, &models, &n, &err), &err, "list");
    const registry_model *from = NULL;
    for (size_t i = 0; i < n; i++)
        if (models[i].table == REGISTRY_TRAIN && models[i].epoch == 1 &&
            !strcmp(models[i].batch_percent, "50%"))
            from = &models[i];
    assert_non_null(from);
    char id[37], *resumed;
    registry_uuid_format(from->id, id);
    rc = reg_run(&resumed, "train --keyspace " KS " --train-table raw_train_blob --test-table "
                           "raw_test_blob " SCHEDULE " --log-interval %d --threads 2 --resume %s",
                 LOG, id);
    if (rc) fail_msg("resumed train failed (%d):\n%s", rc, resumed);
    /* everything after the checkpoint's batch; the resumed run first tests
     * the restored net (no line of the original run matches that) */
    char *want = progress_lines(out, "Train Epoch: 1 [512/1000 (50%)]", 0);
    char *got = progress_lines(resumed, NULL, 1);
    assert_true(strlen(want) > 200);
    assert_string_equal(want, got);
    free(want);
    free(got);
    free(resumed);
    free(models);
    free(out);
}

int main(void) {
    (void)reg_predict_accuracy; /* a helper of the shared header this test does not need */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_adam_onecycle_batchnorm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
