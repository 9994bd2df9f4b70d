/* test_secure_node_db.c - the client against a real Cassandra node that
 * requires what production clusters do: TLS only (its certificate signed by
 * a test CA, for the name cassnn-test-node), a client certificate from that
 * CA, and PasswordAuthenticator. The node ($CASSNN_SUBNET.51, default 127.0.0.51) is this test's own,
 * in a temporary folder; the certificates are made with openssl and keytool.
 * Checks: the library connects with CA verification + SNI + client
 * certificate + SASL PLAIN; a wrong password, a wrong CA, a wrong server
 * name, no client certificate and plain TCP are clean errors; the CLI reads
 * the credentials from a file and from the environment; and every command
 * that talks to Cassandra (schema, ingest, train, models, predict, cql) runs
 * against this node with the same connection flags, on 250 small images. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cassnn_run.h"
#include "cassnn/cql.h"
#include "data/test_dir.h"
#include "test_net.h"

/* $CASSNN_SUBNET.51 (test_net.h) */
static char NODE[32];
#define NAME "cassnn-test-node"
#define PW "cassnn-test-pw"

static char path_buf[8][160];

/* dir/name (one of a few static buffers, reused round-robin). */
static const char *in_dir(const char *name) {
    static int next;
    char *p = path_buf[next++ % 8];
    snprintf(p, sizeof path_buf[0], "%s/%s", dir, name);
    return p;
}

static int sh(const char *script) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && { %s; } >>certs.log 2>&1", dir, script);
    return system(cmd);
}

static int make_certificates(void) {
    return sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cassnn-test-ca && "
              "openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj /CN=" NAME " && "
              "printf 'subjectAltName=DNS:" NAME "\\n' > node.ext && "
              "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2 -extfile node.ext && "
              "openssl pkcs12 -export -in node.pem -inkey node.key -certfile ca.pem -name node -out node.p12 -passout pass:" PW " && "
              "keytool -importcert -noprompt -alias ca -file ca.pem -keystore trust.p12 -storetype PKCS12 -storepass " PW " && "
              "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=cassnn-client && "
              "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 && "
              "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca && "
              "printf 'username=cassandra\\npassword=cassandra\\n' > creds && chmod 600 creds");
}

static int cluster(const char *action) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "CASSNN_VAR='%s/var' CASSNN_SUBNET=%s CASSNN_IP_BASE=51 CASSNN_HEAP=1G CASSNN_AUTH=password "
             "CASSNN_TLS_KEYSTORE='%s/node.p12' CASSNN_TLS_TRUSTSTORE='%s/trust.p12' CASSNN_TLS_PASSWORD=" PW " "
             "'%s/tools/cassandra/cassandra-node' %s",
             dir, test_subnet(), dir, dir, getenv("CASSNN_SOURCE_DIR"), action);
    return system(cmd);
}

static void secure_config(cql_config *cfg) {
    cql_config_init(cfg);
    cfg->contact_points = NODE;
    cfg->request_timeout_ms = 60000;
    cfg->tls = 1;
    cfg->tls_ca_file = in_dir("ca.pem");
    cfg->tls_cert_file = in_dir("client.pem");
    cfg->tls_key_file = in_dir("client.key");
    cfg->tls_sni = NAME;
    cfg->username = "cassandra";
    cfg->password = "cassandra";
}

static int setup(void **state) {
    test_node_addr(NODE, 51);
    if (test_dir_make(state)) return -1;
    if (make_certificates()) {
        fprintf(stderr, "cannot make the test certificates: see %s/certs.log\n", dir);
        return -1;
    }
    if (cluster("start")) {
        cluster("stop");
        return -1;
    }
    /* The node creates its default superuser a few seconds after it starts
     * answering: wait until a login works. */
    cql_config cfg;
    secure_config(&cfg);
    cassnn_err err = {0};
    for (int i = 0; i < 120; i++) {
        cql_session *s;
        if (cql_session_open(&s, &cfg, &err) == 0) {
            cql_session_close(s);
            return 0;
        }
        sleep(1);
    }
    fprintf(stderr, "no login within 120 s: %s\n", err.msg);
    return -1;
}

static int teardown(void **state) {
    cluster("stop");
    return test_dir_remove(state);
}

static void tls_client_certificate_and_password(void **state) {
    (void)state;
    cql_config cfg;
    secure_config(&cfg);
    cfg.compression = 1;
    cql_session *s;
    cassnn_err err = {0};
    if (cql_session_open(&s, &cfg, &err)) fail_msg("open: %s", err.msg);
    cql_result *r;
    if (cql_query(s, "SELECT release_version FROM system.local", NULL, 0, &r, &err)) fail_msg("%s", err.msg);
    cql_str v;
    assert_int_equal(cql_get_text(r, 0, 0, &v, &err), 0);
    assert_true(v.len >= 4 && !memcmp(v.p, "5.0.", 4));
    cql_result_free(r);
    /* The logged-in role is the one the node knows. */
    if (cql_query(s, "LIST ROLES", NULL, 0, &r, &err)) fail_msg("%s", err.msg);
    assert_true(cql_result_row_count(r) >= 1);
    cql_result_free(r);
    cql_session_close(s);
}

/* Opening with cfg fails, with an error that contains want (or, when not
 * NULL, or_want). */
static void open_fails(const cql_config *cfg, const char *want, const char *or_want) {
    cql_session *s;
    cassnn_err err = {0};
    if (cql_session_open(&s, cfg, &err) == 0) {
        cql_session_close(s);
        fail_msg("opened, expected an error with '%s'", want);
    }
    if (!strstr(err.msg, want) && !(or_want && strstr(err.msg, or_want)))
        fail_msg("error lacks '%s': %s", want, err.msg);
    printf("refused as expected: %s\n", err.msg);
}

static void each_wrong_part_is_a_clean_error(void **state) {
    (void)state;
    cql_config cfg;
    secure_config(&cfg);
    cfg.password = "wrong";
    open_fails(&cfg, "BadCredentials (0x0100): Provided username cassandra and/or password are incorrect", NULL);
    secure_config(&cfg);
    cfg.username = cfg.password = NULL;
    open_fails(&cfg, "requires authentication", NULL);
    secure_config(&cfg);
    cfg.tls_ca_file = in_dir("other.pem");
    open_fails(&cfg, "TLS certificate rejected: self-signed certificate in certificate chain", NULL);
    secure_config(&cfg);
    cfg.tls_sni = "not-the-node";
    open_fails(&cfg, "TLS certificate rejected: hostname mismatch", NULL);
    secure_config(&cfg);
    cfg.tls_cert_file = cfg.tls_key_file = NULL;
    /* TLS 1.3: the node's refusal comes after the handshake; the client sees
     * either its alert or, when the first write meets the closed socket, the
     * end of the session. */
    open_fails(&cfg, "tlsv13 alert certificate required", "no client certificate was sent: does the node require one?");
    secure_config(&cfg);
    cfg.tls = 0; /* plain CQL to a TLS port: the node drops it */
    cfg.connect_timeout_ms = 3000;
    char refused[48];
    snprintf(refused, sizeof refused, "%s:9042: ", NODE);
    open_fails(&cfg, refused, NULL);
}

static void cli_reads_credentials_from_file_and_environment(void **state) {
    (void)state;
    char *out;
    char tls[1024];
    snprintf(tls, sizeof tls, "--host %s --tls --ca '%s' --cert '%s' --key '%s' --sni " NAME, NODE,
             in_dir("ca.pem"), in_dir("client.pem"), in_dir("client.key"));
    int rc = cassnn_run(&out, RUN_STDERR_MERGED, "cql %s --credentials '%s' --format csv "
                        "\"SELECT release_version FROM system.local\"", tls, in_dir("creds"));
    if (rc != 0 || !strstr(out, "release_version\r\n5.0.")) fail_msg("exit %d:\n%s", rc, out);
    free(out);
    rc = cassnn_run(&out, RUN_STDERR_MERGED, "cql %s \"SELECT release_version FROM system.local\"", tls);
    if (rc != 1 || !strstr(out, "requires authentication")) fail_msg("no credentials: exit %d:\n%s", rc, out);
    free(out);
    setenv("CASSNN_USERNAME", "cassandra", 1);
    setenv("CASSNN_PASSWORD", "cassandra", 1);
    rc = cassnn_run(&out, RUN_STDERR_MERGED, "cql %s \"SELECT release_version FROM system.local\"", tls);
    unsetenv("CASSNN_USERNAME");
    unsetenv("CASSNN_PASSWORD");
    if (rc != 0 || !strstr(out, "(1 rows)")) fail_msg("environment credentials: exit %d:\n%s", rc, out);
    free(out);
}

/* A Kaggle-style labelled CSV of n 28x28 images: class c is a bright 6x6
 * square at one of ten places on a dark background (learnable in one
 * epoch of a few hundred images). */
static void write_small_csv(const char *path, int n) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "label");
    for (int p = 0; p < 784; p++) fprintf(f, ",pixel%d", p);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        const int c = i % 10, y0 = 3 + (c / 5) * 12, x0 = 1 + (c % 5) * 5;
        fprintf(f, "%d", c);
        for (int p = 0; p < 784; p++) {
            const int y = p / 28, x = p % 28;
            fprintf(f, ",%d", y >= y0 && y < y0 + 6 && x >= x0 && x < x0 + 6 ? 250 : (i * 7 + p) % 30);
        }
        fputc('\n', f);
    }
    fclose(f);
}

/* `cassnn ARGS` with the secure connection flags must exit want and print
 * needle; returns its output (the caller frees it). */
static char *secure_run(int want, const char *needle, const char *args) {
    char *out;
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "%s --host %s --tls --ca '%s' --cert '%s' --key '%s' "
                              "--sni " NAME " --credentials '%s' --request-timeout 60", args, NODE,
                              in_dir("ca.pem"), in_dir("client.pem"), in_dir("client.key"), in_dir("creds"));
    if (rc != want || (needle && !strstr(out, needle)))
        fail_msg("`cassnn %s`: exit %d (expected %d), output lacks '%s':\n%s", args, rc, want,
                 needle ? needle : "", out);
    return out;
}

static void every_command_runs_against_the_secured_node(void **state) {
    (void)state;
    char args[1024], id[37];
    write_small_csv(in_dir("small.csv"), 250);
    free(secure_run(0, "schema of keyspace cassnn_secure is in place", "schema --keyspace cassnn_secure"));
    snprintf(args, sizeof args, "ingest --keyspace cassnn_secure --train '%s' --verify --lz4",
             in_dir("small.csv"));
    free(secure_run(0, "verify: every table's row count and checksum", args));
    char *out = secure_run(0, "Done: 2 epochs", "train --keyspace cassnn_secure --epochs 2 --batch-size 20 "
                           "--log-interval 5 --threads 2 --lr 0.05 --momentum 0.9");
    assert_non_null(strstr(out, "cassnn_secure.raw_train: 200 rows (counted)"));
    assert_non_null(strstr(out, "registry: 7 of 7 checkpoints written")); /* 2 per epoch of 10 batches, 3 tests */
    free(out);
    out = secure_run(0, NULL, "models best --keyspace cassnn_secure");
    /* the id alone on stdout, its last line (stderr says the consistency first) */
    const size_t len = strlen(out);
    assert_true(len >= 37 && out[len - 1] == '\n' && (len == 37 || out[len - 38] == '\n'));
    memcpy(id, out + len - 37, 36);
    id[36] = '\0';
    free(out);
    free(secure_run(0, " checkpoints\n", "models list --keyspace cassnn_secure"));
    snprintf(args, sizeof args, "models show %s --keyspace cassnn_secure", id);
    free(secure_run(0, "fc2.bias", args));
    out = secure_run(0, "accuracy: ", "predict --keyspace cassnn_secure --table raw_test --quiet --write");
    long correct, total;
    assert_int_equal(sscanf(strstr(out, "accuracy: "), "accuracy: %ld/%ld", &correct, &total), 2);
    assert_int_equal(total, 50);
    assert_true(correct > 30); /* chance is 5 */
    free(out);
    free(secure_run(0, "(1 rows)", "cql \"SELECT count(*) FROM cassnn_secure.predictions\""));
    /* the login is required by every command, not only cql */
    snprintf(args, sizeof args, "models list --keyspace cassnn_secure --host %s --tls --ca '%s' --cert '%s' "
             "--key '%s' --sni " NAME, NODE, in_dir("ca.pem"), in_dir("client.pem"), in_dir("client.key"));
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "%s", args);
    if (rc != 1 || !strstr(out, "requires authentication")) fail_msg("no credentials: exit %d:\n%s", rc, out);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls_client_certificate_and_password),
        cmocka_unit_test(each_wrong_part_is_a_clean_error),
        cmocka_unit_test(cli_reads_credentials_from_file_and_environment),
        cmocka_unit_test(every_command_runs_against_the_secured_node),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
