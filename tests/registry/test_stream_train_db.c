/* test_stream_train_db.c - `cassnn train --keyspace KS --memory-budget SIZE`
 * with a budget smaller than the tables (a subset of real MNIST in a real
 * node): both tables are streamed, the run trains and checkpoints (one
 * models_train row per log line, one models_test row per test), and a run
 * resumed from a mid-epoch checkpoint sees exactly the batches of the
 * uninterrupted one - the stream's order depends on the seed only; the
 * accuracy measured on the streamed test table is the one predict measures
 * on the same table loaded into memory, and predict streaming the table
 * (--memory-budget) predicts every row as predict loading it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_reg_stream"
enum { N_TRAIN = 2000, N_TEST = 500, LOG = 5 };

/* Lines of out starting with "Train Epoch:" after the first that starts
 * with `after` (NULL: all of them). */
static char *train_lines(const char *out, const char *after) {
    char *res = calloc(1, strlen(out) + 1);
    int on = after == NULL;
    for (const char *p = out; p && *p;) {
        const char *e = strchr(p, '\n');
        const size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
        if (on && !strncmp(p, "Train Epoch:", 12)) strncat(res, p, n);
        if (!on && !strncmp(p, after, strlen(after))) on = 1;
        p = e ? e + 1 : NULL;
    }
    return res;
}

/* The "id,label,probability" lines of two predict outputs, matched by id:
 * N_TEST of them, the same labels, the same probabilities but for float
 * rounding (a batch's rows share the GEMM blocking). */
static int same_predictions(const char *a, const char *b) {
    static int label[2][N_TEST];
    static double prob[2][N_TEST];
    const char *outs[2] = {a, b};
    for (int o = 0; o < 2; o++) {
        for (int id = 0; id < N_TEST; id++) label[o][id] = -1;
        const char *p = strstr(outs[o], "id,label,probability\n");
        if (!p) return 0;
        p = strchr(p, '\n') + 1;
        for (int line = 0; line < N_TEST; line++) {
            int id, l;
            double pr;
            if (sscanf(p, "%d,%d,%lf", &id, &l, &pr) != 3 || id < 0 || id >= N_TEST) return 0;
            label[o][id] = l;
            prob[o][id] = pr;
            p += strcspn(p, "\n") + 1;
        }
    }
    for (int id = 0; id < N_TEST; id++)
        if (label[0][id] < 0 || label[0][id] != label[1][id] ||
            fabs(prob[0][id] - prob[1][id]) > 1e-5)
            return 0;
    return 1;
}

static void test_train_streams_checkpoints_and_resumes(void **state) {
    (void)state;
    cql_session *s = reg_connect();
    data_images train, test;
    reg_ingest(s, KS, "mnist", N_TRAIN, N_TEST, 1, 0, &train, &test);
    char *out;
    /* 2000 + 500 rows need ~3.9 MB while loading: 2M is too little */
    int rc = reg_run(&out, "train --keyspace " KS " --memory-budget 2M --epochs 1 --log-interval %d "
                           "--threads 2 --lr 0.05 --momentum 0.9", LOG);
    if (rc) fail_msg("train failed:\n%s", out);
    assert_non_null(strstr(out, KS ".raw_train: streaming 2000 rows (counted) through a shuffle "
                                "buffer of "));
    assert_non_null(strstr(out, KS ".raw_test: streaming 500 rows (counted) in token order"));
    assert_non_null(strstr(out, "first test batch: [500, 1, 28, 28]"));
    long buffer;
    assert_int_equal(sscanf(strstr(out, "shuffle buffer of "), "shuffle buffer of %ld", &buffer), 1);
    assert_true(buffer > 64 && buffer < N_TRAIN);

    cassnn_err err = {0};
    registry_model *models;
    size_t n;
    reg_must(registry_list(s, KS, &models, &n, &err), &err, "list");
    const long batches = (N_TRAIN + 63) / 64, per_epoch = (batches + LOG - 1) / LOG;
    size_t n_train = 0, n_test = 0;
    const registry_model *resume_from = NULL, *last_test = NULL;
    for (size_t i = 0; i < n; i++) {
        if (models[i].table == REGISTRY_TRAIN) {
            n_train++;
            if (!strcmp(models[i].batch_percent, "47%")) resume_from = &models[i];
        } else {
            n_test++;
            if (!last_test || models[i].upload_ms > last_test->upload_ms) last_test = &models[i];
        }
    }
    assert_int_equal(n_train, per_epoch);
    assert_int_equal(n_test, 2);
    assert_true(last_test->accuracy > 0.6f); /* it learnt from the streamed rows */
    assert_non_null(resume_from);
    char last_id[37], *pred;
    registry_uuid_format(last_test->id, last_id);
    assert_int_equal(reg_run(&pred, "predict --keyspace " KS " --table raw_test --model %s --quiet",
                             last_id), 0);
    assert_true(fabs(reg_predict_accuracy(pred) - (double)last_test->accuracy) < 1e-6);
    free(pred);
    /* predict streaming the test table (771 KB while loading > 512K) gives
     * every row the same prediction as predict loading it */
    char *loaded, *streamed;
    assert_int_equal(reg_run(&loaded, "predict --keyspace " KS " --table raw_test --model %s",
                             last_id), 0);
    assert_int_equal(reg_run(&streamed, "predict --keyspace " KS " --table raw_test --model %s "
                                        "--memory-budget 512K", last_id), 0);
    assert_true(fabs(reg_predict_accuracy(streamed) - (double)last_test->accuracy) < 1e-6);
    assert_true(same_predictions(loaded, streamed));
    free(loaded);
    free(streamed);

    char id[37], *resumed;
    registry_uuid_format(resume_from->id, id);
    rc = reg_run(&resumed, "train --keyspace " KS " --memory-budget 2M --epochs 1 --log-interval %d "
                           "--threads 2 --resume %s", LOG, id);
    if (rc) fail_msg("resume failed:\n%s", resumed);
    char *want = train_lines(out, "Train Epoch: 1 [960/2000 (47%)]");
    char *got = train_lines(resumed, NULL);
    assert_true(strlen(want) > 100);
    assert_string_equal(want, got);
    const char *a1 = strstr(out, "final accuracy"), *a2 = strstr(resumed, "final accuracy");
    assert_non_null(a1);
    assert_non_null(a2);
    assert_int_equal(strcspn(a1, "\n"), strcspn(a2, "\n"));
    assert_memory_equal(a1, a2, strcspn(a1, "\n"));

    /* a budget the stream cannot work in is a clear error, exit 1 */
    char *tiny;
    assert_int_equal(reg_run(&tiny, "train --keyspace " KS " --memory-budget 100K --epochs 1 "
                                    "2>&1"), 1);
    assert_non_null(strstr(tiny, "too small to stream"));
    free(tiny);
    free(want);
    free(got);
    free(resumed);
    free(models);
    free(out);
    reg_drop(s, KS);
    cql_session_close(s);
    data_images_free(&train);
    data_images_free(&test);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_streams_checkpoints_and_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
