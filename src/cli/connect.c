/* connect.c - the connection flags shared by every subcommand (connect.h). */
#include "connect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_conn_usage[] =
    "connection:\n"
    "  --host H[,H2]     contact points (default $CASSNN_HOST or 127.0.0.1)\n"
    "  --port P          native protocol port (default $CASSNN_PORT or 9042)\n"
    "  --credentials F   file with username=... and password=... lines\n"
    "                    (default $CASSNN_CREDENTIALS, else $CASSNN_USERNAME/$CASSNN_PASSWORD)\n"
    "  --tls             use TLS; --ca FILE verifies the node, --cert FILE --key FILE\n"
    "                    present a client certificate, --sni NAME sets the server name,\n"
    "                    --no-verify skips verification (testing only)\n"
    "  --lz4             compress frames with LZ4\n";

static int flag_value(int argc, char **argv, int *i, const char **out, cassnn_err *err) {
    if (*i + 1 >= argc || !argv[*i + 1][0]) return cassnn_err_set(err, "%s needs a value", argv[*i]);
    *out = argv[++*i];
    return 1;
}

int cli_conn_flag(cli_conn_opts *o, int argc, char **argv, int *i, cassnn_err *err) {
    const char *a = argv[*i], *v = NULL;
    if (!strcmp(a, "--host")) return flag_value(argc, argv, i, &o->host, err);
    if (!strcmp(a, "--credentials")) return flag_value(argc, argv, i, &o->credentials_file, err);
    if (!strcmp(a, "--ca")) return flag_value(argc, argv, i, &o->ca, err);
    if (!strcmp(a, "--cert")) return flag_value(argc, argv, i, &o->cert, err);
    if (!strcmp(a, "--key")) return flag_value(argc, argv, i, &o->key, err);
    if (!strcmp(a, "--sni")) return flag_value(argc, argv, i, &o->sni, err);
    if (!strcmp(a, "--tls")) return o->tls = 1;
    if (!strcmp(a, "--no-verify")) return o->tls_no_verify = 1;
    if (!strcmp(a, "--lz4")) return o->lz4 = 1;
    if (!strcmp(a, "--port")) {
        if (flag_value(argc, argv, i, &v, err) < 0) return -1;
        char *end;
        long p = strtol(v, &end, 10);
        if (*end || p < 1 || p > 65535) return cassnn_err_set(err, "--port %s: not a port number", v);
        o->port = (int)p;
        return 1;
    }
    return 0;
}

/* Reads "username=..." / "password=..." lines (# comments allowed). */
static int read_credentials(const char *path, char *user, char *pass, size_t cap, cassnn_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return cassnn_err_set(err, "credentials file %s: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0;
    user[0] = pass[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            fclose(f);
            return cassnn_err_set(err, "credentials file %s line %d: expected key=value", path, lineno);
        }
        *eq = '\0';
        if (!strcmp(line, "username")) snprintf(user, cap, "%s", eq + 1);
        else if (!strcmp(line, "password")) snprintf(pass, cap, "%s", eq + 1);
        else {
            fclose(f);
            return cassnn_err_set(err, "credentials file %s line %d: unknown key '%s'", path, lineno, line);
        }
    }
    fclose(f);
    if (!user[0] || !pass[0]) return cassnn_err_set(err, "credentials file %s: needs username= and password=", path);
    return 0;
}

int cli_conn_open(const cli_conn_opts *o, const char *keyspace, int max_inflight, cql_session **out,
                  cassnn_err *err) {
    cli_conn_opts none = {0};
    if (!o) o = &none;
    cql_config cfg;
    cql_config_init(&cfg);
    const char *env_host = getenv("CASSNN_HOST"), *env_port = getenv("CASSNN_PORT");
    if (o->host) cfg.contact_points = o->host;
    else if (env_host && *env_host) cfg.contact_points = env_host;
    if (o->port > 0) cfg.port = o->port;
    else if (env_port && *env_port) cfg.port = atoi(env_port);
    if (max_inflight > 0) cfg.max_inflight = max_inflight;
    cfg.keyspace = keyspace;
    cfg.compression = o->lz4;
    cfg.tls = o->tls || o->ca || o->cert;
    cfg.tls_no_verify = o->tls_no_verify;
    cfg.tls_ca_file = o->ca;
    cfg.tls_cert_file = o->cert;
    cfg.tls_key_file = o->key;
    cfg.tls_sni = o->sni;

    char user[256], pass[256];
    const char *cred = o->credentials_file ? o->credentials_file : getenv("CASSNN_CREDENTIALS");
    if (cred && *cred) {
        if (read_credentials(cred, user, pass, sizeof user, err)) return -1;
        cfg.username = user;
        cfg.password = pass;
    } else if (getenv("CASSNN_USERNAME")) {
        cfg.username = getenv("CASSNN_USERNAME");
        cfg.password = getenv("CASSNN_PASSWORD");
        if (!cfg.password) return cassnn_err_set(err, "CASSNN_USERNAME is set but CASSNN_PASSWORD is not");
    }
    int rc = cql_session_open(out, &cfg, err);
    memset(pass, 0, sizeof pass);
    if (rc) return cassnn_err_wrap(err, "connecting to %s:%d", cfg.contact_points, cfg.port);
    return 0;
}

int cli_connect(const char *host, int port, int max_inflight, cql_session **out, cassnn_err *err) {
    cli_conn_opts o = {.host = host, .port = port};
    return cli_conn_open(&o, NULL, max_inflight, out, err);
}
