/* cql_bench - the cassnn CQL client on the tutorial workload: insert the
 * 70,000 MNIST images (60,000 train + 10,000 test) into raw_train/raw_test
 * (id int PRIMARY KEY, label int, pixels list<int>) with one prepared INSERT
 * and a bounded number of requests in flight, then scan both tables whole
 * with paging, decoding every pixel list into uint8. Prints one line per
 * phase: rows, wall seconds, rows/s and this process's CPU seconds.
 *
 * bench/cql_bench.sh runs it and bench/cql_bench_python.py (the official
 * Python driver, same statements) in the same run against the same node.
 *
 * usage: cql_bench [--host H] [--port P] [--keyspace KS] [--concurrency N]
 *                  [--page-size N] [--data DIR] [--phase insert|scan|all]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cassnn/cql.h"
#include "cassnn/idx.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
           (double)u.ru_stime.tv_usec / 1e6;
}

static atomic_long failures;
static cassnn_err first_failure;

static void insert_done(void *user, cql_result *r, const cassnn_err *err) {
    (void)user;
    if (!r && atomic_fetch_add(&failures, 1) == 0) first_failure = *err;
    cql_result_free(r);
}

static int run(cql_session *s, const char *q, cassnn_err *err) {
    if (cql_query(s, q, NULL, 0, NULL, err)) return cassnn_err_wrap(err, "%s", q);
    return 0;
}

static int insert_set(cql_session *s, const char *ks, const char *table, const data_images *set, cassnn_err *err) {
    char q[256];
    snprintf(q, sizeof q, "INSERT INTO %s.%s (id, label, pixels) VALUES (?, ?, ?)", ks, table);
    const cql_prepared *p;
    if (cql_prepare(s, q, &p, err)) return -1;
    size_t n = data_image_size(set);
    for (size_t i = 0; i < set->count; i++) {
        cql_value v[3] = {cql_int((int32_t)i), cql_int(set->labels[i]), cql_list_int_u8(set->pixels + i * n, n)};
        cql_statement st = cql_stmt_prepared(p, v, 3);
        st.idempotent = 1; /* an upsert of the same row: safe to retry */
        if (cql_execute_cb(s, &st, insert_done, NULL, err)) return cassnn_err_wrap(err, "%s row %zu", table, i);
    }
    return 0;
}

static int scan_table(cql_session *s, const char *ks, const char *table, int page_size, long *rows, long *pixel_sum,
                      cassnn_err *err) {
    char q[256];
    snprintf(q, sizeof q, "SELECT id, label, pixels FROM %s.%s", ks, table);
    cql_statement st = cql_stmt(q, NULL, 0);
    st.page_size = page_size;
    cql_pager *pg;
    if (cql_pager_open(s, &st, &pg, err)) return -1;
    const cql_result *page;
    int rc;
    uint8_t px[784];
    while ((rc = cql_pager_next(pg, &page, err)) == 1) {
        for (int32_t r = 0; r < cql_result_row_count(page); r++) {
            int32_t id, label;
            size_t n;
            if (cql_get_int(page, r, 0, &id, err) || cql_get_int(page, r, 1, &label, err) ||
                cql_get_list_int_u8(page, r, 2, px, sizeof px, &n, err)) {
                rc = -1;
                break;
            }
            *pixel_sum += px[n / 2] + label; /* use the data so the decode is real work */
            (*rows)++;
        }
        if (rc < 0) break;
    }
    cql_pager_close(pg);
    return rc < 0 ? cassnn_err_wrap(err, "scanning %s", table) : 0;
}

int main(int argc, char **argv) {
    cql_config cfg;
    cql_config_init(&cfg);
    const char *ks = "cassnn_bench", *data = getenv("CASSNN_DATA"), *phase = "all";
    int page_size = 1000;
    cfg.max_inflight = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "cql_bench: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--host")) cfg.contact_points = v;
        else if (!strcmp(a, "--port")) cfg.port = atoi(v);
        else if (!strcmp(a, "--keyspace")) ks = v;
        else if (!strcmp(a, "--concurrency")) cfg.max_inflight = atoi(v);
        else if (!strcmp(a, "--page-size")) page_size = atoi(v);
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--phase")) phase = v;
        else {
            fprintf(stderr, "cql_bench: unknown option %s\n", a);
            return 2;
        }
    }
    char base[512];
    snprintf(base, sizeof base, "%s/mnist", data && *data ? data : "/work/shared/data");
    cassnn_err err = {0};
    cql_session *s;
    if (cql_session_open(&s, &cfg, &err)) {
        fprintf(stderr, "cql_bench: %s\n", err.msg);
        return 1;
    }
    int do_insert = strcmp(phase, "scan") != 0, do_scan = strcmp(phase, "insert") != 0;
    if (do_insert) {
        data_images train = {0}, test = {0};
        char img[600], lab[600];
        snprintf(img, sizeof img, "%s/train-images-idx3-ubyte.gz", base);
        snprintf(lab, sizeof lab, "%s/train-labels-idx1-ubyte.gz", base);
        if (data_idx_load(img, lab, &train, &err)) goto fail;
        snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", base);
        snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", base);
        if (data_idx_load(img, lab, &test, &err)) goto fail;
        char q[512];
        snprintf(q, sizeof q, "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                              "{'class': 'SimpleStrategy', 'replication_factor': 1}", ks);
        if (run(s, q, &err)) goto fail;
        const char *tables[2] = {"raw_train", "raw_test"};
        for (int t = 0; t < 2; t++) { /* a fresh table: every insert writes a new row */
            snprintf(q, sizeof q, "DROP TABLE IF EXISTS %s.%s", ks, tables[t]);
            if (run(s, q, &err)) goto fail;
            snprintf(q, sizeof q, "CREATE TABLE %s.%s (id int PRIMARY KEY, label int, pixels list<int>)", ks, tables[t]);
            if (run(s, q, &err)) goto fail;
        }
        double c0 = cpu_s(), t0 = now_s();
        if (insert_set(s, ks, "raw_train", &train, &err) || insert_set(s, ks, "raw_test", &test, &err)) goto fail;
        cql_session_drain(s);
        double secs = now_s() - t0, cpu = cpu_s() - c0;
        long rows = (long)(train.count + test.count);
        if (atomic_load(&failures)) {
            fprintf(stderr, "cql_bench: %ld of %ld inserts failed; first: %s\n", atomic_load(&failures), rows,
                    first_failure.msg);
            goto fail;
        }
        printf("cassnn insert rows=%ld seconds=%.3f rows_per_s=%.0f cpu_s=%.3f concurrency=%d\n", rows, secs,
               (double)rows / secs, cpu, cfg.max_inflight);
        fflush(stdout);
    }
    if (do_scan) {
        long rows = 0, sum = 0;
        double c0 = cpu_s(), t0 = now_s();
        if (scan_table(s, ks, "raw_train", page_size, &rows, &sum, &err) ||
            scan_table(s, ks, "raw_test", page_size, &rows, &sum, &err))
            goto fail;
        double secs = now_s() - t0, cpu = cpu_s() - c0;
        printf("cassnn scan rows=%ld seconds=%.3f rows_per_s=%.0f cpu_s=%.3f page_size=%d checksum=%ld\n", rows, secs,
               (double)rows / secs, cpu, page_size, sum);
    }
    cql_session_close(s);
    return 0;
fail:
    fprintf(stderr, "cql_bench: %s\n", err.msg);
    cql_session_close(s);
    return 1;
}
