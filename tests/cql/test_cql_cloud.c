/* test_cql_cloud.c - DataStax Astra's way in without a Cassandra node: the
 * secure connect bundle (zips written by the test with libzip, the
 * fixtures/tls certificates), the metadata service's answer, the HTTPS
 * request to a test-only metadata service (astra_standins.h: real TLS with
 * a required client certificate on 127.0.0.1), and the dial decision
 * (topology_dial) behind an SNI proxy. Every bad bundle and every bad
 * answer must be a clear error. The end-to-end path through an SNI relay to
 * a real secured node is tests/cluster/test_astra_db.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "astra_standins.h"
#include "cassnn/cql.h"
#include "cql/cloud.h"
#include "cql/topology.h"
#include "data/test_dir.h"
#include "tls_fixtures.h"

static const char *const IDS[] = {"0a3d2c4e-1111-4a2b-8c3d-000000000001", "0a3d2c4e-2222-4a2b-8c3d-000000000002"};

/* Reading `zip` must fail with an error that contains `want`. */
static void read_fails(const char *zip, const char *want) {
    cql_cloud_bundle b;
    cassnn_err err = {0};
    int rc = cloud_bundle_read(zip, &b, &err);
    cloud_bundle_free(&b);
    if (rc == 0) fail_msg("%s was read, expected an error with '%s'", zip, want);
    if (!strstr(err.msg, want)) fail_msg("error lacks '%s': %s", want, err.msg);
    printf("refused as expected: %s\n", err.msg);
}

/* A bundle with the fixture certificates (client.pem signed by ca.pem). */
static const char *good_bundle(const char *config) {
    const char *zip = in_dir("good.zip");
    assert_int_equal(astra_write_bundle(zip, config, fx("ca.pem"), fx("client.pem"), fx("client.key")), 0);
    return zip;
}

/* ---------------------------------------------------------- the bundle */

static void a_bundle_is_read_from_its_zip(void **state) {
    (void)state;
    const char *zip = good_bundle("{\"host\":\"db-1.example\",\"port\":29080,\"keyspace\":\"mnist_digits\","
                                  "\"username\":\"legacy\",\"password\":\"pw\",\"localDC\":\"dc1\"}");
    cql_cloud_bundle b;
    cassnn_err err = {0};
    if (cloud_bundle_read(zip, &b, &err)) fail_msg("%s", err.msg);
    assert_string_equal(b.host, "db-1.example");
    assert_int_equal(b.port, 29080);
    assert_string_equal(b.username, "legacy");
    assert_string_equal(b.password, "pw");
    assert_non_null(strstr(b.ca, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(b.key, "PRIVATE KEY"));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (cloud_bundle_load_tls(&b, ctx, zip, &err)) fail_msg("%s", err.msg);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    assert_non_null(SSL_CTX_get0_certificate(ctx));
    SSL_CTX_free(ctx);
    cloud_bundle_free(&b);

    /* the same bytes from memory; entries in a folder are found too */
    assert_int_equal(astra_write_bundle(zip, "{\"host\":\"h\",\"port\":1}", fx("ca.pem"), fx("client.pem"),
                                        fx("client.key")), 0);
    FILE *f = fopen(zip, "rb");
    assert_non_null(f);
    static char data[1 << 16];
    size_t len = fread(data, 1, sizeof data, f);
    fclose(f);
    if (cloud_bundle_parse(data, len, "memory", &b, &err)) fail_msg("%s", err.msg);
    assert_string_equal(b.host, "h");
    assert_null(b.username);
    cloud_bundle_free(&b);
}

static void every_bad_bundle_is_a_clear_error(void **state) {
    (void)state;
    read_fails(in_dir("absent.zip"), "cannot open");
    const char *text = in_dir("not-a-zip.zip");
    FILE *f = fopen(text, "w");
    fputs("{\"host\":\"not a zip at all\"}\n", f);
    fclose(f);
    read_fails(text, "is not a zip file");

    const char *cfg = "{\"host\":\"h\",\"port\":29080}", *zip = in_dir("bad.zip");
    assert_int_equal(astra_write_bundle(zip, NULL, fx("ca.pem"), fx("client.pem"), fx("client.key")), 0);
    read_fails(zip, "has no config.json");
    assert_int_equal(astra_write_bundle(zip, cfg, NULL, fx("client.pem"), fx("client.key")), 0);
    read_fails(zip, "has no ca.crt");
    assert_int_equal(astra_write_bundle(zip, cfg, fx("ca.pem"), NULL, fx("client.key")), 0);
    read_fails(zip, "has no cert");
    assert_int_equal(astra_write_bundle(zip, cfg, fx("ca.pem"), fx("client.pem"), NULL), 0);
    read_fails(zip, "has no key");

    assert_int_equal(astra_write_bundle(zip, "{\"host\": \"h\",\n \"port\": }", fx("ca.pem"), fx("client.pem"),
                                        fx("client.key")), 0);
    read_fails(zip, "config.json line 2");
    assert_int_equal(astra_write_bundle(zip, "[1, 2]", fx("ca.pem"), fx("client.pem"), fx("client.key")), 0);
    read_fails(zip, "config.json is not a JSON object");
    assert_int_equal(astra_write_bundle(zip, "{\"port\":29080}", fx("ca.pem"), fx("client.pem"), fx("client.key")), 0);
    read_fails(zip, "config.json has no \"host\"");
    assert_int_equal(astra_write_bundle(zip, "{\"host\":\"h\",\"port\":\"29080\"}", fx("ca.pem"), fx("client.pem"),
                                        fx("client.key")), 0);
    read_fails(zip, "config.json has no \"port\"");

    cql_cloud_bundle b;
    cassnn_err err = {0};
    assert_int_equal(cloud_bundle_parse("PK\3\4garbage", 11, "memory", &b, &err), -1);
    assert_non_null(strstr(err.msg, "bundle memory is not a zip file"));
    cloud_bundle_free(&b);
}

/* The bundle reads, but its TLS material does not load: an error with want. */
static void tls_fails(const char *ca, const char *cert, const char *key, const char *want) {
    const char *zip = in_dir("tls.zip");
    assert_int_equal(astra_write_bundle(zip, "{\"host\":\"h\",\"port\":1}", ca, cert, key), 0);
    cql_cloud_bundle b;
    cassnn_err err = {0};
    if (cloud_bundle_read(zip, &b, &err)) fail_msg("%s", err.msg);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int rc = cloud_bundle_load_tls(&b, ctx, zip, &err);
    SSL_CTX_free(ctx);
    cloud_bundle_free(&b);
    if (rc == 0) fail_msg("TLS material loaded, expected '%s'", want);
    if (!strstr(err.msg, want)) fail_msg("error lacks '%s': %s", want, err.msg);
    printf("refused as expected: %s\n", err.msg);
}

static void bad_certificates_in_a_bundle_are_clear_errors(void **state) {
    (void)state;
    const char *readme = fx("README");
    tls_fails(readme, fx("client.pem"), fx("client.key"), "ca.crt holds no usable certificate");
    tls_fails(fx("ca.pem"), readme, fx("client.key"), "cert is not a PEM certificate");
    tls_fails(fx("ca.pem"), fx("client.pem"), readme, "key is not an unencrypted PEM private key");
    tls_fails(fx("ca.pem"), fx("client.pem"), fx("server.key"), "key does not belong to cert");
}

/* -------------------------------------------------- the metadata answer */

static void parse_fails(const char *body, const char *want) {
    cql_cloud_metadata m;
    cassnn_err err = {0};
    int rc = cloud_metadata_parse(body, strlen(body), "https://h:1/metadata", &m, &err);
    cloud_metadata_free(&m);
    if (rc == 0) fail_msg("parsed %s, expected '%s'", body, want);
    if (!strstr(err.msg, want)) fail_msg("error lacks '%s': %s", want, err.msg);
    assert_non_null(strstr(err.msg, "https://h:1/metadata"));
}

static void the_metadata_answer_gives_proxy_dc_and_host_ids(void **state) {
    (void)state;
    char body[1024];
    astra_metadata_json(body, sizeof body, "proxy.example", 29042, "dc-east", IDS, 2);
    cql_cloud_metadata m;
    cassnn_err err = {0};
    if (cloud_metadata_parse(body, strlen(body), "u", &m, &err)) fail_msg("%s", err.msg);
    assert_string_equal(m.proxy_host, "proxy.example");
    assert_int_equal(m.proxy_port, 29042);
    assert_string_equal(m.local_dc, "dc-east");
    assert_int_equal(m.n_host_ids, 2);
    char id[37];
    cql_uuid_format(m.host_ids[1], id);
    assert_string_equal(id, IDS[1]);
    cloud_metadata_free(&m);

    const char *v6 = "{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"[::1]:29042\","
                     "\"contact_points\":[\"0A3D2C4E-1111-4A2B-8C3D-000000000001\"]}}";
    if (cloud_metadata_parse(v6, strlen(v6), "u", &m, &err)) fail_msg("%s", err.msg);
    assert_string_equal(m.proxy_host, "::1");
    assert_int_equal(m.proxy_port, 29042);
    cloud_metadata_free(&m);
    const char *no_port = "{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"p.example\","
                          "\"contact_points\":[\"0a3d2c4e-1111-4a2b-8c3d-000000000001\"]}}";
    if (cloud_metadata_parse(no_port, strlen(no_port), "u", &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(m.proxy_port, 9042);
    cloud_metadata_free(&m);
}

static void every_bad_metadata_answer_is_a_clear_error(void **state) {
    (void)state;
    parse_fails("<html>Service Unavailable</html>", "answered what is not JSON");
    parse_fails("{\"version\":1}", "no contact_info object");
    parse_fails("{\"contact_info\":{\"sni_proxy_address\":\"p:1\",\"contact_points\":[\"x\"]}}",
                "no contact_info.local_dc");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"contact_points\":[\"x\"]}}",
                "no contact_info.sni_proxy_address");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"p:http\"}}", "'p:http' is not host:port");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\":29042\"}}", "is not host:port");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"p:70000\"}}", "is not host:port");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"p:1\"}}", "no contact_info.contact_points");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"p:1\",\"contact_points\":[]}}",
                "no contact_info.contact_points");
    parse_fails("{\"contact_info\":{\"local_dc\":\"d\",\"sni_proxy_address\":\"p:1\",\"contact_points\":"
                "[\"0a3d2c4e-1111-4a2b-8c3d-000000000001\",\"10.0.0.7\"]}}",
                "contact_points[1] is not a host id");
}

/* ------------------------------------------------ the metadata service */

static astra_metadata_service *service;

static const char *service_bundle(const char *ca, const char *cert, const char *key, int port) {
    char config[128];
    snprintf(config, sizeof config, "{\"host\":\"127.0.0.1\",\"port\":%d}", port);
    const char *zip = in_dir("service.zip");
    assert_int_equal(astra_write_bundle(zip, config, ca, cert, key), 0);
    return zip;
}

/* Fetching with the bundle must fail with want in the error. */
static void fetch_fails(const char *zip, const char *want) {
    cql_cloud_bundle b;
    cql_cloud_metadata m;
    cassnn_err err = {0};
    if (cloud_bundle_read(zip, &b, &err)) fail_msg("%s", err.msg);
    int rc = cloud_metadata_fetch(&b, 1000, &m, &err);
    cloud_bundle_free(&b);
    cloud_metadata_free(&m);
    if (rc == 0) fail_msg("fetched, expected an error with '%s'", want);
    if (!strstr(err.msg, want)) fail_msg("error lacks '%s': %s", want, err.msg);
    printf("refused as expected: %s\n", err.msg);
}

static void the_metadata_service_is_asked_with_the_client_certificate(void **state) {
    (void)state;
    const int port = astra_metadata_port(service);
    char body[1024];
    astra_metadata_json(body, sizeof body, "127.0.0.1", 29042, "dc1", IDS, 2);
    astra_metadata_answer(service, 200, body);
    const char *zip = service_bundle(fx("ca.pem"), fx("client.pem"), fx("client.key"), port);
    cql_cloud_bundle b;
    cql_cloud_metadata m;
    cassnn_err err = {0};
    if (cloud_bundle_read(zip, &b, &err)) fail_msg("%s", err.msg);
    const int before = astra_metadata_requests(service);
    if (cloud_metadata_fetch(&b, 5000, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(astra_metadata_requests(service), before + 1);
    assert_int_equal(m.n_host_ids, 2);
    assert_string_equal(m.local_dc, "dc1");
    cloud_bundle_free(&b);
    cloud_metadata_free(&m);
}

static void a_metadata_service_that_fails_is_a_clear_error(void **state) {
    (void)state;
    const int port = astra_metadata_port(service);
    const char *zip = service_bundle(fx("ca.pem"), fx("client.pem"), fx("client.key"), port);
    astra_metadata_answer(service, 500, "{\"code\":500,\"message\":\"database is hibernated\"}");
    fetch_fails(zip, "answered HTTP 500: database is hibernated");
    astra_metadata_answer(service, 404, "no such page");
    fetch_fails(zip, "answered HTTP 404: no such page");
    astra_metadata_answer(service, 200, "{\"contact_info\": [");
    fetch_fails(zip, "answered what is not JSON");
    astra_metadata_answer(service, 200, "{\"contact_info\":{\"local_dc\":\"dc1\"}}");
    fetch_fails(zip, "no contact_info.sni_proxy_address");
    astra_metadata_answer(service, 0, ""); /* hangs */
    fetch_fails(zip, "did not answer");

    /* nothing listens there: a socket bound but never listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    fetch_fails(service_bundle(fx("ca.pem"), fx("client.pem"), fx("client.key"), ntohs(a.sin_port)), "did not answer");
    close(fd);

    /* the service refuses a client certificate it does not trust */
    astra_metadata_answer(service, 200, "{}");
    const int refused = astra_metadata_refused(service);
    fetch_fails(service_bundle(fx("ca.pem"), fx("rogue.pem"), fx("rogue.key"), port),
                "does it accept the bundle's client certificate?");
    for (int i = 0; i < 100 && astra_metadata_refused(service) == refused; i++) /* its thread counts it after the alert */
        usleep(20 * 1000);
    assert_true(astra_metadata_refused(service) > refused);
    /* the client refuses a service its bundle's CA did not sign */
    fetch_fails(service_bundle(fx("other-ca.pem"), fx("client.pem"), fx("client.key"), port),
                "SSL certificate problem: self-signed certificate in certificate chain");
}

/* The session opens nothing when its bundle is bad, and says why. */
static void a_session_with_a_bad_bundle_says_why(void **state) {
    (void)state;
    cql_config cfg;
    cql_config_init(&cfg);
    cfg.cloud_bundle = in_dir("absent.zip");
    cql_session *s;
    cassnn_err err = {0};
    assert_int_equal(cql_session_open(&s, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "absent.zip: cannot open"));
    astra_metadata_answer(service, 503, "{\"message\":\"try later\"}");
    cfg.cloud_bundle = service_bundle(fx("ca.pem"), fx("client.pem"), fx("client.key"), astra_metadata_port(service));
    assert_int_equal(cql_session_open(&s, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "answered HTTP 503: try later"));
}

/* ------------------------------------------------------------- dialing */

static void behind_a_proxy_every_node_is_dialled_with_its_host_id(void **state) {
    (void)state;
    cql_config cfg;
    cql_config_init(&cfg);
    cfg.tls_sni = "configured-name";
    cql_host h[2] = {{.address = "10.0.0.1", .port = 9042}, {.address = "10.0.0.2", .port = 9043}};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cql_uuid_parse(IDS[i], h[i].host_id), 0);
        h[i].has_host_id = 1;
    }
    cql_topology direct = {0};
    cql_dial d;
    topology_dial(&direct, &cfg, &h[1], &d);
    assert_string_equal(d.address, "10.0.0.2");
    assert_int_equal(d.port, 9043);
    assert_string_equal(d.sni, "configured-name");
    assert_null(d.verify_name);

    cql_topology proxied = {.proxy_port = 29042};
    snprintf(proxied.proxy_host, sizeof proxied.proxy_host, "proxy.example");
    for (int i = 0; i < 2; i++) {
        topology_dial(&proxied, &cfg, &h[i], &d);
        assert_string_equal(d.address, "proxy.example");
        assert_int_equal(d.port, 29042);
        assert_string_equal(d.sni, IDS[i]);
        assert_string_equal(d.verify_name, "proxy.example");
    }
}

static int setup(void **state) {
    if (test_dir_make(state)) return -1;
    service = astra_metadata_start("127.0.0.1", fx("server.pem"), fx("server.key"), fx("ca.pem"));
    return service ? 0 : -1;
}

static int teardown(void **state) {
    astra_metadata_stop(service);
    return test_dir_remove(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_bundle_is_read_from_its_zip),
        cmocka_unit_test(every_bad_bundle_is_a_clear_error),
        cmocka_unit_test(bad_certificates_in_a_bundle_are_clear_errors),
        cmocka_unit_test(the_metadata_answer_gives_proxy_dc_and_host_ids),
        cmocka_unit_test(every_bad_metadata_answer_is_a_clear_error),
        cmocka_unit_test(the_metadata_service_is_asked_with_the_client_certificate),
        cmocka_unit_test(a_metadata_service_that_fails_is_a_clear_error),
        cmocka_unit_test(a_session_with_a_bad_bundle_says_why),
        cmocka_unit_test(behind_a_proxy_every_node_is_dialled_with_its_host_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
