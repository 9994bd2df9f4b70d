/* test_train_registry_db.c - the tutorial's pipeline on a subset of real
 * MNIST in a real node: the feed reads both layouts exactly, `cassnn train
 * --keyspace` checkpoints one models_train row per log line and one
 * models_test row per test, `models best` returns the most accurate row,
 * `predict` on raw_test reproduces its stored accuracy, --resume equals the
 * uninterrupted run, and the registry commands work. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/feed.h"
#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_reg_pipeline"
enum { N_TRAIN = 2000, N_TEST = 500, LOG = 5, EPOCHS = 2 };

static cql_session *S;
static data_images TRAIN, TEST;

static int setup(void **state) {
    (void)state;
    S = reg_connect();
    reg_ingest(S, KS, "mnist", N_TRAIN, N_TEST, 1, 1, &TRAIN, &TEST);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, KS);
    cql_session_close(S);
    data_images_free(&TRAIN);
    data_images_free(&TEST);
    return 0;
}

static void check_same(const data_images *a, const data_images *b) {
    assert_int_equal(a->count, b->count);
    assert_memory_equal(a->ids, b->ids, a->count * sizeof *a->ids);
    assert_memory_equal(a->labels, b->labels, a->count * sizeof *a->labels);
    assert_memory_equal(a->pixels, b->pixels, a->count * data_image_size(a));
}

static void test_feed_reads_both_layouts_exactly(void **state) {
    (void)state;
    cassnn_err err = {0};
    const char *tables[2] = {"raw_train", "raw_train_blob"};
    for (int t = 0; t < 2; t++) {
        data_images got;
        data_scan_options o = {.ranges = 7 + t * 50, .threads = 3, .page_size = 33};
        reg_must(data_table_load(S, KS, tables[t], &o, &got, &err), &err, tables[t]);
        check_same(&TRAIN, &got);
        /* the batches: normalised as the tutorial, shuffled per epoch, same
         * for the same seed */
        data_feed f1, f2;
        reg_must(data_feed_init(&f1, &got, NN_MNIST_MEAN, NN_MNIST_STD, 1, 9, &err), &err, "feed");
        reg_must(data_feed_init(&f2, &TRAIN, NN_MNIST_MEAN, NN_MNIST_STD, 1, 9, &err), &err, "feed");
        nn_batch_source b1 = data_feed_batches(&f1), b2 = data_feed_batches(&f2);
        static float x1[64 * 784], x2[64 * 784];
        int32_t l1[64], l2[64];
        reg_must(b1.begin_epoch(b1.ctx, 2, &err) || b2.begin_epoch(b2.ctx, 2, &err), &err, "epoch");
        assert_int_equal(b1.next(b1.ctx, x1, l1, 64, &err), 64);
        assert_int_equal(b2.next(b2.ctx, x2, l2, 64, &err), 64);
        assert_memory_equal(x1, x2, sizeof x1);
        assert_memory_equal(l1, l2, sizeof l1);
        int in_order = 1;
        for (int i = 0; i < 64; i++) in_order &= l1[i] == TRAIN.labels[i];
        assert_false(in_order);
        const float zero = (0.0f / 255.0f - NN_MNIST_MEAN) / NN_MNIST_STD;
        int zeros = 0;
        for (int i = 0; i < 784; i++) zeros += x1[i] == zero;
        assert_true(zeros > 300); /* MNIST background pixels */
        data_feed_free(&f1);
        data_feed_free(&f2);
        data_images_free(&got);
    }
}

static void test_feed_reports_a_bad_row(void **state) {
    (void)state;
    cassnn_err err = {0};
    uint8_t px[783] = {0};
    cql_value v[3] = {cql_int(7), cql_int(3), cql_list_int_u8(px, sizeof px)};
    reg_must(cql_query(S, "INSERT INTO " KS ".raw_predict (id, label, pixels) VALUES (?, ?, ?)", v,
                       3, NULL, &err), &err, "insert bad row");
    data_images got;
    assert_int_equal(data_table_load(S, KS, "raw_predict", NULL, &got, &err), -1);
    assert_non_null(strstr(err.msg, "id 7"));
    assert_non_null(strstr(err.msg, "783"));
    reg_must(cql_query(S, "TRUNCATE " KS ".raw_predict", NULL, 0, NULL, &err), &err, "truncate");
}

/* Train lines of a run's output after the line that starts with `after`
 * (NULL: all of them). */
static char *train_lines(const char *out, const char *after) {
    char *res = calloc(1, strlen(out) + 1);
    const char *p = out;
    int on = after == NULL;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (on && !strncmp(p, "Train Epoch:", 12)) strncat(res, p, n + (e ? 1 : 0));
        if (!on && !strncmp(p, after, strlen(after))) on = 1;
        p = e ? e + 1 : NULL;
    }
    return res;
}

static void test_train_checkpoints_best_predict_resume(void **state) {
    (void)state;
    cassnn_err err = {0};
    char *out;
    /* a higher lr and momentum than the tutorial's: 32 steps per epoch here */
    int rc = reg_run(&out, "train --keyspace " KS " --epochs %d --log-interval %d --test-batch-size "
                           "1000 --threads 2 --lr 0.05 --momentum 0.9", EPOCHS, LOG);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "first test batch: [500, 1, 28, 28]"));

    /* one models_train row per log line, one models_test row per test */
    registry_model *models;
    size_t n;
    reg_must(registry_list(S, KS, &models, &n, &err), &err, "list");
    const long batches = (N_TRAIN + 63) / 64, per_epoch = (batches + LOG - 1) / LOG;
    size_t n_train = 0, n_test = 0, stateless = 0;
    const registry_model *best = NULL, *resume_from = NULL;
    for (size_t i = 0; i < n; i++) {
        const registry_model *m = &models[i];
        /* the optimizer's buffers from the first step on: only the test
         * before training holds none (like PyTorch's optimizer.state_dict()) */
        assert_true(m->network_len > 80000);
        if (m->optimizer_len < 80000) {
            assert_int_equal(m->table, REGISTRY_TEST);
            stateless++;
        }
        assert_true(m->upload_ms > 1700000000000LL);
        assert_true(m->loss > 0 && m->loss < 5);
        if (m->table == REGISTRY_TRAIN) {
            n_train++;
            assert_true(m->epoch >= 1 && m->epoch <= EPOCHS);
            assert_true(strlen(m->batch_percent) >= 2 &&
                        m->batch_percent[strlen(m->batch_percent) - 1] == '%');
            if (m->epoch == 1 && !strcmp(m->batch_percent, "47%")) resume_from = m;
        } else {
            n_test++;
            assert_true(m->accuracy >= 0 && m->accuracy <= 1);
            if (!best || m->accuracy > best->accuracy) best = m;
        }
    }
    assert_int_equal(n_train, EPOCHS * per_epoch);
    assert_int_equal(n_test, EPOCHS + 1);
    assert_int_equal(stateless, 1);
    assert_non_null(resume_from);
    assert_true(best->accuracy > 0.6f);

    /* models best prints the id of the most accurate row, alone */
    char best_id[37], *best_out;
    registry_uuid_format(best->id, best_id);
    assert_int_equal(reg_run(&best_out, "models best --keyspace " KS " --by accuracy"), 0);
    assert_int_equal(strlen(best_out), 37);
    assert_memory_equal(best_out, best_id, 36);
    free(best_out);

    /* predict on raw_test reproduces the stored accuracy; --write stores it */
    char *pred;
    assert_int_equal(reg_run(&pred, "predict --keyspace " KS " --table raw_test --write"), 0);
    assert_true(fabs(reg_predict_accuracy(pred) - (double)best->accuracy) < 1e-6);
    assert_non_null(strstr(pred, "id,label,probability\n0,"));
    free(pred);
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM " KS ".predictions WHERE model_id = %s", best_id);
    cql_result *r;
    reg_must(cql_query(S, q, NULL, 0, &r, &err), &err, q);
    int64_t count;
    reg_must(cql_get_bigint(r, 0, 0, &count, &err), &err, "count");
    assert_int_equal(count, N_TEST);
    cql_result_free(r);

    /* resumed from the checkpoint after batch 15 of epoch 1, the run goes on
     * exactly as the uninterrupted one (with the same thread count: the
     * gradient sum is reproducible per thread count) */
    char resume_id[37], *resumed;
    registry_uuid_format(resume_from->id, resume_id);
    assert_int_equal(reg_run(&resumed, "train --keyspace " KS " --epochs %d --log-interval %d "
                                       "--threads 2 --resume %s", EPOCHS, LOG, resume_id), 0);
    char *want = train_lines(out, "Train Epoch: 1 [960/2000 (47%)]");
    char *got = train_lines(resumed, NULL);
    assert_true(strlen(want) > 100);
    assert_string_equal(want, got);
    /* and ends with the same test result */
    const char *t1 = strstr(out, "Done:"), *t2 = strstr(resumed, "Done:");
    assert_non_null(t1);
    assert_non_null(t2);
    assert_non_null(strstr(t1, "final accuracy"));
    const char *a1 = strstr(t1, "final accuracy"), *a2 = strstr(t2, "final accuracy");
    assert_int_equal(strcspn(a1, "\n"), strcspn(a2, "\n"));
    assert_memory_equal(a1, a2, strcspn(a1, "\n"));
    free(want);
    free(got);
    free(resumed);
    free(models);
    free(out);
}

static void test_models_commands(void **state) {
    (void)state;
    char *best, *out, path[256], cmd[600];
    assert_int_equal(reg_run(&best, "models best --keyspace " KS " --by loss"), 0);
    best[36] = '\0';
    snprintf(path, sizeof path, "%s/reg_export.safetensors", getenv("CASSNN_BINARY_DIR"));
    snprintf(cmd, sizeof cmd, "models export %s %s --keyspace " KS, best, path);
    assert_int_equal(reg_run(&out, "%s", cmd), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "models import %s --keyspace " KS, path);
    assert_int_equal(reg_run(&out, "%s", cmd), 0);
    assert_int_equal(strlen(out), 37);
    char imported[37];
    memcpy(imported, out, 36);
    imported[36] = '\0';
    free(out);
    snprintf(cmd, sizeof cmd, "models show %s --keyspace " KS, imported);
    assert_int_equal(reg_run(&out, "%s", cmd), 0);
    assert_non_null(strstr(out, "fc2.bias"));
    free(out);
    /* an imported model without accuracy never wins "best by accuracy" */
    assert_int_equal(reg_run(&out, "models best --keyspace " KS), 0);
    assert_memory_not_equal(out, imported, 36);
    free(out);
    snprintf(cmd, sizeof cmd, "models delete %s --keyspace " KS " 2>/dev/null", imported);
    assert_int_equal(reg_run(&out, "%s", cmd), 0);
    free(out);
    assert_int_equal(reg_run(&out, "%s", cmd), 1); /* gone */
    free(out);
    assert_int_equal(reg_run(&out, "models list --keyspace " KS), 0);
    assert_non_null(strstr(out, "checkpoints"));
    free(out);
    assert_int_equal(reg_run(&out, "models show not-a-uuid --keyspace " KS " 2>/dev/null"), 1);
    free(out);
    free(best);
}

/* Many rows: best must narrow through several SAI range queries. */
static void explain_count(void *user, const char *cql) {
    assert_non_null(strstr(cql, "accuracy >"));
    (*(int *)user)++;
}

static void test_best_narrows_over_many_rows(void **state) {
    (void)state;
    cassnn_err err = {0};
    reg_must(cql_query(S, "TRUNCATE " KS ".models_test", NULL, 0, NULL, &err), &err, "truncate");
    float top = -1;
    uint8_t top_id[16];
    for (int i = 0; i < 260; i++) {
        registry_model m = {.table = REGISTRY_TEST, .epoch = -1, .upload_ms = 1700000000000LL + i};
        reg_must(registry_uuid_v4(m.id, &err), &err, "uuid");
        m.accuracy = (float)((i * 7919) % 1000) / 1000.0f;
        m.loss = 1.0f - m.accuracy;
        m.network = (uint8_t *)"x";
        m.network_len = 1;
        m.optimizer = (uint8_t *)"y";
        m.optimizer_len = 1;
        reg_must(registry_insert(S, KS, &m, &err), &err, "insert");
        if (m.accuracy > top) {
            top = m.accuracy;
            memcpy(top_id, m.id, 16);
        }
    }
    registry_model best;
    int queries = 0;
    reg_must(registry_best(S, KS, REGISTRY_BY_ACCURACY, explain_count, &queries, &best, &err), &err,
             "best");
    assert_memory_equal(best.id, top_id, 16);
    assert_true(queries >= 2); /* 260 rows > LIMIT 100: a first answer, then narrowing */
    reg_must(registry_best(S, KS, REGISTRY_BY_LOSS, NULL, NULL, &best, &err), &err, "best loss");
    assert_memory_equal(best.id, top_id, 16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_reads_both_layouts_exactly),
        cmocka_unit_test(test_feed_reports_a_bad_row),
        cmocka_unit_test(test_train_checkpoints_best_predict_resume),
        cmocka_unit_test(test_models_commands),
        cmocka_unit_test(test_best_narrows_over_many_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
