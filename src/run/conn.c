/* conn.c - connection options and opening a session from them (conn.h). */
#include "cassnn/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conn_options_init(conn_options *o) {
    memset(o, 0, sizeof *o);
    o->consistency = CQL_DEFAULT;
}

int conn_add_hosts(conn_options *o, const char *list, cassnn_err *err) {
    const char *p = list;
    do {
        const size_t n = strcspn(p, ",");
        if (n == 0 || memchr(p, ' ', n))
            return cassnn_err_set(err, "expected host names or addresses separated by commas");
        p += n + (p[n] == ',');
    } while (*p);
    if (list[strlen(list) - 1] == ',')
        return cassnn_err_set(err, "expected host names or addresses separated by commas");
    const size_t used = strlen(o->hosts);
    if (used + 1 + strlen(list) >= sizeof o->hosts)
        return cassnn_err_set(err, "too many contact points (at most %zu characters)",
                              sizeof o->hosts - 1);
    snprintf(o->hosts + used, sizeof o->hosts - used, "%s%s", used ? "," : "", list);
    return 0;
}

int conn_parse_port(const char *text, int *port, cassnn_err *err) {
    char *end;
    errno = 0;
    const long p = strtol(text, &end, 10);
    if (end == text || *end || errno || p < 1 || p > 65535)
        return cassnn_err_set(err, "'%s' is not a port number (1..65535)", text);
    *port = (int)p;
    return 0;
}

int conn_options_check(const conn_options *o, cassnn_err *err) {
    if (!o->cloud_bundle) return 0;
    const char *mixed = o->hosts[0] ? "contact points"
                        : o->port   ? "a port"
                        : o->tls || o->tls_no_verify || o->tls_ca_file || o->tls_cert_file || o->tls_key_file ||
                                  o->tls_sni
                            ? "TLS settings"
                            : NULL;
    if (!mixed) return 0;
    return cassnn_err_set(err, "a secure connect bundle says where to connect and how (TLS, the client "
                               "certificate): it does not go with %s", mixed);
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int conn_options_from_env(conn_options *o, cassnn_err *err) {
    const char *v;
    /* the bundle says where to connect: CASSNN_HOST / CASSNN_PORT, set for
     * the usual cluster, do not apply to it */
    if (!o->cloud_bundle && !o->hosts[0] && (v = env("CASSNN_HOST")) && conn_add_hosts(o, v, err))
        return cassnn_err_wrap(err, "CASSNN_HOST '%s'", v);
    if (!o->cloud_bundle && !o->port && (v = env("CASSNN_PORT")) && conn_parse_port(v, &o->port, err))
        return cassnn_err_wrap(err, "CASSNN_PORT");
    if (o->credentials_file || o->username) return 0;
    if ((v = env("CASSNN_CREDENTIALS"))) {
        o->credentials_file = v;
    } else if ((v = env("CASSNN_USERNAME"))) {
        o->username = v;
        o->password = getenv("CASSNN_PASSWORD");
        if (!o->password)
            return cassnn_err_set(err, "CASSNN_USERNAME is set but CASSNN_PASSWORD is not");
    }
    return 0;
}

/* Reads "username=..." / "password=..." lines (# comments allowed). */
static int read_credentials(const char *path, char *user, char *pass, size_t cap, cassnn_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return cassnn_err_set(err, "credentials file %s: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0, rc = 0;
    user[0] = pass[0] = '\0';
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            rc = cassnn_err_set(err, "credentials file %s line %d: expected key=value", path, lineno);
            break;
        }
        *eq = '\0';
        if (!strcmp(line, "username")) snprintf(user, cap, "%s", eq + 1);
        else if (!strcmp(line, "password")) snprintf(pass, cap, "%s", eq + 1);
        else rc = cassnn_err_set(err, "credentials file %s line %d: unknown key '%s'", path, lineno, line);
    }
    memset(line, 0, sizeof line);
    fclose(f);
    if (rc == 0 && (!user[0] || !pass[0]))
        rc = cassnn_err_set(err, "credentials file %s: needs username= and password=", path);
    return rc;
}

int conn_open(const conn_options *o, const char *keyspace, int max_inflight, cql_session **out,
              cassnn_err *err) {
    conn_options none;
    if (!o) conn_options_init(&none), o = &none;
    if (conn_options_check(o, err)) return -1;
    cql_config cfg;
    cql_config_init(&cfg);
    if (o->hosts[0]) cfg.contact_points = o->hosts;
    if (o->port > 0) cfg.port = o->port;
    if (max_inflight > 0) cfg.max_inflight = max_inflight;
    if (o->request_timeout_ms > 0) cfg.request_timeout_ms = o->request_timeout_ms;
    cfg.keyspace = keyspace;
    if (o->consistency != CQL_DEFAULT) cfg.consistency = (cql_consistency)o->consistency;
    cfg.local_dc = o->local_dc;
    cfg.allow_remote_dcs = o->allow_remote_dcs;
    cfg.compression = o->lz4;
    cfg.tls = o->tls || o->tls_ca_file || o->tls_cert_file;
    cfg.tls_no_verify = o->tls_no_verify;
    cfg.tls_ca_file = o->tls_ca_file;
    cfg.tls_cert_file = o->tls_cert_file;
    cfg.tls_key_file = o->tls_key_file;
    cfg.tls_sni = o->tls_sni;
    cfg.cloud_bundle = o->cloud_bundle;
    cfg.username = o->username;
    cfg.password = o->password;
    char user[256], pass[256];
    if (o->credentials_file) {
        if (read_credentials(o->credentials_file, user, pass, sizeof user, err)) {
            memset(pass, 0, sizeof pass);
            return -1;
        }
        cfg.username = user;
        cfg.password = pass;
    }
    const int rc = cql_session_open(out, &cfg, err);
    memset(pass, 0, sizeof pass);
    if (rc && o->cloud_bundle) return cassnn_err_wrap(err, "connecting through the secure connect bundle");
    if (rc) return cassnn_err_wrap(err, "connecting to %s:%d", cfg.contact_points, cfg.port);
    return 0;
}

cql_consistency conn_default_consistency(int rf) { return rf > 1 ? CQL_LOCAL_QUORUM : CQL_LOCAL_ONE; }

int conn_use_consistency(cql_session *s, const conn_options *o, const char *keyspace, int *rf,
                         cassnn_err *err) {
    *rf = 0;
    if (keyspace && cql_keyspace_local_rf(s, keyspace, rf, err)) return -1;
    const cql_consistency level = o && o->consistency != CQL_DEFAULT ? (cql_consistency)o->consistency
                                                                     : conn_default_consistency(*rf);
    cql_session_set_consistency(s, level);
    return 0;
}
