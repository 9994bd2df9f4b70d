/* test_tutorial_cli_db.c - the tutorial's registry and the cassnn program,
 * both ways, on a real node and a small table of real MNIST:
 *   - rows the tutorial's own code wrote (tests/reference/tutorial_registry.py):
 *     `cassnn predict` finds the best and scores it as PyTorch did; a
 *     --model that does not fit is refused naming the first tensor; `models
 *     show` says the tutorial's net fits; `train --resume` goes on from a
 *     models_train row at the batch after the one it logged;
 *   - `cassnn train --blob-format pickle` writes pickles only, which the
 *     tutorial's code loads and scores as the registry says
 *     (tests/registry/check_pickle_rows_torch.py), which cassnn predicts
 *     with the same accuracy and resumes from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_tutorial_cli"
enum { N_TRAIN = 320, N_TEST = 200 };
/* the tutorial's net with 60 hidden units instead of 50 */
#define WIDER "'conv(10,k=5) maxpool(2) relu conv(20,k=5) dropout2d(0.5) maxpool(2) relu " \
              "flatten linear(60) relu dropout(0.5) linear(10) logsoftmax'"

static cql_session *S;

static int setup(void **state) {
    (void)state;
    S = reg_connect();
    reg_ingest(S, KS, "mnist", N_TRAIN, N_TEST, 1, 0, NULL, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, KS);
    cql_session_close(S);
    return 0;
}

static void empty_registry(void) {
    cassnn_err err = {0};
    const char *tables[2] = {"models_train", "models_test"};
    for (int i = 0; i < 2; i++) {
        char q[128];
        snprintf(q, sizeof q, "TRUNCATE %s.%s", KS, tables[i]);
        reg_must(cql_query(S, q, NULL, 0, NULL, &err), &err, q);
    }
}

/* The id of the models_train row of epoch / batch_percent. */
static void train_row(int epoch, const char *percent, char id[37]) {
    registry_model *models;
    size_t n;
    cassnn_err err = {0};
    reg_must(registry_list(S, KS, &models, &n, &err), &err, "list");
    id[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (models[i].table == REGISTRY_TRAIN && models[i].epoch == epoch &&
            !strcmp(models[i].batch_percent, percent))
            registry_uuid_format(models[i].id, id);
    free(models);
    if (!id[0]) fail_msg("no models_train row of epoch %d at %s", epoch, percent);
}

/* The "Test set:" accuracy line before training, C of the run's output. */
static long first_test_correct(const char *out) {
    const char *p = strstr(out, "Accuracy: ");
    long c;
    if (!p || sscanf(p, "Accuracy: %ld/", &c) != 1) fail_msg("no test line in:\n%s", out);
    return c;
}

static void test_tutorial_rows(void **state) {
    (void)state;
    empty_registry();
    char *py = reg_tutorial(KS, "train --epochs 1 --log-interval 2"), *out, id[37], test_id[37];
    long correct, n;
    if (sscanf(py, "test %36s %ld %ld", id, &correct, &n) != 3) fail_msg("tutorial: %s", py);
    memcpy(test_id, id, sizeof id);
    free(py);
    /* the best row (the tutorial's only test row), scored as PyTorch did */
    int rc = reg_run(&out, "predict --keyspace " KS " --table raw_test --quiet");
    if (rc) fail_msg("predict failed:\n%s", out);
    char want[128];
    snprintf(want, sizeof want, "model %s predicted %d images", id, N_TEST);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "accuracy: %ld/%ld ", correct, n);
    if (!strstr(out, want)) fail_msg("PyTorch scored %ld/%ld; cassnn:\n%s", correct, n, out);
    free(out);
    /* the same by --id with the tutorial's net named, and by --model ID */
    assert_int_equal(reg_run(&out, "predict --keyspace " KS " --table raw_test --quiet --id %s "
                                   "--model tutorial --input 1x28x28", id), 0);
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(reg_run(&out, "predict --keyspace " KS " --table raw_test --quiet --model %s",
                             id), 0);
    assert_non_null(strstr(out, want));
    free(out);
    /* another net does not fit: the first tensor that does not is named */
    rc = reg_run(&out, "predict --keyspace " KS " --table raw_test --quiet --id %s --model "
                       WIDER " 2>&1", id);
    assert_int_equal(rc, 1);
    if (!strstr(out, id) || !strstr(out, "fc1.weight")) fail_msg("misfit not named:\n%s", out);
    printf("a wider net: %s", strstr(out, "cassnn predict:"));
    free(out);
    rc = reg_run(&out, "models show %s --keyspace " KS " --model " WIDER, id);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "format:        pickle"));
    if (!strstr(out, "does not fit:") || !strstr(out, "fc1.weight")) fail_msg("show:\n%s", out);
    free(out);
    assert_int_equal(reg_run(&out, "models show %s --keyspace " KS, id), 0);
    assert_non_null(strstr(out, "fits:"));
    free(out);

    /* resumed from the row after batch 2 of 5: the same weights (its test
     * scores what predict says), the tutorial's SGD, on at batch 3 */
    train_row(1, "40%", id);
    assert_int_equal(reg_run(&out, "predict --keyspace " KS " --table raw_test --quiet --id %s",
                             id), 0);
    const double acc = reg_predict_accuracy(out);
    free(out);
    rc = reg_run(&out, "train --keyspace " KS " --resume %s --epochs 1 --log-interval 2 "
                       "--threads 2 --seed 3", id);
    if (rc) fail_msg("train --resume from a tutorial row failed:\n%s", out);
    assert_non_null(strstr(out, "optimizer: sgd lr 0.01 momentum 0.5 dampening 0 weight decay 0"));
    assert_int_equal(first_test_correct(out), (long)(acc * N_TEST + 0.5));
    assert_null(strstr(out, "Train Epoch: 1 [0/"));
    assert_non_null(strstr(out, "Train Epoch: 1 [256/320 (80%)]"));
    assert_non_null(strstr(out, "registry: 3 of 3 checkpoints written"));
    free(out);
    /* a tutorial models_test row names no epoch: it cannot be placed */
    rc = reg_run(&out, "train --keyspace " KS " --resume %s --epochs 1 2>&1", test_id);
    assert_int_equal(rc, 1);
    if (!strstr(out, "only a models_train row")) fail_msg("resume from a test row:\n%s", out);
    free(out);
}

static void test_blob_format_pickle(void **state) {
    (void)state;
    empty_registry();
    char *out, id[37];
    int rc = reg_run(&out, "train --keyspace " KS " --blob-format pickle --epochs 1 "
                           "--log-interval 2 --threads 2");
    if (rc) fail_msg("train --blob-format pickle failed:\n%s", out);
    char *whole = out;
    /* every blob of every row is a pickle */
    cassnn_err err = {0};
    const char *tables[2] = {"models_train", "models_test"};
    for (int t = 0; t < 2; t++) {
        char q[128];
        cql_result *r;
        snprintf(q, sizeof q, "SELECT network, optimizer FROM %s.%s", KS, tables[t]);
        reg_must(cql_query(S, q, NULL, 0, &r, &err), &err, q);
        assert_int_equal(cql_result_row_count(r), t ? 2 : 3);
        for (int32_t i = 0; i < cql_result_row_count(r); i++)
            for (int c = 0; c < 2; c++) {
                const uint8_t *b;
                size_t len;
                blob_format f;
                reg_must(cql_get_blob(r, i, c, &b, &len, &err), &err, "blob");
                reg_must(blob_detect(b, len, &f, &err), &err, "detect");
                assert_int_equal(f, BLOB_PICKLE);
            }
        cql_result_free(r);
    }
    /* the tutorial's code loads every row and scores what the registry says */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/registry/check_pickle_rows_torch.py' "
             "--keyspace " KS " --host %s --port %s", getenv("CASSNN_SOURCE_DIR"),
             getenv("CASSNN_HOST") ? getenv("CASSNN_HOST") : "127.0.0.1",
             getenv("CASSNN_PORT") ? getenv("CASSNN_PORT") : "9042");
    assert_int_equal(system(cmd), 0);
    /* cassnn reads its own pickles back: the best row predicts as stored */
    registry_model best;
    reg_must(registry_best(S, KS, REGISTRY_BY_ACCURACY, NULL, NULL, &best, &err), &err, "best");
    assert_int_equal(reg_run(&out, "predict --keyspace " KS " --table raw_test --quiet"), 0);
    assert_true(fabs(reg_predict_accuracy(out) - best.accuracy) < 1e-6);
    free(out);
    /* and resumes from a pickle row by the run position it holds, exactly:
     * the same loss at batch 4 and the same final test as the whole run */
    train_row(1, "40%", id);
    rc = reg_run(&out, "train --keyspace " KS " --resume %s --epochs 1 --log-interval 2 "
                       "--threads 2 --blob-format pickle", id);
    if (rc) fail_msg("train --resume from a pickle row failed:\n%s", out);
    assert_null(strstr(out, "Train Epoch: 1 [0/"));
    assert_null(strstr(out, "Train Epoch: 1 [128/"));
    const char *tails[2] = {"Train Epoch: 1 [256/320 (80%)]", "Done:"};
    const char *a = strstr(whole, tails[0]), *b = strstr(out, tails[0]);
    assert_non_null(a);
    assert_non_null(b);
    const size_t len = (size_t)(strstr(whole, tails[1]) - a);
    if (strncmp(a, b, len)) fail_msg("the whole run:\n%s\nresumed:\n%s", whole, out);
    free(out);
    free(whole);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_rows),
        cmocka_unit_test(test_blob_format_pickle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
