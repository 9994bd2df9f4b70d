/* test_stream_db.c - the streaming feed (stream.h) on a real node: a
 * generated blob table of N rows whose label is the row id and whose pixels
 * are a function of the id, streamed through a shuffle buffer much smaller
 * than the table. Every row comes exactly once per epoch with its own
 * pixels, the same seed gives the same order and a resumed epoch its tail,
 * another epoch another order; the stream's memory stays within the budget;
 * a bad row is an error naming the table and id, and a table dropped under
 * the readers an error after the retries (not a hang); the row count and
 * the size estimate. Keyspace cassnn_test_stream, dropped first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/stream.h"
#include "cql/cql_test_env.h"

#define KS "cassnn_test_stream"
enum { N = 1500, PIXELS = 784, BAD_ID = 777 };

static cql_session *S;

static void must(int rc, const cassnn_err *err, const char *what) {
    if (rc) fail_msg("%s: %s", what, err->msg);
}

static uint8_t pixel_of(int id, int k) { return (uint8_t)((id * 7 + k * 3) % 256); }

static void insert_rows(const char *table, int n, int bad_id) {
    cassnn_err err = {0};
    char q[200];
    snprintf(q, sizeof q, "INSERT INTO " KS ".%s (id, label, pixels) VALUES (?, ?, ?)", table);
    const cql_prepared *insert;
    must(cql_prepare(S, q, &insert, &err), &err, q);
    for (int id = 0; id < n; id++) {
        uint8_t px[PIXELS];
        for (int k = 0; k < PIXELS; k++) px[k] = pixel_of(id, k);
        cql_value v[3] = {cql_int(id), cql_int(id), cql_blob(px, id == bad_id ? PIXELS - 1 : PIXELS)};
        cql_statement st = cql_stmt_prepared(insert, v, 3);
        must(cql_execute(S, &st, NULL, &err), &err, "insert");
    }
}

static int setup(void **state) {
    (void)state;
    cql_config cfg;
    cql_test_config(&cfg);
    cassnn_err err = {0};
    must(cql_session_open(&S, &cfg, &err), &err, "connect to the test node");
    const char *ddl[] = {
        "DROP KEYSPACE IF EXISTS " KS,
        "CREATE KEYSPACE " KS " WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': 1}",
        "CREATE TABLE " KS ".raw_train_blob (id int PRIMARY KEY, label int, pixels blob)",
        "CREATE TABLE " KS ".raw_bad_blob (id int PRIMARY KEY, label int, pixels blob)",
    };
    for (size_t i = 0; i < sizeof ddl / sizeof *ddl; i++)
        must(cql_query(S, ddl[i], NULL, 0, NULL, &err), &err, ddl[i]);
    insert_rows("raw_train_blob", N, -1);
    insert_rows("raw_bad_blob", N, BAD_ID);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cassnn_err err = {0};
    cql_query(S, "DROP KEYSPACE IF EXISTS " KS, NULL, 0, NULL, &err);
    cql_session_close(S);
    return 0;
}

/* A budget far below the table (N rows = ~1.2 MB in memory): small pages. */
static data_stream_options small_budget(int shuffle, uint64_t seed) {
    data_stream_options o = {.scan = {.ranges = 16, .threads = 3, .page_size = 25},
                             .memory_budget = 400 * 1024, .shuffle = shuffle, .seed = seed,
                             .mean = 0.0f, .std = 1.0f};
    return o;
}

/* One epoch's ids (the labels), checking each image's pixels against its id
 * (x = pixel / 255 with mean 0, std 1). Returns how many. */
static long read_epoch(data_stream *st, int epoch, long resume_at, int32_t *ids) {
    cassnn_err err = {0};
    nn_batch_source b = data_stream_batches(st);
    assert_int_equal(b.size(b.ctx), N);
    data_stream_resume_at(st, resume_at);
    must(b.begin_epoch(b.ctx, epoch, &err), &err, "begin_epoch");
    static float x[64 * PIXELS];
    int32_t labels[64];
    long n = 0;
    for (int got; (got = b.next(b.ctx, x, labels, 64, &err)) != 0; n += got) {
        must(got < 0, &err, "next");
        for (int i = 0; i < got; i++) {
            assert_true(n + i < N);
            ids[n + i] = labels[i];
            for (int k = 0; k < PIXELS; k += 97)
                assert_true(x[i * PIXELS + k] == (float)pixel_of(labels[i], k) / 255.0f);
        }
    }
    return n;
}

static void assert_each_id_once(const int32_t *ids, long n) {
    assert_int_equal(n, N);
    static char seen[N];
    memset(seen, 0, sizeof seen);
    for (long i = 0; i < n; i++) {
        assert_true(ids[i] >= 0 && ids[i] < N);
        assert_false(seen[ids[i]]);
        seen[ids[i]] = 1;
    }
}

static void test_every_row_once_same_seed_same_order(void **state) {
    (void)state;
    cassnn_err err = {0};
    data_stream_options o = small_budget(1, 42);
    data_stream *a, *b;
    must(data_stream_open(&a, S, KS, "raw_train_blob", &o, &err), &err, "open");
    must(data_stream_open(&b, S, KS, "raw_train_blob", &o, &err), &err, "open");
    /* the budget holds the buffer, the slots and the pages; the buffer is a
     * fraction of the table */
    assert_true(data_stream_memory(a) <= o.memory_budget);
    assert_true(data_stream_buffer_rows(a) >= 64 && data_stream_buffer_rows(a) < N / 2);
    const data_table_size size = {.rows = N, .shape = {1, 28, 28}};
    assert_true(data_load_once_bytes(&size) > o.memory_budget);

    static int32_t e1[N], e1_again[N], e2[N], tail[N];
    assert_each_id_once(e1, read_epoch(a, 1, 0, e1));
    assert_each_id_once(e2, read_epoch(a, 2, 0, e2));
    assert_each_id_once(e1_again, read_epoch(b, 1, 0, e1_again));
    assert_memory_equal(e1, e1_again, sizeof e1);      /* same seed, same epoch */
    assert_memory_not_equal(e1, e2, sizeof e1);        /* another epoch */
    /* a resumed epoch is the tail of the uninterrupted one */
    assert_int_equal(read_epoch(b, 1, 700, tail), N - 700);
    assert_memory_equal(tail, e1 + 700, (N - 700) * sizeof *tail);
    /* shuffled: far from token order or id order */
    long in_order = 0;
    for (long i = 1; i < N; i++) in_order += e1[i] == e1[i - 1] + 1;
    assert_true(in_order < N / 20);
    data_stream_close(a);
    data_stream_close(b);

    /* another seed, another order */
    o.seed = 43;
    must(data_stream_open(&a, S, KS, "raw_train_blob", &o, &err), &err, "open");
    assert_each_id_once(e2, read_epoch(a, 1, 0, e2));
    assert_memory_not_equal(e1, e2, sizeof e1);
    data_stream_close(a);
}

static void test_unshuffled_and_abandoned_epochs(void **state) {
    (void)state;
    cassnn_err err = {0};
    data_stream_options o = small_budget(0, 0);
    data_stream *st;
    must(data_stream_open(&st, S, KS, "raw_train_blob", &o, &err), &err, "open");
    assert_int_equal(data_stream_buffer_rows(st), 1);
    static int32_t ids[N], again[N];
    assert_each_id_once(ids, read_epoch(st, 1, 0, ids));
    /* an epoch left after one batch, then a full one: the same order */
    nn_batch_source b = data_stream_batches(st);
    static float x[64 * PIXELS];
    int32_t labels[64];
    must(b.begin_epoch(b.ctx, 2, &err), &err, "begin");
    assert_int_equal(b.next(b.ctx, x, labels, 64, &err), 64);
    assert_each_id_once(again, read_epoch(st, 3, 0, again));
    assert_memory_equal(ids, again, sizeof ids);
    /* closed mid-epoch: the readers are stopped and joined (ASan: no leak) */
    must(b.begin_epoch(b.ctx, 4, &err), &err, "begin");
    assert_int_equal(b.next(b.ctx, x, labels, 10, &err), 10);
    data_stream_close(st);
}

static void test_bad_row_names_table_and_id(void **state) {
    (void)state;
    cassnn_err err = {0};
    data_stream_options o = small_budget(1, 1);
    data_stream *st;
    must(data_stream_open(&st, S, KS, "raw_bad_blob", &o, &err), &err, "open");
    nn_batch_source b = data_stream_batches(st);
    static float x[64 * PIXELS];
    int32_t labels[64];
    int got = b.begin_epoch(b.ctx, 1, &err);
    while (got == 0 && (got = b.next(b.ctx, x, labels, 64, &err)) > 0) got = 0;
    assert_int_equal(got, -1);
    assert_non_null(strstr(err.msg, KS ".raw_bad_blob id 777"));
    assert_non_null(strstr(err.msg, "783 pixels"));
    data_stream_close(st);
}

/* The node failing mid-epoch (here: the table dropped under the readers)
 * is an error after the retries, not a hang. */
static void test_node_failure_mid_epoch_is_an_error(void **state) {
    (void)state;
    cassnn_err err = {0};
    must(cql_query(S, "CREATE TABLE " KS ".raw_drop_blob (id int PRIMARY KEY, label int, pixels blob)",
                   NULL, 0, NULL, &err), &err, "create");
    insert_rows("raw_drop_blob", N, -1);
    data_stream_options o = small_budget(1, 1);
    data_stream *st;
    must(data_stream_open(&st, S, KS, "raw_drop_blob", &o, &err), &err, "open");
    nn_batch_source b = data_stream_batches(st);
    static float x[64 * PIXELS];
    int32_t labels[64];
    must(b.begin_epoch(b.ctx, 1, &err), &err, "begin");
    assert_int_equal(b.next(b.ctx, x, labels, 64, &err), 64);
    must(cql_query(S, "DROP TABLE " KS ".raw_drop_blob", NULL, 0, NULL, &err), &err, "drop");
    int got;
    long images = 64;
    while ((got = b.next(b.ctx, x, labels, 64, &err)) > 0) images += got;
    assert_int_equal(got, -1);
    assert_true(images < N);
    assert_non_null(strstr(err.msg, "reading " KS ".raw_drop_blob"));
    print_message("the error: %s\n", err.msg);
    data_stream_close(st);
}

static void test_budget_too_small_is_an_error(void **state) {
    (void)state;
    cassnn_err err = {0};
    data_stream_options o = small_budget(1, 1);
    o.memory_budget = 64 * 1024;
    data_stream *st;
    assert_int_equal(data_stream_open(&st, S, KS, "raw_train_blob", &o, &err), -1);
    assert_null(st);
    assert_non_null(strstr(err.msg, "too small"));
    /* with the page size left to the stream, it shrinks its pages to fit */
    o.scan.page_size = 0;
    o.memory_budget = 200 * 1024;
    must(data_stream_open(&st, S, KS, "raw_train_blob", &o, &err), &err, "open, auto pages");
    assert_true(data_stream_memory(st) <= o.memory_budget);
    data_stream_close(st);
}

static void test_row_count_and_estimate(void **state) {
    (void)state;
    cassnn_err err = {0};
    long rows;
    must(data_table_count(S, KS, "raw_train_blob", NULL, &rows, &err), &err, "count");
    assert_int_equal(rows, N);
    data_table_size size;
    must(data_table_size_of(S, KS, "raw_train_blob", &size, &err), &err, "size");
    /* a small table is counted; a large one estimated from a sample */
    if (size.estimated) assert_true(size.rows > N / 2 && size.rows < 2 * N);
    else assert_int_equal(size.rows, N);
    assert_true(size.shape.channels == 1 && size.shape.rows == 28 && size.shape.cols == 28);
    size_t bytes;
    assert_int_equal(data_parse_size("64M", &bytes), 0);
    assert_int_equal(bytes, 64u << 20);
    assert_int_equal(data_parse_size("2G", &bytes), 0);
    assert_int_equal(bytes, (size_t)2 << 30);
    assert_int_equal(data_parse_size("1.5k", &bytes), 0);
    assert_int_equal(bytes, 1536);
    assert_int_equal(data_parse_size("12MB", &bytes), -1);
    assert_int_equal(data_parse_size("-1M", &bytes), -1);
    assert_int_equal(data_parse_size("", &bytes), -1);
    assert_true(data_default_memory_budget() > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row_once_same_seed_same_order),
        cmocka_unit_test(test_unshuffled_and_abandoned_epochs),
        cmocka_unit_test(test_bad_row_names_table_and_id),
        cmocka_unit_test(test_node_failure_mid_epoch_is_an_error),
        cmocka_unit_test(test_budget_too_small_is_an_error),
        cmocka_unit_test(test_row_count_and_estimate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
