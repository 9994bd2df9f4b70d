/* test_astra_db.c - connecting the way DataStax Astra is reached (a secure
 * connect bundle, its metadata service, an SNI proxy), with every part that
 * can exist here real:
 *   - the node: a real Cassandra 5.0 node of this test ($CASSNN_SUBNET.71,
 *     1 GiB heap) that requires TLS, a client certificate from the test CA
 *     and a password, and lets a role do only what it was granted
 *     (CassandraAuthorizer: the token may use its keyspaces but create
 *     none), like Astra's nodes;
 *   - the bundle: a zip written by the test (config.json, ca.crt, cert,
 *     key; certificates made with openssl);
 *   - the metadata service and the SNI proxy: test-only stand-ins
 *     (tests/cql/astra_standins.h) on $CASSNN_SUBNET.72: HTTPS that requires
 *     the client certificate, and a relay that reads the SNI of every TLS
 *     stream, refuses loudly a name that is not a host id of the cluster,
 *     and forwards the untouched stream to the node.
 * The node's certificate names the proxy's address (as Astra's names its
 * proxy), not the node: the client must check it against the proxy.
 * The library is checked through cql_session_open; the program, as the
 * tutorial's Astra setup done with cassnn (ingest, train, models best,
 * predict through the bundle with a token) and every bad bundle, as `cassnn`
 * processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/cql.h"
#include "cassnn_run.h"
#include "cluster/test_cluster.h"
#include "cql/astra_standins.h"
#include "test_squares_csv.h"

#define BASE 71
#define NAME "cassnn-test-node"
#define PW "cassnn-test-pw"
#define TOKEN "AstraCS:cassnnTestOnly:0123456789abcdef0123456789abcdef"
#define CLIENT_ID "cassnnTestClientId"
#define SECRET "cassnn-test-secret"

static char NODE[32], PROXY[32], OTHER_PROXY[32], HOST_ID[37], DC[64];
static astra_metadata_service *service;
static sni_relay *relay, *other_relay;

/* The test CA signs the node's certificate (naming the proxy's address, and
 * NAME for the direct connection that prepares the node) and the client's;
 * another CA signs a client certificate the node must refuse. The metadata
 * stand-in accepts both CAs' clients, so that the refusal is the node's. */
static int make_certificates(void) {
    char script[3072];
    snprintf(script, sizeof script,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cassnn-test-ca && "
             "openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj /CN=" NAME " && "
             "printf 'subjectAltName=IP:%s,DNS:" NAME "\\n' > node.ext && "
             "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2 "
             "-extfile node.ext && "
             "openssl pkcs12 -export -in node.pem -inkey node.key -certfile ca.pem -name node -out node.p12 "
             "-passout pass:" PW " && "
             "keytool -importcert -noprompt -alias ca -file ca.pem -keystore trust.p12 -storetype PKCS12 "
             "-storepass " PW " && "
             "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=cassnn-client && "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca && "
             "openssl req -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr -subj /CN=rogue-client && "
             "openssl x509 -req -in rogue.csr -CA other.pem -CAkey other.key -CAcreateserial -out rogue.pem -days 2 && "
             "cat ca.pem other.pem > metadata-trust.pem",
             PROXY);
    return test_sh(script);
}

/* A session straight to the node (not through the proxy) as user. */
static int open_direct(cql_session **s, const char *user, const char *password, cassnn_err *err) {
    cql_config cfg;
    cql_config_init(&cfg);
    cfg.contact_points = NODE;
    cfg.request_timeout_ms = 60000;
    cfg.tls = 1;
    cfg.tls_ca_file = in_dir("ca.pem");
    cfg.tls_cert_file = in_dir("client.pem");
    cfg.tls_key_file = in_dir("client.key");
    cfg.tls_sni = NAME;
    cfg.username = user;
    cfg.password = password;
    return cql_session_open(s, &cfg, err);
}

/* The metadata service answers with the proxy `proxy`, the local data
 * center dc and the one host id `id`. */
static void metadata_says(const char *proxy, int port, const char *dc, const char *id) {
    char body[1024];
    const char *ids[] = {id};
    astra_metadata_json(body, sizeof body, proxy, port, dc, ids, 1);
    astra_metadata_answer(service, 200, body);
}

/* A bundle at `name` with the client certificate cert/key. */
static const char *bundle(const char *name, const char *cert, const char *key) {
    char config[256];
    snprintf(config, sizeof config,
             "{\"host\":\"%s\",\"port\":%d,\"keyspace\":\"mnist_digits\",\"localDC\":\"%s\","
             "\"pfxCertPassword\":\"unused-here\"}",
             PROXY, astra_metadata_port(service), DC);
    const char *zip = in_dir(name);
    assert_int_equal(astra_write_bundle(zip, config, in_dir("ca.pem"), in_dir(cert), in_dir(key)), 0);
    return zip;
}

static void astra_config(cql_config *cfg, const char *zip, const char *user, const char *password) {
    cql_config_init(cfg);
    cfg->contact_points = "192.0.2.1"; /* ignored with a bundle (TEST-NET: would never answer) */
    cfg->cloud_bundle = zip;
    cfg->username = user;
    cfg->password = password;
    cfg->request_timeout_ms = 60000;
}

static int setup(void **state) {
    test_node_addr(NODE, BASE);
    test_node_addr(PROXY, BASE + 1);
    test_node_addr(OTHER_PROXY, BASE + 2);
    if (test_secured_node_start(state, make_certificates, BASE, "roles", PW)) return -1;
    /* The node creates its superuser a few seconds after it answers: wait
     * for a login, then learn its host id and add Astra-style roles. */
    cql_session *s = NULL;
    cassnn_err err = {0};
    for (int i = 0; i < 120 && open_direct(&s, "cassandra", "cassandra", &err); i++) sleep(1);
    if (!s) {
        fprintf(stderr, "no login within 120 s: %s\n", err.msg);
        return -1;
    }
    cql_host_stats st;
    cql_session_host_stats(s, 0, &st);
    cql_uuid_format(st.host_id, HOST_ID);
    snprintf(DC, sizeof DC, "%s", st.dc);
    /* As on Astra: the keyspaces come from the console (here: the
     * superuser), and a token may use them but create none. */
    static const char *const admin[] = {
        "CREATE KEYSPACE IF NOT EXISTS astra_test WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE KEYSPACE IF NOT EXISTS mnist_digits WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE ROLE IF NOT EXISTS 'token' WITH PASSWORD = '" TOKEN "' AND LOGIN = true",
        "CREATE ROLE IF NOT EXISTS '" CLIENT_ID "' WITH PASSWORD = '" SECRET "' AND LOGIN = true",
        "GRANT ALL PERMISSIONS ON KEYSPACE astra_test TO 'token'",
        "GRANT ALL PERMISSIONS ON KEYSPACE mnist_digits TO 'token'",
        "GRANT ALL PERMISSIONS ON KEYSPACE astra_test TO '" CLIENT_ID "'",
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof admin / sizeof admin[0] && !rc; i++) rc = cql_query(s, admin[i], NULL, 0, NULL, &err);
    /* two replicas wanted in the node's one-node data center: LOCAL_QUORUM
     * cannot be met there, LOCAL_ONE can */
    char rf2[256];
    snprintf(rf2, sizeof rf2, "CREATE KEYSPACE IF NOT EXISTS astra_rf2 WITH replication = "
             "{'class': 'NetworkTopologyStrategy', '%s': 2}", DC);
    if (!rc) rc = cql_query(s, rf2, NULL, 0, NULL, &err);
    if (!rc) rc = cql_query(s, "CREATE TABLE IF NOT EXISTS astra_rf2.t (id int PRIMARY KEY)", NULL, 0, NULL, &err);
    if (!rc) rc = cql_query(s, "GRANT ALL PERMISSIONS ON KEYSPACE astra_rf2 TO 'token'", NULL, 0, NULL, &err);
    cql_session_close(s);
    if (rc) {
        fprintf(stderr, "keyspaces and roles: %s\n", err.msg);
        return -1;
    }
    service = astra_metadata_start(PROXY, in_dir("node.pem"), in_dir("node.key"), in_dir("metadata-trust.pem"));
    relay = sni_relay_start(PROXY);
    other_relay = sni_relay_start(OTHER_PROXY);
    if (!service || !relay || !other_relay) return -1;
    sni_relay_route(relay, HOST_ID, NODE, 9042);
    sni_relay_route(other_relay, HOST_ID, NODE, 9042);
    metadata_says(PROXY, sni_relay_port(relay), DC, HOST_ID);
    printf("node %s (host id %s, %s); proxy %s:%d; metadata https://%s:%d/metadata\n", NODE, HOST_ID, DC, PROXY,
           sni_relay_port(relay), PROXY, astra_metadata_port(service));
    return 0;
}

static int teardown(void **state) {
    astra_metadata_stop(service);
    sni_relay_stop(relay);
    sni_relay_stop(other_relay);
    test_secured_node_run(BASE, "roles", PW, "stop");
    return test_dir_remove(state);
}

static void must(int rc, const cassnn_err *err, const char *what) {
    if (rc) fail_msg("%s: %s", what, err->msg);
}

/* ------------------------------------------------------------------ tests */

static void the_bundle_reaches_the_node_through_the_proxy_by_its_host_id(void **state) {
    (void)state;
    const int metadata_before = astra_metadata_requests(service), forwarded_before = sni_relay_forwarded(relay, HOST_ID);
    cql_config cfg;
    astra_config(&cfg, bundle("astra.zip", "client.pem", "client.key"), "token", TOKEN);
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "open through the bundle");
    assert_int_equal(astra_metadata_requests(service), metadata_before + 1);
    int up = 0;
    assert_int_equal(cql_session_hosts(s, &up), 1);
    assert_int_equal(up, 1);
    cql_host_stats st;
    assert_int_equal(cql_session_host_stats(s, 0, &st), 0);
    char id[37];
    cql_uuid_format(st.host_id, id);
    assert_string_equal(id, HOST_ID);
    assert_string_equal(st.address, NODE); /* the cluster's name for it, as its events use */

    /* the token may not create a keyspace, like an Astra token */
    assert_int_equal(cql_query(s, "CREATE KEYSPACE IF NOT EXISTS astra_test WITH replication = "
                                  "{'class': 'SimpleStrategy', 'replication_factor': 1}", NULL, 0, NULL, &err), -1);
    assert_int_equal(err.code, CQL_ERR_UNAUTHORIZED);
    /* token-aware writes and reads through the proxy */
    must(cql_query(s, "CREATE TABLE IF NOT EXISTS astra_test.t (id int PRIMARY KEY, v text)", NULL, 0, NULL, &err),
         &err, "table");
    const cql_prepared *ins;
    must(cql_prepare(s, "INSERT INTO astra_test.t (id, v) VALUES (?, ?)", &ins, &err), &err, "prepare");
    for (int i = 0; i < 50; i++) {
        cql_value v[2] = {cql_int(i), cql_text("through the SNI proxy")};
        cql_statement stmt = cql_stmt_prepared(ins, v, 2);
        must(cql_execute(s, &stmt, NULL, &err), &err, "insert");
    }
    cql_result *r;
    must(cql_query(s, "SELECT count(*) FROM astra_test.t", NULL, 0, &r, &err), &err, "count");
    int64_t n = 0;
    must(cql_get_bigint(r, 0, 0, &n, &err), &err, "count value");
    assert_int_equal(n, 50);
    cql_result_free(r);
    assert_int_equal(cql_session_host_stats(s, 0, &st), 0);
    assert_true(st.requests >= 52);
    cql_session_close(s);

    /* every connection (the pool's two, the events connection) went through
     * the relay with SNI = the node's host id, and no other name was sent */
    const int forwarded = sni_relay_forwarded(relay, HOST_ID) - forwarded_before;
    printf("the relay forwarded %d streams with SNI %s\n", forwarded, HOST_ID);
    assert_true(forwarded >= 3);
    assert_int_equal(sni_relay_refused(relay, NULL, 0), 0);
}

static void astra_credentials_client_id_and_token(void **state) {
    (void)state;
    const char *zip = bundle("astra.zip", "client.pem", "client.key");
    cql_config cfg;
    astra_config(&cfg, zip, CLIENT_ID, SECRET);
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "client id and secret");
    cql_session_close(s);
    astra_config(&cfg, zip, "token", "AstraCS:not-the-token");
    test_session_open_fails(&cfg, "BadCredentials (0x0100)", NULL);
    astra_config(&cfg, zip, CLIENT_ID, "wrong-secret");
    test_session_open_fails(&cfg, "BadCredentials (0x0100)", NULL);
    astra_config(&cfg, zip, NULL, NULL);
    test_session_open_fails(&cfg, "requires authentication", NULL);
}

/* The metadata's local DC is the one routing uses (unless the caller picks
 * one): a DC the cluster does not have is refused with the cluster's. */
static void the_metadata_local_dc_is_used(void **state) {
    (void)state;
    metadata_says(PROXY, sni_relay_port(relay), "dc-elsewhere", HOST_ID);
    cql_config cfg;
    astra_config(&cfg, bundle("astra.zip", "client.pem", "client.key"), "token", TOKEN);
    char want[160];
    snprintf(want, sizeof want, "local data center 'dc-elsewhere' has no node (the cluster's: %s)", DC);
    test_session_open_fails(&cfg, want, NULL);
    cfg.local_dc = DC;
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "the caller's local DC wins");
    cql_session_close(s);
    metadata_says(PROXY, sni_relay_port(relay), DC, HOST_ID);
}

/* As the DataStax drivers do with a bundle, the session's default
 * consistency is LOCAL_QUORUM (Astra refuses writes at ONE and LOCAL_ONE),
 * in the metadata's local data center; a statement may still ask for less. */
static void with_a_bundle_the_default_consistency_is_local_quorum(void **state) {
    (void)state;
    cql_config cfg;
    astra_config(&cfg, bundle("astra.zip", "client.pem", "client.key"), "token", TOKEN);
    cfg.retries = 0; /* the node's Unavailable as it is */
    cql_session *s;
    cassnn_err err = {0};
    must(cql_session_open(&s, &cfg, &err), &err, "open through the bundle");
    assert_int_equal(cql_query(s, "INSERT INTO astra_rf2.t (id) VALUES (1)", NULL, 0, NULL, &err), -1);
    printf("default consistency: %s\n", err.msg);
    assert_int_equal(err.code, CQL_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "LOCAL_QUORUM"));
    cql_statement st = cql_stmt("INSERT INTO astra_rf2.t (id) VALUES (1)", NULL, 0);
    st.consistency = CQL_LOCAL_ONE;
    must(cql_execute(s, &st, NULL, &err), &err, "the same write at LOCAL_ONE");
    cql_session_close(s);
    /* without a bundle the default stays LOCAL_ONE */
    must(open_direct(&s, "token", TOKEN, &err), &err, "open directly");
    must(cql_query(s, "INSERT INTO astra_rf2.t (id) VALUES (2)", NULL, 0, NULL, &err), &err, "LOCAL_ONE by default");
    cql_session_close(s);
}

static void a_certificate_the_node_refuses_is_a_clear_error(void **state) {
    (void)state;
    const int refused = astra_metadata_refused(service), asked = astra_metadata_requests(service);
    cql_config cfg;
    astra_config(&cfg, bundle("rogue.zip", "rogue.pem", "rogue.key"), "token", TOKEN);
    cfg.connect_timeout_ms = 5000;
    test_session_open_fails(&cfg, "(the node refused the session: does it trust this client certificate?)", NULL);
    /* the metadata service took it (the stand-in trusts both CAs): the node refused it */
    assert_int_equal(astra_metadata_refused(service), refused);
    assert_int_equal(astra_metadata_requests(service), asked + 1);
}

static void a_host_id_the_proxy_does_not_know_is_refused_loudly(void **state) {
    (void)state;
    static const char unknown[] = "00000000-0000-4000-8000-00000000dead";
    metadata_says(PROXY, sni_relay_port(relay), DC, unknown);
    cql_config cfg;
    astra_config(&cfg, bundle("astra.zip", "client.pem", "client.key"), "token", TOKEN);
    cfg.connect_timeout_ms = 3000;
    const int before = sni_relay_refused(relay, NULL, 0);
    test_session_open_fails(&cfg, "(the SNI proxy ended it: is 00000000-0000-4000-8000-00000000dead a host id of this database?)",
               NULL);
    char last[128];
    assert_true(sni_relay_refused(relay, last, sizeof last) > before);
    assert_string_equal(last, unknown);
    metadata_says(PROXY, sni_relay_port(relay), DC, HOST_ID);
}

/* A proxy whose certificate does not name it (here: the node's certificate
 * names the first proxy's address only) is refused by the client. */
static void a_proxy_the_certificate_does_not_name_is_refused(void **state) {
    (void)state;
    metadata_says(OTHER_PROXY, sni_relay_port(other_relay), DC, HOST_ID);
    cql_config cfg;
    astra_config(&cfg, bundle("astra.zip", "client.pem", "client.key"), "token", TOKEN);
    test_session_open_fails(&cfg, "TLS certificate rejected: IP address mismatch", NULL);
    assert_true(sni_relay_forwarded(other_relay, HOST_ID) >= 1); /* it did get that far */
    metadata_says(PROXY, sni_relay_port(relay), DC, HOST_ID);
}

/* ------------------------------------------------------ the program (CLI) */

/* A credentials file in the test's folder. */
static const char *credentials(const char *name, const char *user, const char *password) {
    const char *path = in_dir(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# Astra: username=token and the AstraCS token, or the client id and secret\n"
               "username=%s\npassword=%s\n", user, password);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* `cassnn ARGS --secure-connect-bundle ZIP [--credentials CREDS]` must exit
 * want and print needle; returns its output (the caller frees it). The
 * environment's CASSNN_HOST (the shared test node) stays set: a bundle
 * says where to connect, so the program must not go there. */
static char *astra_cli(int want, const char *needle, const char *zip, const char *creds, const char *args) {
    char *out, creds_flag[300] = "";
    if (creds) snprintf(creds_flag, sizeof creds_flag, "--credentials '%s'", creds);
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "%s --secure-connect-bundle '%s' %s --request-timeout 60",
                              args, zip, creds_flag);
    if (rc != want || (needle && !strstr(out, needle)))
        fail_msg("`cassnn %s` with bundle %s: exit %d (expected %d), output lacks '%s':\n%s", args, zip, rc, want,
                 needle ? needle : "", out);
    if (want) printf("refused as expected: %s", out);
    return out;
}

/* The tutorial's Astra setup done with cassnn: the keyspace from the console
 * (setup), the bundle and a token; every command a process of its own that
 * asks the metadata service and goes through the proxy by host id. */
static void the_program_runs_the_tutorial_through_a_bundle(void **state) {
    (void)state;
    char zip[256], token[256]; /* in_dir's buffers are reused */
    snprintf(zip, sizeof zip, "%s", bundle("astra.zip", "client.pem", "client.key"));
    snprintf(token, sizeof token, "%s", credentials("token.creds", "token", TOKEN));
    const int asked = astra_metadata_requests(service), forwarded = sni_relay_forwarded(relay, HOST_ID),
              refused = sni_relay_refused(relay, NULL, 0);
    char args[512];
    assert_int_equal(test_squares_csv_write(in_dir("small.csv"), 300), 0);
    snprintf(args, sizeof args, "ingest --train '%s' --verify", in_dir("small.csv"));
    free(astra_cli(0, "verify: every table's row count and checksum", zip, token, args));
    char *out = astra_cli(0, "Done: 1 epochs", zip, token,
                          "train --keyspace mnist_digits --epochs 1 --batch-size 20 --threads 2 --lr 0.05 --momentum 0.9");
    assert_non_null(strstr(out, "mnist_digits.raw_train: 240 rows (counted)"));
    free(out);
    /* the login from the environment, as the README's setup exports it */
    setenv("CASSNN_USERNAME", "token", 1);
    setenv("CASSNN_PASSWORD", TOKEN, 1);
    out = astra_cli(0, NULL, zip, NULL, "models best --keyspace mnist_digits");
    unsetenv("CASSNN_USERNAME");
    unsetenv("CASSNN_PASSWORD");
    /* the consistency in force on stderr first, then the id alone on its line */
    const size_t len = strlen(out);
    assert_non_null(strstr(out, "cassnn models: consistency "));
    assert_true(len > 37 && out[len - 1] == '\n' && out[len - 38] == '\n');
    free(out);
    out = astra_cli(0, "accuracy: ", zip, token, "predict --keyspace mnist_digits --table raw_test --quiet --write");
    long correct, total;
    assert_int_equal(sscanf(strstr(out, "accuracy: "), "accuracy: %ld/%ld", &correct, &total), 2);
    assert_int_equal(total, 60);
    free(out);
    out = astra_cli(0, "count\r\n60\r\n", zip, token, "cql --format csv \"SELECT count(*) FROM mnist_digits.predictions\"");
    free(out);
    /* each of the 5 processes asked the metadata service once, and every
     * stream went to the node through the relay by its host id */
    assert_int_equal(astra_metadata_requests(service), asked + 5);
    const int streams = sni_relay_forwarded(relay, HOST_ID) - forwarded;
    printf("5 commands: %d streams through the relay with SNI %s\n", streams, HOST_ID);
    assert_true(streams >= 5 * 2);
    assert_int_equal(sni_relay_refused(relay, NULL, 0), refused);
}

/* Every way a bundle, its services or the login can be wrong is one clear
 * line from the program and exit 1 (2 for a bundle mixed with --host/TLS). */
static void the_program_says_what_is_wrong_with_a_bundle(void **state) {
    (void)state;
    char zip[256], token[256]; /* in_dir's buffers are reused */
    snprintf(zip, sizeof zip, "%s", bundle("astra.zip", "client.pem", "client.key"));
    snprintf(token, sizeof token, "%s", credentials("token.creds", "token", TOKEN));
    static const char models[] = "models best --keyspace mnist_digits";

    const char *text = in_dir("not-a-zip.zip");
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fputs("username=token\n", f);
    fclose(f);
    free(astra_cli(1, "is not a zip file (the secure connect bundle is the .zip", text, token, models));
    const char *no_key = in_dir("no-key.zip");
    char config[256];
    snprintf(config, sizeof config, "{\"host\":\"%s\",\"port\":%d}", PROXY, astra_metadata_port(service));
    assert_int_equal(astra_write_bundle(no_key, config, in_dir("ca.pem"), in_dir("client.pem"), NULL), 0);
    free(astra_cli(1, "has no key", no_key, token, models));

    astra_metadata_answer(service, 503, "{\"message\":\"the database is hibernating\"}");
    free(astra_cli(1, "answered HTTP 503: the database is hibernating", zip, token, models));
    astra_metadata_answer(service, 200, "<html>maintenance</html>");
    free(astra_cli(1, "answered what is not JSON", zip, token, models));
    astra_metadata_answer(service, 0, ""); /* hangs: bounded by the connect timeout */
    free(astra_cli(1, "did not answer", zip, token, models));
    metadata_says(PROXY, sni_relay_port(relay), "dc-elsewhere", HOST_ID);
    free(astra_cli(1, "local data center 'dc-elsewhere' has no node", zip, token, models));
    metadata_says(PROXY, sni_relay_port(relay), DC, HOST_ID);

    free(astra_cli(1, "the node refused the session: does it trust this client certificate?",
                   bundle("rogue.zip", "rogue.pem", "rogue.key"), token, models));
    free(astra_cli(1, "BadCredentials (0x0100)", zip, credentials("wrong.creds", "token", "AstraCS:not-the-token"),
                   models));
    free(astra_cli(1, "requires authentication", zip, NULL, models));
    free(astra_cli(2, "a secure connect bundle says where to connect", zip, token,
                   "models best --keyspace mnist_digits --host 127.0.0.1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_bundle_reaches_the_node_through_the_proxy_by_its_host_id),
        cmocka_unit_test(astra_credentials_client_id_and_token),
        cmocka_unit_test(the_metadata_local_dc_is_used),
        cmocka_unit_test(with_a_bundle_the_default_consistency_is_local_quorum),
        cmocka_unit_test(a_certificate_the_node_refuses_is_a_clear_error),
        cmocka_unit_test(a_host_id_the_proxy_does_not_know_is_refused_loudly),
        cmocka_unit_test(a_proxy_the_certificate_does_not_name_is_refused),
        cmocka_unit_test(the_program_runs_the_tutorial_through_a_bundle),
        cmocka_unit_test(the_program_says_what_is_wrong_with_a_bundle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
