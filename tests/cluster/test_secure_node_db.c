/* test_secure_node_db.c - the client against a real Cassandra node that
 * requires what production clusters do: TLS only (its certificate signed by
 * a test CA, for the name cassnn-test-node), a client certificate from that
 * CA, and PasswordAuthenticator. The node ($CASSNN_SUBNET.51, default 127.0.0.51) is this test's own,
 * in a temporary folder; the certificates are made with openssl and keytool.
 * Checks: the library connects with CA verification + SNI + client
 * certificate + SASL PLAIN; a wrong password, a wrong CA, a wrong server
 * name, no client certificate and plain TCP are clean errors; the CLI reads
 * the credentials from a file and from the environment; and every command
 * that talks to Cassandra (schema, ingest, train, models, models alias,
 * predict, cql, report, serve) runs against this node with the same
 * connection flags, on 250 small images: predict and `cassnn serve` take
 * an alias, and the server answers /health and /predict over HTTP until
 * SIGTERM. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cassnn_run.h"
#include "cassnn/cql.h"
#include "cluster/test_cluster.h"
#include "serve/http_client.h"
#include "test_squares_csv.h"

extern char **environ;

/* $CASSNN_SUBNET.51 (test_net.h) */
static char NODE[32];
#define NAME "cassnn-test-node"
#define PW "cassnn-test-pw"

static int make_certificates(void) {
    return test_sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cassnn-test-ca && "
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
    if (test_secured_node_start(state, make_certificates, 51, "password", PW)) return -1;
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
    test_secured_node_run(51, "password", PW, "stop");
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

static void each_wrong_part_is_a_clean_error(void **state) {
    (void)state;
    cql_config cfg;
    secure_config(&cfg);
    cfg.password = "wrong";
    test_session_open_fails(&cfg, "BadCredentials (0x0100): Provided username cassandra and/or password are incorrect", NULL);
    secure_config(&cfg);
    cfg.username = cfg.password = NULL;
    test_session_open_fails(&cfg, "requires authentication", NULL);
    secure_config(&cfg);
    cfg.tls_ca_file = in_dir("other.pem");
    test_session_open_fails(&cfg, "TLS certificate rejected: self-signed certificate in certificate chain", NULL);
    secure_config(&cfg);
    cfg.tls_sni = "not-the-node";
    test_session_open_fails(&cfg, "TLS certificate rejected: hostname mismatch", NULL);
    secure_config(&cfg);
    cfg.tls_cert_file = cfg.tls_key_file = NULL;
    /* TLS 1.3: the node's refusal comes after the handshake; the client sees
     * either its alert or, when the first write meets the closed socket, the
     * end of the session. */
    test_session_open_fails(&cfg, "tlsv13 alert certificate required", "no client certificate was sent: does the node require one?");
    secure_config(&cfg);
    cfg.tls = 0; /* plain CQL to a TLS port: the node drops it */
    cfg.connect_timeout_ms = 3000;
    char refused[48];
    snprintf(refused, sizeof refused, "%s:9042: ", NODE);
    test_session_open_fails(&cfg, refused, NULL);
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

/* The secure connection flags as separate arguments (for a spawned
 * program), appended to argv from index n; returns the new count. */
static int secure_argv(const char **argv, int n) {
    const char *flags[] = {"--host", NODE, "--tls", "--ca", in_dir("ca.pem"), "--cert",
                           in_dir("client.pem"), "--key", in_dir("client.key"), "--sni", NAME,
                           "--credentials", in_dir("creds"), "--request-timeout", "60"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) argv[n++] = flags[i];
    argv[n] = NULL;
    return n;
}

/* The whole of a file (malloc'ed; "" when it cannot be read). */
static char *read_all(const char *path) {
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);
    if (f) {
        buf[fread(buf, 1, 65535, f)] = '\0';
        fclose(f);
    }
    return buf;
}

/* Starts `cassnn serve --keyspace ks --model model` on the test subnet with
 * the secure flags, its output in serve.log; waits until it says it is
 * ready and returns its pid and port. */
static pid_t serve_start_secure(const char *ks, const char *model, unsigned *port) {
    char exe[512], listen[48], host[32];
    snprintf(exe, sizeof exe, "%s/cassnn", getenv("CASSNN_BINARY_DIR"));
    snprintf(listen, sizeof listen, "%s:0", test_node_addr(host, 1));
    const char *argv[40] = {exe, "serve", "--keyspace", ks, "--model", model, "--listen", listen};
    secure_argv(argv, 8);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, in_dir("serve.log"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    if (posix_spawn(&pid, exe, &fa, NULL, (char *const *)argv, environ))
        fail_msg("cannot start %s serve", exe);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 1200; i++) { /* the model loads over TLS: up to 2 min */
        char *log = read_all(in_dir("serve.log"));
        const char *at = strstr(log, "(port ");
        const int ready = strstr(log, "model loaded, ready") && at && sscanf(at, "(port %u)", port) == 1;
        int status;
        if (!ready && waitpid(pid, &status, WNOHANG) == pid)
            fail_msg("cassnn serve exited (status %d):\n%s", status, log);
        free(log);
        if (ready) return pid;
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fail_msg("cassnn serve not ready in 120 s");
    return -1;
}

/* image i of test_squares_csv_write (label i % 10) as {"pixels": [...]} */
static char *small_json(int i) {
    char *json = malloc(784 * 4 + 32);
    size_t k = (size_t)sprintf(json, "{\"pixels\":[");
    for (int p = 0; p < 784; p++) k += (size_t)sprintf(json + k, "%s%d", p ? "," : "", test_squares_pixel(i, p));
    sprintf(json + k, "]}");
    return json;
}

/* `cassnn serve` on the secured node: follows alias (which points at id),
 * answers /health and /predict, and stops cleanly on SIGTERM. */
static void serve_runs_against_the_secured_node(const char *alias, const char *id) {
    unsigned port;
    const pid_t pid = serve_start_secure("cassnn_secure", alias, &port);
    char url[128], host[32], want[96];
    CURL *curl = curl_easy_init();
    http_reply r;
    snprintf(url, sizeof url, "http://%s:%u/health", test_node_addr(host, 1), port);
    http_do(curl, url, NULL, 0, NULL, NULL, &r);
    snprintf(want, sizeof want, "\"model\":\"%s\"", id); /* compact JSON */
    if (r.status != 200 || !strstr(r.body, "\"ready\"") || !strstr(r.body, want))
        fail_msg("GET /health: %ld %s (expected 200, ready, %s)", r.status, r.body, want);
    http_reply_free(&r);
    snprintf(url, sizeof url, "http://%s:%u/predict", test_node_addr(host, 1), port);
    int right = 0;
    for (int c = 0; c < 10; c++) {
        char *json = small_json(c);
        http_do(curl, url, json, strlen(json), "application/json", NULL, &r);
        int label = -1;
        const char *at = strstr(r.body, "\"label\":");
        if (r.status != 200 || !at || sscanf(at, "\"label\":%d", &label) != 1 || !strstr(r.body, want))
            fail_msg("POST /predict: %ld %s", r.status, r.body);
        right += label == c;
        http_reply_free(&r);
        free(json);
    }
    curl_easy_cleanup(curl);
    assert_true(right >= 6); /* training images; predict scored > 60% on the test ones */
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char *log = read_all(in_dir("serve.log"));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(log, "SIGTERM, stopping"))
        fail_msg("cassnn serve did not stop cleanly (status %d):\n%s", status, log);
    free(log);
}

static void every_command_runs_against_the_secured_node(void **state) {
    (void)state;
    char args[1024], id[37];
    assert_int_equal(test_squares_csv_write(in_dir("small.csv"), 250), 0);
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
    /* aliases, the server following one, the report */
    snprintf(args, sizeof args, "models alias set secure %s --keyspace cassnn_secure", id);
    free(secure_run(0, "secure -> ", args));
    free(secure_run(0, "1 aliases", "models alias list --keyspace cassnn_secure"));
    char want[80];
    snprintf(want, sizeof want, "model %s predicted 50 images", id);
    free(secure_run(0, want, "predict --keyspace cassnn_secure --id secure --table raw_test --quiet"));
    serve_runs_against_the_secured_node("secure", id);
    free(secure_run(0, "deleted alias secure", "models alias delete secure --keyspace cassnn_secure"));
    snprintf(args, sizeof args, "report --keyspace cassnn_secure -o '%s'", in_dir("report.html"));
    free(secure_run(0, "wrote ", args));
    out = read_all(in_dir("report.html"));
    if (!strstr(out, "<svg") || !strstr(out, id)) fail_msg("report.html lacks a chart or model %s", id);
    free(out);
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
