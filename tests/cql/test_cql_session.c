/* db test: the client against the real node - DDL with schema agreement,
 * every supported type through simple and prepared statements, null/unset,
 * transparent re-prepare, batches, paging past one page, async with
 * backpressure, a per-request timeout, Murmur3 tokens vs the node's token(),
 * and a node that dies mid-way (a real TCP relay in front of the node that
 * cuts or corrupts the stream), schema events pushed by the node, per-node
 * counters, the local data center and a keyspace's local replication
 * factor. Uses its own keyspaces cassnn_cqltest and cassnn_cqlevents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cql/codec.h"
#include "cql/cql_test_env.h"
#include "cql/cql_test_events.h"

static cql_session *S;

static void must(int rc, const cassnn_err *err, const char *what) {
    if (rc) fail_msg("%s: %s", what, err->msg);
}

static int setup(void **state) {
    (void)state;
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.compression = 1;
    /* many requests in flight, but not so many that a busy 2-core test
     * machine makes the node answer WriteTimeout */
    cfg.max_inflight = 128;
    cassnn_err err = {0};
    must(cql_session_open(&S, &cfg, &err), &err, "open");
    must(cql_query(S, "CREATE KEYSPACE IF NOT EXISTS cassnn_cqltest WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}", NULL, 0, NULL, &err), &err, "create ks");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cql_session_close(S);
    return 0;
}

static void ddl_with_schema_agreement(void **state) {
    (void)state;
    cassnn_err err = {0};
    must(cql_query(S, "DROP TABLE IF EXISTS cassnn_cqltest.types", NULL, 0, NULL, &err), &err, "drop");
    cql_result *r;
    must(cql_query(S, "CREATE TABLE cassnn_cqltest.types (id int PRIMARY KEY, i int, b bigint, f float, d double, "
                      "o boolean, t text, v varchar, bl blob, u uuid, tu timeuuid, ts timestamp, li list<int>, "
                      "lb list<bigint>, lf list<float>, ld list<double>, lt list<text>, lu list<uuid>, lo list<boolean>)",
                   NULL, 0, &r, &err), &err, "create");
    assert_int_equal(r->kind, CQL_RESULT_SCHEMA_CHANGE);
    assert_memory_equal(r->schema.change.p, "CREATED", 7);
    cql_result_free(r);
    must(cql_wait_schema_agreement(S, 10000, &err), &err, "agreement");
    /* the table is usable right away */
    must(cql_query(S, "SELECT * FROM cassnn_cqltest.types", NULL, 0, NULL, &err), &err, "select");
    /* AlreadyExists carries its keyspace and table */
    assert_int_equal(cql_query(S, "CREATE TABLE cassnn_cqltest.types (id int PRIMARY KEY)", NULL, 0, NULL, &err), -1);
    assert_int_equal(err.code, CQL_ERR_ALREADY_EXISTS);
}

static const uint8_t U1[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
/* a version-1 (time) uuid */
static const uint8_t TU[16] = {0x5b, 0x6e, 0x1a, 0x80, 0xc9, 0x7e, 0x11, 0xf0, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};

static void insert_row(int prepared, int32_t id) {
    cassnn_err err = {0};
    const char *q = "INSERT INTO cassnn_cqltest.types (id, i, b, f, d, o, t, v, bl, u, tu, ts, li, lb, lf, ld, lt, lu, lo) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const uint8_t px[4] = {0, 7, 128, 255};
    const int64_t lb[2] = {INT64_MIN, 5};
    const float lf[2] = {1.5f, -0.25f};
    const double ld[1] = {1e300};
    const char *lt[2] = {"a", "it's \"q\""};
    uint8_t lu[32];
    memcpy(lu, U1, 16);
    memcpy(lu + 16, TU, 16);
    const uint8_t lo[3] = {1, 0, 1};
    cql_value v[19] = {cql_int(id), cql_int(-42), cql_bigint(INT64_MAX), cql_float(3.25f), cql_double(-2.5e-10),
                       cql_boolean(1), cql_text("héllo, \"world\"\n"), cql_text("v"), cql_blob("\x00\xff\x10", 3),
                       cql_uuid(U1), cql_uuid(TU), cql_timestamp(1795465800123LL), cql_list_int_u8(px, 4),
                       cql_list_bigint(lb, 2), cql_list_float(lf, 2), cql_list_double(ld, 1), cql_list_text(lt, 2),
                       cql_list_uuid(lu, 2), cql_list_boolean(lo, 3)};
    cql_statement st;
    if (prepared) {
        const cql_prepared *p;
        must(cql_prepare(S, q, &p, &err), &err, "prepare");
        st = cql_stmt_prepared(p, v, 19);
    } else {
        st = cql_stmt(q, v, 19);
    }
    must(cql_execute(S, &st, NULL, &err), &err, "insert");
}

static void check_row(int32_t id) {
    cassnn_err err = {0};
    cql_result *r;
    cql_value key = cql_int(id);
    must(cql_query(S, "SELECT id, i, b, f, d, o, t, v, bl, u, tu, ts, li, lb, lf, ld, lt, lu, lo FROM cassnn_cqltest.types WHERE id = ?",
                   &key, 1, &r, &err), &err, "select");
    assert_int_equal(cql_result_row_count(r), 1);
    int32_t i;
    int64_t b, ts;
    float f;
    double d;
    int o;
    cql_str t;
    const uint8_t *bl;
    size_t bln, n;
    uint8_t u[16], px[8];
    int32_t px32[8];
    must(cql_get_int(r, 0, 0, &i, &err), &err, "id");
    assert_int_equal(i, id);
    must(cql_get_int(r, 0, 1, &i, &err), &err, "i");
    assert_int_equal(i, -42);
    must(cql_get_bigint(r, 0, 2, &b, &err), &err, "b");
    assert_true(b == INT64_MAX);
    must(cql_get_float(r, 0, 3, &f, &err), &err, "f");
    assert_true(f == 3.25f);
    must(cql_get_double(r, 0, 4, &d, &err), &err, "d");
    assert_true(d == -2.5e-10);
    must(cql_get_boolean(r, 0, 5, &o, &err), &err, "o");
    assert_int_equal(o, 1);
    must(cql_get_text(r, 0, 6, &t, &err), &err, "t");
    assert_int_equal(t.len, strlen("héllo, \"world\"\n"));
    assert_memory_equal(t.p, "héllo, \"world\"\n", t.len);
    must(cql_get_text(r, 0, 7, &t, &err), &err, "v");
    assert_int_equal(t.len, 1);
    must(cql_get_blob(r, 0, 8, &bl, &bln, &err), &err, "bl");
    assert_int_equal(bln, 3);
    assert_memory_equal(bl, "\x00\xff\x10", 3);
    must(cql_get_uuid(r, 0, 9, u, &err), &err, "u");
    assert_memory_equal(u, U1, 16);
    must(cql_get_uuid(r, 0, 10, u, &err), &err, "tu");
    assert_memory_equal(u, TU, 16);
    must(cql_get_timestamp(r, 0, 11, &ts, &err), &err, "ts");
    assert_true(ts == 1795465800123LL);
    must(cql_get_list_int_u8(r, 0, 12, px, sizeof px, &n, &err), &err, "li");
    assert_int_equal(n, 4);
    assert_int_equal(px[2], 128);
    assert_int_equal(px[3], 255);
    must(cql_get_list_int32(r, 0, 12, px32, 8, &n, &err), &err, "li32");
    assert_int_equal(px32[1], 7);
    /* the other lists, through the generic element accessors + cqlsh text */
    const char *want[] = {"[-9223372036854775808, 5]", "[1.5, -0.25]", "[1e+300]", "['a', 'it''s \"q\"']",
                          "[123e4567-e89b-42d3-a456-426614174000, 5b6e1a80-c97e-11f0-8000-000000000001]",
                          "[True, False, True]"};
    for (int c = 13; c <= 18; c++) {
        cql_buf out = {0};
        cql_cell_format(cql_result_cell(r, 0, c), cql_result_column(r, c)->type, &out, "null");
        cql_buf_u8(&out, 0);
        assert_string_equal((char *)out.data, want[c - 13]);
        cql_buf_free(&out);
    }
    /* type checks */
    assert_int_equal(cql_get_int(r, 0, 2, &i, &err), -1);
    assert_non_null(strstr(err.msg, "bigint read as int"));
    assert_int_equal(cql_get_text(r, 0, 8, &t, &err), -1);
    assert_int_equal(cql_get_int(r, 1, 0, &i, &err), -1); /* no such row */
    cql_result_free(r);
}

static void every_type_simple_and_prepared(void **state) {
    (void)state;
    insert_row(0, 1);
    check_row(1);
    insert_row(1, 2);
    check_row(2);
}

static void null_and_unset(void **state) {
    (void)state;
    cassnn_err err = {0};
    const cql_prepared *p;
    must(cql_prepare(S, "UPDATE cassnn_cqltest.types SET i = ?, t = ? WHERE id = ?", &p, &err), &err, "prepare");
    cql_value v[3] = {cql_null(), cql_unset(), cql_int(2)};
    cql_statement st = cql_stmt_prepared(p, v, 3);
    must(cql_execute(S, &st, NULL, &err), &err, "update");
    cql_result *r;
    must(cql_query(S, "SELECT i, t FROM cassnn_cqltest.types WHERE id = 2", NULL, 0, &r, &err), &err, "select");
    assert_true(cql_cell_is_null(cql_result_cell(r, 0, 0)));
    cql_str t;
    must(cql_get_text(r, 0, 1, &t, &err), &err, "unset kept t"); /* unset left it alone */
    int32_t i;
    assert_int_equal(cql_get_int(r, 0, 0, &i, &err), -1);
    assert_non_null(strstr(err.msg, "null"));
    cql_result_free(r);
    /* prepared statements check bound types client-side */
    cql_value wrong[3] = {cql_text("x"), cql_unset(), cql_int(2)};
    st = cql_stmt_prepared(p, wrong, 3);
    assert_int_equal(cql_execute(S, &st, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "cannot bind a text value to a int column"));
    st = cql_stmt_prepared(p, wrong, 2);
    assert_int_equal(cql_execute(S, &st, NULL, &err), -1);
}

static void reprepare_after_table_recreated(void **state) {
    (void)state;
    cassnn_err err = {0};
    must(cql_query(S, "DROP TABLE IF EXISTS cassnn_cqltest.reprep", NULL, 0, NULL, &err), &err, "drop");
    must(cql_query(S, "CREATE TABLE cassnn_cqltest.reprep (id int PRIMARY KEY, x int)", NULL, 0, NULL, &err), &err, "create");
    const cql_prepared *p;
    must(cql_prepare(S, "INSERT INTO cassnn_cqltest.reprep (id, x) VALUES (?, ?)", &p, &err), &err, "prepare");
    cql_value v[2] = {cql_int(1), cql_int(10)};
    cql_statement st = cql_stmt_prepared(p, v, 2);
    must(cql_execute(S, &st, NULL, &err), &err, "insert 1");
    /* dropping the table evicts the statement from the node's cache: the
     * next EXECUTE gets UNPREPARED and must be re-prepared transparently */
    must(cql_query(S, "DROP TABLE cassnn_cqltest.reprep", NULL, 0, NULL, &err), &err, "drop");
    must(cql_query(S, "CREATE TABLE cassnn_cqltest.reprep (id int PRIMARY KEY, x int)", NULL, 0, NULL, &err), &err, "create");
    v[0] = cql_int(2);
    must(cql_execute(S, &st, NULL, &err), &err, "insert after re-create");
    cql_result *r;
    must(cql_query(S, "SELECT x FROM cassnn_cqltest.reprep WHERE id = 2", NULL, 0, &r, &err), &err, "select");
    assert_int_equal(cql_result_row_count(r), 1);
    cql_result_free(r);
}

static void batches_logged_and_unlogged(void **state) {
    (void)state;
    cassnn_err err = {0};
    must(cql_query(S, "CREATE TABLE IF NOT EXISTS cassnn_cqltest.batches (k int, c int, x text, PRIMARY KEY (k, c))", NULL, 0,
                   NULL, &err), &err, "create");
    must(cql_query(S, "TRUNCATE cassnn_cqltest.batches", NULL, 0, NULL, &err), &err, "truncate");
    const cql_prepared *p;
    must(cql_prepare(S, "INSERT INTO cassnn_cqltest.batches (k, c, x) VALUES (?, ?, ?)", &p, &err), &err, "prepare");
    for (int type = CQL_BATCH_LOGGED; type <= CQL_BATCH_UNLOGGED; type++) {
        cql_value v[10][3];
        cql_statement st[11];
        for (int i = 0; i < 10; i++) {
            v[i][0] = cql_int(type);
            v[i][1] = cql_int(i);
            v[i][2] = cql_text("b");
            st[i] = cql_stmt_prepared(p, v[i], 3);
        }
        cql_value extra[2] = {cql_int(type), cql_int(100)};
        st[10] = cql_stmt("INSERT INTO cassnn_cqltest.batches (k, c) VALUES (?, ?)", extra, 2);
        must(cql_batch(S, (cql_batch_type)type, st, 11, &err), &err, "batch");
    }
    cql_result *r;
    must(cql_query(S, "SELECT count(*) FROM cassnn_cqltest.batches", NULL, 0, &r, &err), &err, "count");
    int64_t n;
    must(cql_get_bigint(r, 0, 0, &n, &err), &err, "count");
    assert_int_equal(n, 22);
    cql_result_free(r);
}

#define PAGED_ROWS 2500

static atomic_int cb_ok, cb_fail;
static void count_cb(void *user, cql_result *r, const cassnn_err *err) {
    (void)user;
    (void)err;
    if (r) atomic_fetch_add(&cb_ok, 1);
    else atomic_fetch_add(&cb_fail, 1);
    cql_result_free(r);
}

static void async_inserts_then_paging(void **state) {
    (void)state;
    cassnn_err err = {0};
    must(cql_query(S, "CREATE TABLE IF NOT EXISTS cassnn_cqltest.paged (id int PRIMARY KEY, pixels list<int>)", NULL, 0,
                   NULL, &err), &err, "create");
    must(cql_query(S, "TRUNCATE cassnn_cqltest.paged", NULL, 0, NULL, &err), &err, "truncate");
    const cql_prepared *p;
    must(cql_prepare(S, "INSERT INTO cassnn_cqltest.paged (id, pixels) VALUES (?, ?)", &p, &err), &err, "prepare");
    uint8_t px[784];
    /* half through futures, half through callbacks */
    cql_future *fs[PAGED_ROWS / 2];
    for (int i = 0; i < PAGED_ROWS; i++) {
        for (int k = 0; k < 784; k++) px[k] = (uint8_t)(i + k);
        cql_value v[2] = {cql_int(i), cql_list_int_u8(px, 784)};
        cql_statement st = cql_stmt_prepared(p, v, 2);
        if (i % 2 == 0) {
            fs[i / 2] = cql_execute_async(S, &st, &err);
            assert_non_null(fs[i / 2]);
        } else {
            must(cql_execute_cb(S, &st, count_cb, NULL, &err), &err, "submit cb");
        }
    }
    for (int i = 0; i < PAGED_ROWS / 2; i++) must(cql_future_wait(fs[i], NULL, &err), &err, "future");
    cql_session_drain(S);
    assert_int_equal(atomic_load(&cb_ok), PAGED_ROWS / 2);
    assert_int_equal(atomic_load(&cb_fail), 0);

    /* pager: every row exactly once, over many pages */
    cql_statement st = cql_stmt("SELECT id, pixels FROM cassnn_cqltest.paged", NULL, 0);
    st.page_size = 300;
    cql_pager *pg;
    must(cql_pager_open(S, &st, &pg, &err), &err, "pager");
    static uint8_t seen[PAGED_ROWS];
    memset(seen, 0, sizeof seen);
    int pages = 0, rows = 0, rc;
    const cql_result *page;
    while ((rc = cql_pager_next(pg, &page, &err)) == 1) {
        pages++;
        assert_true(cql_result_row_count(page) <= 300);
        for (int32_t i = 0; i < cql_result_row_count(page); i++) {
            int32_t id;
            size_t n;
            must(cql_get_int(page, i, 0, &id, &err), &err, "id");
            must(cql_get_list_int_u8(page, i, 1, px, sizeof px, &n, &err), &err, "pixels");
            assert_int_equal(n, 784);
            assert_int_equal(px[5], (uint8_t)(id + 5));
            assert_true(id >= 0 && id < PAGED_ROWS);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
            rows++;
        }
    }
    must(rc, &err, "pager next");
    cql_pager_close(pg);
    assert_int_equal(rows, PAGED_ROWS);
    assert_true(pages >= PAGED_ROWS / 300);

    /* manual paging state, token-range restricted: same rows */
    int total = 0;
    const cql_prepared *scan;
    must(cql_prepare(S, "SELECT id FROM cassnn_cqltest.paged WHERE token(id) > ? AND token(id) <= ?", &scan, &err), &err,
         "prepare scan");
    int64_t bounds[3] = {INT64_MIN, 0, INT64_MAX};
    for (int rng = 0; rng < 2; rng++) {
        cql_value v[2] = {cql_bigint(bounds[rng]), cql_bigint(bounds[rng + 1])};
        cql_statement sst = cql_stmt_prepared(scan, v, 2);
        sst.page_size = 1000;
        uint8_t state_copy[256];
        for (;;) {
            cql_result *r;
            must(cql_execute(S, &sst, &r, &err), &err, "scan page");
            total += cql_result_row_count(r);
            size_t len;
            const uint8_t *ps = cql_result_paging_state(r, &len);
            if (!ps) {
                cql_result_free(r);
                break;
            }
            assert_true(len <= sizeof state_copy);
            memcpy(state_copy, ps, len);
            sst.paging_state = state_copy;
            sst.paging_state_len = len;
            cql_result_free(r);
        }
    }
    /* token(id) > MIN excludes only a key hashing to MIN itself (none here) */
    assert_int_equal(total, PAGED_ROWS);
}

static void murmur3_matches_the_node(void **state) {
    (void)state;
    cassnn_err err = {0};
    cql_result *r;
    must(cql_query(S, "SELECT id, token(id) FROM cassnn_cqltest.paged LIMIT 200", NULL, 0, &r, &err), &err, "tokens");
    assert_true(cql_result_row_count(r) > 100);
    for (int32_t i = 0; i < cql_result_row_count(r); i++) {
        int32_t id;
        int64_t tok;
        must(cql_get_int(r, i, 0, &id, &err), &err, "id");
        must(cql_get_bigint(r, i, 1, &tok, &err), &err, "token");
        uint8_t key[4] = {(uint8_t)((uint32_t)id >> 24), (uint8_t)((uint32_t)id >> 16), (uint8_t)((uint32_t)id >> 8),
                          (uint8_t)id};
        assert_true(cql_murmur3_token(key, 4) == tok);
    }
    cql_result_free(r);
    /* text keys of every tail length 1..40 exercise the sign-extended tail */
    must(cql_query(S, "CREATE TABLE IF NOT EXISTS cassnn_cqltest.tk (k text PRIMARY KEY)", NULL, 0, NULL, &err), &err, "create");
    char key[64];
    for (int len = 1; len <= 40; len++) {
        /* valid UTF-8; the bytes >= 0x80 of 'é' test the sign-extended tail */
        for (int i = 0; i < len; i++) key[i] = (char)('a' + (i * 7 + len) % 26);
        if (len >= 2) memcpy(key + len - 2, "\xc3\xa9", 2);
        key[len] = 0;
        cql_value v = cql_text(key);
        must(cql_query(S, "INSERT INTO cassnn_cqltest.tk (k) VALUES (?)", &v, 1, NULL, &err), &err, "insert");
        must(cql_query(S, "SELECT token(k) FROM cassnn_cqltest.tk WHERE k = ?", &v, 1, &r, &err), &err, "token");
        int64_t tok;
        must(cql_get_bigint(r, 0, 0, &tok, &err), &err, "token");
        assert_true(cql_murmur3_token((const uint8_t *)key, (size_t)len) == tok);
        cql_result_free(r);
    }
}

static void per_request_timeout(void **state) {
    (void)state;
    cassnn_err err = {0};
    /* 400 rows x 784 ints (~2.5 MB) in one page: far more than 1 ms of
     * work, yet small enough not to strain the shared node */
    cql_statement st = cql_stmt("SELECT * FROM cassnn_cqltest.paged LIMIT 400", NULL, 0);
    st.page_size = -1;
    st.timeout_ms = 1;
    int64_t t0 = (int64_t)time(NULL);
    assert_int_equal(cql_execute(S, &st, NULL, &err), -1);
    assert_int_equal(err.code, CQL_ERR_CLIENT_TIMEOUT);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_true((int64_t)time(NULL) - t0 < 5);
    /* the connection stays usable: the late answer is discarded */
    cql_result *r;
    must(cql_query(S, "SELECT count(*) FROM cassnn_cqltest.paged", NULL, 0, &r, &err), &err, "after timeout");
    cql_result_free(r);
}

/* ------------------------------------------- a node that dies mid-way */

typedef struct relay {
    int listen_fd, port;
    int upstream_port;
    atomic_int mode; /* 0 relay, 1 cut every connection, 2 send garbage then cut */
    atomic_int stop;
    pthread_t thread;
} relay;

/* The real node: $CASSNN_HOST (an IPv4 address; default 127.0.0.1). */
static int connect_upstream(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    const char *h = getenv("CASSNN_HOST");
    inet_pton(AF_INET, h && *h ? h : "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One thread relays every connection pair with poll(). The node closing
 * its side ends every pair (the node died); a client closing one of its
 * connections ends only that pair. */
static void *relay_main(void *arg) {
    relay *rl = arg;
    struct pollfd fds[64];
    int peer[64];
    int n = 1;
    fds[0] = (struct pollfd){rl->listen_fd, POLLIN, 0};
    while (!atomic_load(&rl->stop)) {
        int mode = atomic_load(&rl->mode);
        if (mode) {
            for (int i = 1; i < n; i++) {
                if (mode == 2 && i % 2 == 1) (void)!write(fds[i].fd, "\x84\x00\x00\x05\x99garbage!!", 14);
                shutdown(fds[i].fd, SHUT_RDWR);
                close(fds[i].fd);
            }
            n = 1;
        }
        if (poll(fds, (nfds_t)n, 20) <= 0) continue;
        if (fds[0].revents & POLLIN) {
            int c = accept(rl->listen_fd, NULL, NULL);
            int u = c >= 0 ? connect_upstream(rl->upstream_port) : -1;
            if (c >= 0 && u >= 0 && n + 2 <= 64 && !mode) {
                fds[n] = (struct pollfd){c, POLLIN, 0};
                fds[n + 1] = (struct pollfd){u, POLLIN, 0};
                peer[n] = n + 1;
                peer[n + 1] = n;
                n += 2;
            } else {
                if (c >= 0) close(c);
                if (u >= 0) close(u);
            }
        }
        for (int i = 1; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[65536];
            ssize_t k = read(fds[i].fd, buf, sizeof buf);
            if (k > 0 && write(fds[peer[i]].fd, buf, (size_t)k) == k) continue;
            int client = k <= 0 ? i % 2 == 1 : peer[i] % 2 == 1; /* which side is gone */
            if (!client) {
                atomic_store(&rl->mode, 1); /* the node is gone: cut everything */
                break;
            }
            /* the client closed this connection (pairs are client, node) */
            int first = i % 2 == 1 ? i : i - 1;
            close(fds[first].fd);
            close(fds[first + 1].fd);
            memmove(&fds[first], &fds[first + 2], (size_t)(n - first - 2) * sizeof fds[0]);
            n -= 2;
            for (int j = 1; j < n; j++) peer[j] = j % 2 == 1 ? j + 1 : j - 1;
            break; /* revents of the moved entries belong to the next poll */
        }
    }
    for (int i = 0; i < n; i++) close(fds[i].fd);
    return NULL;
}

/* Listens on addr:port (port 0: any free port). */
static void relay_start_at(relay *rl, const char *addr, int port) {
    memset(rl, 0, sizeof *rl);
    const char *p = getenv("CASSNN_PORT");
    rl->upstream_port = p && *p ? atoi(p) : 9042;
    rl->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &a.sin_addr);
    assert_int_equal(bind(rl->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(rl->listen_fd, 16), 0);
    socklen_t l = sizeof a;
    getsockname(rl->listen_fd, (struct sockaddr *)&a, &l);
    rl->port = ntohs(a.sin_port);
    pthread_create(&rl->thread, NULL, relay_main, rl);
}

static void relay_start(relay *rl) { relay_start_at(rl, "127.0.0.1", 0); }

static void relay_stop(relay *rl) {
    atomic_store(&rl->stop, 1);
    pthread_join(rl->thread, NULL);
}

static void node_dies_mid_way(int mode) {
    relay rl;
    relay_start(&rl);
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.contact_points = "127.0.0.1";
    cfg.port = rl.port;
    cfg.discover_peers = 0; /* the peers' real addresses would bypass the relay */
    cfg.request_timeout_ms = 20000;
    cfg.retry_budget_ms = 1000; /* how long a request waits for a node to come back */
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "open through relay");
    must(cql_query(s, "SELECT count(*) FROM cassnn_cqltest.paged", NULL, 0, NULL, &err), &err, "query via relay");
    /* many requests in flight, then the node "dies" */
    cql_future *fs[200];
    for (int i = 0; i < 200; i++) {
        /* small answers: a node whose client stops reading buffers them all */
        cql_statement st = cql_stmt("SELECT id FROM cassnn_cqltest.paged LIMIT 50", NULL, 0);
        fs[i] = cql_execute_async(s, &st, &err);
        assert_non_null(fs[i]);
    }
    atomic_store(&rl.mode, mode);
    time_t t0 = time(NULL);
    int failed = 0;
    for (int i = 0; i < 200; i++) {
        if (cql_future_wait(fs[i], NULL, &err)) {
            failed++;
            assert_true(err.code == CQL_ERR_CONNECTION || err.code == CQL_ERR_NO_HOST);
        }
    }
    assert_true(failed > 0);
    /* later requests fail fast: the node is marked down */
    assert_int_equal(cql_query(s, "SELECT count(*) FROM cassnn_cqltest.paged", NULL, 0, NULL, &err), -1);
    assert_true(err.code == CQL_ERR_NO_HOST || err.code == CQL_ERR_CONNECTION);
    assert_true(time(NULL) - t0 < 10); /* no hang (the request timeout is 20 s) */
    cql_session_close(s);
    relay_stop(&rl);
}

static void node_cut_mid_way(void **state) {
    (void)state;
    node_dies_mid_way(1);
}

static void node_sends_garbage(void **state) {
    (void)state;
    node_dies_mid_way(2);
}

/* Two "nodes" (relays on 127.0.0.1:P and 127.0.0.3:P in front of the real
 * node). When the first dies, idempotent requests in flight on it are
 * retried on the second, and new requests avoid the node marked down. */
static void idempotent_requests_fail_over(void **state) {
    (void)state;
    relay a, b;
    relay_start(&a);
    relay_start_at(&b, "127.0.0.3", a.port);
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.contact_points = "127.0.0.1,127.0.0.3";
    cfg.port = a.port;
    cfg.discover_peers = 0;
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "open through two relays");
    int up;
    assert_int_equal(cql_session_hosts(s, &up), 2);
    assert_int_equal(up, 2);
    enum { N = 300 };
    cql_future *fs[N];
    for (int i = 0; i < N; i++) {
        /* small answers: the test relay is a simple single-threaded pump,
         * and a node whose client stops reading buffers its answers */
        cql_statement st = cql_stmt("SELECT id FROM cassnn_cqltest.paged LIMIT 20", NULL, 0);
        st.idempotent = 1;
        fs[i] = cql_execute_async(s, &st, &err);
        if (!fs[i]) fail_msg("submit %d: %s", i, err.msg);
        if (i == N / 3) atomic_store(&a.mode, 1); /* node A dies with requests in flight */
    }
    for (int i = 0; i < N; i++) must(cql_future_wait(fs[i], NULL, &err), &err, "idempotent request after failover");
    usleep(100 * 1000);
    cql_session_hosts(s, &up);
    assert_int_equal(up, 1);
    for (int i = 0; i < 20; i++) /* not idempotent, but A is known down: all go to B */
        must(cql_query(s, "SELECT count(*) FROM cassnn_cqltest.batches", NULL, 0, NULL, &err), &err, "after failover");
    cql_session_close(s);
    relay_stop(&a);
    relay_stop(&b);
}

static void nothing_listening_is_a_clean_error(void **state) {
    (void)state;
    relay rl;
    relay_start(&rl);
    int port = rl.port;
    relay_stop(&rl); /* the port is now closed */
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.port = port;
    cql_session *s;
    cassnn_err err = {0};
    assert_int_equal(cql_session_open(&s, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "connect"));
}

static void schema_events_are_pushed(void **state) {
    (void)state;
    event_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.on_event = event_log_add;
    cfg.event_user = &log;
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "open");
    /* The DDL goes through the other session: events reach every REGISTERed
     * connection, not only the one that asked. */
    must(cql_query(S, "DROP KEYSPACE IF EXISTS cassnn_cqlevents", NULL, 0, NULL, &err), &err, "drop");
    must(cql_query(S, "CREATE KEYSPACE cassnn_cqlevents WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}", NULL, 0, NULL, &err), &err, "create ks");
    must(cql_query(S, "CREATE TABLE cassnn_cqlevents.t (id int PRIMARY KEY)", NULL, 0, NULL, &err), &err, "create");
    if (!event_log_wait(&log, "SCHEMA_CHANGE CREATED  cassnn_cqlevents ", 20))
        fail_msg("no SCHEMA_CHANGE CREATED event for the keyspace (%d events seen)", log.n);
    if (!event_log_wait(&log, "SCHEMA_CHANGE CREATED  cassnn_cqlevents t", 20))
        fail_msg("no SCHEMA_CHANGE CREATED event for the table (%d events seen)", log.n);
    must(cql_query(S, "DROP KEYSPACE cassnn_cqlevents", NULL, 0, NULL, &err), &err, "drop");
    if (!event_log_wait(&log, "SCHEMA_CHANGE DROPPED  cassnn_cqlevents ", 20))
        fail_msg("no SCHEMA_CHANGE DROPPED event (%d events seen)", log.n);

    /* One node: every token routes to it, and it is named as connected. */
    int order[4];
    assert_int_equal(cql_session_route(s, NULL, cql_murmur3_token((const uint8_t *)"\0\0\0\x07", 4), order, 4), 1);
    assert_non_null(cql_session_host_name(s, order[0]));
    assert_null(cql_session_host_name(s, 1));
    cql_session_close(s);
}

/* The node the session knows, its data center as the local one, what it was
 * sent, and the local replication factor of a keyspace. */
static void local_dc_host_stats_and_replication(void **state) {
    (void)state;
    cql_host_stats before, after;
    assert_int_equal(cql_session_hosts(S, NULL), 1);
    assert_int_equal(cql_session_host_stats(S, 0, &before), 0);
    assert_int_equal(cql_session_host_stats(S, 1, &after), -1);
    assert_true(before.up && before.has_host_id && *before.dc && *before.rack);
    cassnn_err err = {0};
    for (int i = 0; i < 5; i++)
        must(cql_query(S, "SELECT id FROM cassnn_cqltest.paged LIMIT 1", NULL, 0, NULL, &err), &err, "select");
    assert_int_equal(cql_session_host_stats(S, 0, &after), 0);
    assert_true(after.requests == before.requests + 5);
    assert_true(after.errors == before.errors);
    assert_int_equal(cql_query(S, "SELECT nothing FROM nowhere.at_all", NULL, 0, NULL, &err), -1);
    assert_int_equal(cql_session_host_stats(S, 0, &after), 0);
    assert_true(after.errors == before.errors + 1); /* an error answer counts, and is not retried */
    assert_true(after.requests == before.requests + 6);

    int rf = 0;
    must(cql_keyspace_local_rf(S, "cassnn_cqltest", &rf, &err), &err, "local rf");
    assert_int_equal(rf, 1);
    assert_int_equal(cql_keyspace_local_rf(S, "cassnn_no_such_keyspace", &rf, &err), -1);
    assert_non_null(strstr(err.msg, "does not exist"));

    /* the local DC by name; one the cluster does not have is refused with the ones it has */
    cql_config cfg;
    cql_test_config(&cfg);
    cfg.local_dc = before.dc;
    cql_session *s;
    must(cql_session_open(&s, &cfg, &err), &err, "open with the node's DC");
    int order[4];
    assert_int_equal(cql_session_route(s, "cassnn_cqltest", 42, order, 4), 1);
    cql_session_close(s);
    cfg.local_dc = "no-such-dc";
    assert_int_equal(cql_session_open(&s, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "local data center 'no-such-dc' has no node"));
    assert_non_null(strstr(err.msg, before.dc));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ddl_with_schema_agreement),
        cmocka_unit_test(every_type_simple_and_prepared),
        cmocka_unit_test(null_and_unset),
        cmocka_unit_test(reprepare_after_table_recreated),
        cmocka_unit_test(batches_logged_and_unlogged),
        cmocka_unit_test(async_inserts_then_paging),
        cmocka_unit_test(murmur3_matches_the_node),
        cmocka_unit_test(per_request_timeout),
        cmocka_unit_test(node_cut_mid_way),
        cmocka_unit_test(node_sends_garbage),
        cmocka_unit_test(idempotent_requests_fail_over),
        cmocka_unit_test(nothing_listening_is_a_clean_error),
        cmocka_unit_test(schema_events_are_pushed),
        cmocka_unit_test(local_dc_host_stats_and_replication),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
