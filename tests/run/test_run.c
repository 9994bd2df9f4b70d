/* test_run.c - the run module without a database: connection options
 * (contact points, ports, the environment, credentials files read before
 * any connection is tried) and a training run driven through run.h the way
 * a front end other than the CLI would, on small IDX files: what it reports
 * through its callbacks, that it learns, resumes nothing it should not and
 * saves the net. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cassnn/conn.h"
#include "cassnn/run.h"
#include "data/test_dir.h"
#include "test_idx.h"

enum { SIDE = 12, TRAIN = 400, TEST = 100 };

static void test_hosts_and_ports(void **state) {
    (void)state;
    conn_options o;
    conn_options_init(&o);
    cassnn_err err = {0};
    assert_int_equal(conn_add_hosts(&o, "10.0.0.1,10.0.0.2", &err), 0);
    assert_int_equal(conn_add_hosts(&o, "node3", &err), 0); /* a repeated --host adds */
    assert_string_equal(o.hosts, "10.0.0.1,10.0.0.2,node3");
    const char *bad_hosts[] = {"", ",", "a,", ",a", "a,,b", "a b"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++)
        assert_int_equal(conn_add_hosts(&o, bad_hosts[i], &err), -1);
    assert_string_equal(o.hosts, "10.0.0.1,10.0.0.2,node3");
    char long_list[2000];
    memset(long_list, 'h', sizeof long_list - 1);
    long_list[sizeof long_list - 1] = '\0';
    assert_int_equal(conn_add_hosts(&o, long_list, &err), -1);
    assert_non_null(strstr(err.msg, "too many contact points"));
    int port = 0;
    assert_int_equal(conn_parse_port("9142", &port, &err), 0);
    assert_int_equal(port, 9142);
    const char *bad_ports[] = {"", "0", "65536", "12x", "-1", "9042 ", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++)
        assert_int_equal(conn_parse_port(bad_ports[i], &port, &err), -1);
}

static void test_environment(void **state) {
    (void)state;
    conn_options o;
    cassnn_err err = {0};
    unsetenv("CASSNN_CREDENTIALS");
    setenv("CASSNN_HOST", "a,b", 1);
    setenv("CASSNN_PORT", "9043", 1);
    setenv("CASSNN_USERNAME", "u", 1);
    setenv("CASSNN_PASSWORD", "p", 1);
    conn_options_init(&o);
    assert_int_equal(conn_options_from_env(&o, &err), 0);
    assert_string_equal(o.hosts, "a,b");
    assert_int_equal(o.port, 9043);
    assert_string_equal(o.username, "u");
    assert_string_equal(o.password, "p");
    /* what the caller set wins */
    conn_options_init(&o);
    assert_int_equal(conn_add_hosts(&o, "c", &err), 0);
    o.port = 1;
    o.credentials_file = "/nonexistent";
    assert_int_equal(conn_options_from_env(&o, &err), 0);
    assert_string_equal(o.hosts, "c");
    assert_int_equal(o.port, 1);
    assert_null(o.username);
    /* a bad port in the environment is an error, not port 0 */
    setenv("CASSNN_PORT", "90x", 1);
    conn_options_init(&o);
    assert_int_equal(conn_options_from_env(&o, &err), -1);
    assert_non_null(strstr(err.msg, "CASSNN_PORT"));
    unsetenv("CASSNN_PORT");
    unsetenv("CASSNN_PASSWORD");
    conn_options_init(&o);
    assert_int_equal(conn_options_from_env(&o, &err), -1);
    assert_non_null(strstr(err.msg, "CASSNN_PASSWORD is not"));
    unsetenv("CASSNN_USERNAME");
    /* a secure connect bundle says where to connect: the environment's
     * contact points and port are not taken with it */
    setenv("CASSNN_PORT", "9043", 1);
    conn_options_init(&o);
    o.cloud_bundle = "astra.zip";
    assert_int_equal(conn_options_from_env(&o, &err), 0);
    assert_string_equal(o.hosts, "");
    assert_int_equal(o.port, 0);
    unsetenv("CASSNN_PORT");
    unsetenv("CASSNN_HOST");
}

/* A bundle with contact points, a port or any TLS setting is refused, by
 * the check and by conn_open before anything is read or dialled. */
static void test_bundle_excludes_hosts_and_tls(void **state) {
    (void)state;
    conn_options o;
    cassnn_err err = {0};
    conn_options_init(&o);
    o.cloud_bundle = "/nonexistent/astra.zip";
    assert_int_equal(conn_options_check(&o, &err), 0);
    const char *ca = "ca.pem";
    for (int i = 0; i < 8; i++) {
        conn_options_init(&o);
        o.cloud_bundle = "/nonexistent/astra.zip";
        switch (i) {
        case 0: assert_int_equal(conn_add_hosts(&o, "10.0.0.1", &err), 0); break;
        case 1: o.port = 9142; break;
        case 2: o.tls = 1; break;
        case 3: o.tls_no_verify = 1; break;
        case 4: o.tls_ca_file = ca; break;
        case 5: o.tls_cert_file = ca; break;
        case 6: o.tls_key_file = ca; break;
        default: o.tls_sni = "node"; break;
        }
        assert_int_equal(conn_options_check(&o, &err), -1);
        assert_non_null(strstr(err.msg, i == 0 ? "does not go with contact points"
                                        : i == 1 ? "does not go with a port" : "does not go with TLS settings"));
        cql_session *s;
        assert_int_equal(conn_open(&o, NULL, 0, &s, &err), -1);
        assert_null(strstr(err.msg, "cannot open")); /* refused before the bundle is read */
    }
}

/* The default consistency follows the keyspace's replication factor in the
 * local DC; the level names round-trip through the parser. */
static void test_default_consistency(void **state) {
    (void)state;
    assert_int_equal(conn_default_consistency(0), CQL_LOCAL_ONE); /* not looked up */
    assert_int_equal(conn_default_consistency(1), CQL_LOCAL_ONE);
    assert_int_equal(conn_default_consistency(2), CQL_LOCAL_QUORUM);
    assert_int_equal(conn_default_consistency(3), CQL_LOCAL_QUORUM);
    assert_int_equal(conn_default_consistency(5), CQL_LOCAL_QUORUM);
    conn_options o;
    conn_options_init(&o);
    assert_int_equal(o.consistency, CQL_DEFAULT);
    for (int level = CQL_ANY; level <= CQL_LOCAL_ONE; level++) {
        cql_consistency parsed;
        assert_int_equal(cql_consistency_parse(cql_consistency_name(level), &parsed), 0);
        assert_int_equal(parsed, level);
    }
    cql_consistency parsed;
    assert_int_equal(cql_consistency_parse("local_quorum", &parsed), 0);
    assert_int_equal(parsed, CQL_LOCAL_QUORUM);
    assert_int_equal(cql_consistency_parse("QUORUMS", &parsed), -1);
    assert_string_equal(cql_consistency_name(42), "?");
}

/* The credentials file is read before any connection is tried, so its
 * errors need no node (port 1 on loopback answers nobody). */
static void test_credentials_file_errors(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/creds", dir);
    const struct { const char *text, *error; } cases[] = {
        {"username=u\n", "needs username= and password="},
        {"# a comment\nusername=u\npass\n", "line 3: expected key=value"},
        {"user=u\npassword=p\n", "line 1: unknown key 'user'"},
    };
    conn_options o;
    cql_session *s;
    cassnn_err err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        conn_options_init(&o);
        o.credentials_file = path;
        o.port = 1;
        assert_int_equal(conn_open(&o, NULL, 0, &s, &err), -1);
        if (!strstr(err.msg, cases[i].error) || !strstr(err.msg, path))
            fail_msg("'%s': %s", cases[i].text, err.msg);
    }
    o.credentials_file = "/nonexistent/creds";
    assert_int_equal(conn_open(&o, NULL, 0, &s, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/creds: No such file"));
}

typedef struct seen {
    int planned, progress, lost;
    long last_batch;
} seen;

static void on_progress(void *user, const nn_train_progress *p) {
    seen *s = user;
    s->progress++;
    s->last_batch = p->batch_idx;
    assert_int_equal(p->dataset_size, TRAIN);
}

static void on_planned(void *user, const run_tables_plan *p) {
    (void)p;
    ((seen *)user)->planned++;
}

static void test_training_run_from_idx_files(void **state) {
    (void)state;
    assert_int_equal(test_idx_write(dir, "train", TRAIN, SIDE, 1), 0);
    assert_int_equal(test_idx_write(dir, "t10k", TEST, SIDE, 2), 0);
    run_train_options o;
    run_train_defaults(&o);
    o.idx_dir = dir;
    o.model = "conv(8,k=3) relu maxpool(2) flatten linear(10) logsoftmax";
    o.epochs = 2;
    o.batch_size = 20;
    o.log_interval = 5;
    o.threads = 2;
    o.optim.lr = 0.05f;
    o.optim.momentum = 0.9f;
    seen s = {0};
    const run_events events = {.user = &s, .planned = on_planned, .progress = on_progress};
    run_train *r;
    cassnn_err err = {0};
    if (run_train_open(&r, NULL, &o, &events, &err)) fail_msg("open: %s", err.msg);
    const run_train_info *info = run_train_describe(r);
    assert_int_equal(info->net->in_c, 1);
    assert_int_equal(info->net->in_h, SIDE); /* the shape comes from the data */
    assert_int_equal(info->train_images, TRAIN);
    assert_int_equal(info->test_images, TEST);
    assert_int_equal(info->threads, 2);
    assert_int_equal(info->first_epoch, 1);
    assert_null(info->schedule);
    nn_eval_stats before, after;
    nn_epoch_stats epoch;
    assert_int_equal(run_train_test(r, &before, &err), 0);
    int epochs = 0;
    while (run_train_next_epoch(r) <= o.epochs) {
        if (run_train_epoch(r, &epoch, &err) || run_train_test(r, &after, &err))
            fail_msg("epoch: %s", err.msg);
        epochs++;
    }
    assert_int_equal(epochs, 2);
    assert_int_equal(s.planned, 0);                /* files: no tables to plan */
    assert_int_equal(s.progress, 2 * (20 / 5));    /* 20 batches an epoch, every 5th */
    assert_int_equal(s.last_batch, 15);
    assert_int_equal(after.images, TEST);
    if (after.correct < TEST * 8 / 10 || after.correct <= before.correct)
        fail_msg("accuracy %ld/%d after 2 epochs, %ld before", after.correct, TEST, before.correct);
    char path[256];
    snprintf(path, sizeof path, "%s/net.safetensors", dir);
    assert_int_equal(run_train_save(r, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 4 * 8 * 9);
    run_train_report rep;
    assert_int_equal(run_train_close(r, &rep), 0);
    assert_int_equal(rep.checkpoints, 0);           /* files: no registry */
}

static void test_bad_training_options(void **state) {
    (void)state;
    run_train_options o;
    run_train *r;
    cassnn_err err = {0};
    run_train_defaults(&o);
    assert_int_equal(run_train_open(&r, NULL, &o, NULL, &err), -1); /* no data */
    o.idx_dir = dir;
    o.keyspace = "ks";
    assert_int_equal(run_train_open(&r, NULL, &o, NULL, &err), -1); /* both */
    o.keyspace = NULL;
    o.resume = "00000000-0000-0000-0000-000000000000";
    assert_int_equal(run_train_open(&r, NULL, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "resuming needs the keyspace"));
    o.resume = NULL;
    o.model = "conv(8,k=3) flatten linear(10) logsoftmax";
    o.dataset = "cifar";
    assert_int_equal(run_train_open(&r, NULL, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "dataset cifar"));
    assert_null(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts_and_ports),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_bundle_excludes_hosts_and_tls),
        cmocka_unit_test(test_default_consistency),
        cmocka_unit_test(test_credentials_file_errors),
        cmocka_unit_test(test_training_run_from_idx_files),
        cmocka_unit_test(test_bad_training_options),
    };
    return cmocka_run_group_tests(tests, test_dir_make, test_dir_remove);
}
