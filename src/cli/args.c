/* args.c - the flag parser every subcommand uses (args.h). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/table_plan.h"

static const char conn_usage[] =
    "connection (every command that talks to Cassandra):\n"
    "  --host H[,H2...]      contact points; repeat --host to add more\n"
    "                        (default $CASSNN_HOST, else 127.0.0.1)\n"
    "  --port P              native protocol port (default $CASSNN_PORT, else 9042)\n"
    "  --credentials FILE    file with username=... and password=... lines (default\n"
    "                        $CASSNN_CREDENTIALS, else $CASSNN_USERNAME + $CASSNN_PASSWORD);\n"
    "                        a password is never taken from the command line\n"
    "  --tls                 TLS; --ca FILE verifies the node against a CA, --cert FILE\n"
    "                        --key FILE present a client certificate, --sni NAME sets the\n"
    "                        server name, --no-verify skips verification (testing only)\n"
    "  --secure-connect-bundle FILE.zip\n"
    "                        DataStax Astra: the database's bundle from its console, in\n"
    "                        place of --host, --port and the TLS flags (the login: the\n"
    "                        client id and secret, or username=token and the AstraCS:...\n"
    "                        token as password, in --credentials or the environment)\n"
    "  --lz4                 compress frames with LZ4\n"
    "  --request-timeout S   seconds a request may take (default 12)\n"
    "  --consistency LEVEL   LOCAL_ONE, LOCAL_QUORUM, QUORUM, ONE, ALL, ... (default:\n"
    "                        LOCAL_QUORUM when the keyspace keeps more than one replica\n"
    "                        in the local data center, else LOCAL_ONE)\n"
    "  --local-dc NAME       data center whose nodes serve requests (default: the first\n"
    "                        contact point's); --allow-remote-dcs uses other data\n"
    "                        centers' nodes when none of it is up\n";

static void print_usage(const cli_command *c, FILE *out) {
    c->usage(out);
    if (c->conn) fputs(conn_usage, out);
}

static int vusage_error(const cli_command *c, const char *fmt, va_list ap) {
    fprintf(stderr, "cassnn %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    print_usage(c, stderr);
    return 2;
}

int cli_usage_error(const cli_command *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vusage_error(c, fmt, ap);
    va_end(ap);
    return 2;
}

/* How a flag is written: -o for a one-letter name, else --name. */
static const char *dashes(const char *name) { return name[0] && !name[1] ? "-" : "--"; }

/* A bad value: one line naming the flag, without the whole usage. */
static int bad_value(const cli_command *c, const char *flag, const char *value, const char *what) {
    fprintf(stderr, "cassnn %s: %s%s '%s': %s\n", c->name, dashes(flag), flag, value, what);
    return 2;
}

static int parse_number(const char *text, double *out) {
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return end == text || *end || errno || !isfinite(*out) ? -1 : 0;
}

static int choices_error(const cli_command *c, const cli_flag *f, const char *value) {
    char list[256] = "expected ";
    for (int i = 0; f->choices[i]; i++) {
        const char *sep = !i ? "" : f->choices[i + 1] ? ", " : " or ";
        strncat(list, sep, sizeof list - strlen(list) - 1);
        strncat(list, f->choices[i], sizeof list - strlen(list) - 1);
    }
    return bad_value(c, f->name, value, list);
}

/* Stores value into f's target: 0, or 2 (printed). */
static int take_value(const cli_command *c, const cli_flag *f, const char *value) {
    double v;
    char what[96];
    switch (f->kind) {
    case CLI_TEXT: *(const char **)f->out = value; return 0;
    case CLI_SWITCH: *(int *)f->out = 1; return 0;
    case CLI_CALL:
    case CLI_CALL_SWITCH: return f->call(f->out, f->name, value) ? 2 : 0;
    case CLI_SIZE:
        if (data_parse_size(value, f->out) == 0) return 0;
        return bad_value(c, f->name, value, "expected a size such as 64M or 2G");
    case CLI_CHOICE:
        for (int i = 0; f->choices[i]; i++)
            if (!strcmp(value, f->choices[i])) {
                *(int *)f->out = i;
                return 0;
            }
        return choices_error(c, f, value);
    case CLI_U64: {
        char *end;
        errno = 0;
        const unsigned long long u = strtoull(value, &end, 10);
        if (end == value || *end || errno || value[0] == '-')
            return bad_value(c, f->name, value, "expected a whole number >= 0");
        *(uint64_t *)f->out = u;
        return 0;
    }
    case CLI_INT:
    case CLI_NUMBER:
        if (parse_number(value, &v) || v < f->min || v > f->max ||
            (f->kind == CLI_INT && v != floor(v))) {
            snprintf(what, sizeof what, "expected a%s number in [%g, %g]",
                     f->kind == CLI_INT ? " whole" : "", f->min, f->max);
            return bad_value(c, f->name, value, what);
        }
        if (f->kind == CLI_INT) *(int *)f->out = (int)v;
        else *(double *)f->out = v;
        return 0;
    }
    return 2;
}

/* The connection flags (conn.h): 1 taken, 0 not one of them, 2 bad (printed). */
static int conn_flag(const cli_command *c, const char *name, const char *value, int *uses_value) {
    conn_options *o = c->conn;
    cassnn_err err = {0};
    static const char *const switches[] = {"tls", "no-verify", "lz4", "allow-remote-dcs"};
    int *const switch_out[] = {&o->tls, &o->tls_no_verify, &o->lz4, &o->allow_remote_dcs};
    for (int i = 0; i < (int)(sizeof switches / sizeof *switches); i++)
        if (!strcmp(name, switches[i])) {
            *switch_out[i] = 1;
            return 1;
        }
    static const char *const texts[] = {"credentials", "ca", "cert", "key", "sni", "secure-connect-bundle",
                                        "local-dc"};
    const char **const text_out[] = {&o->credentials_file, &o->tls_ca_file, &o->tls_cert_file,
                                     &o->tls_key_file, &o->tls_sni, &o->cloud_bundle, &o->local_dc};
    int text = -1;
    for (int i = 0; i < (int)(sizeof texts / sizeof *texts); i++)
        if (!strcmp(name, texts[i])) text = i;
    if (text < 0 && strcmp(name, "host") && strcmp(name, "port") && strcmp(name, "request-timeout") &&
        strcmp(name, "consistency"))
        return 0;
    *uses_value = 1;
    if (!value) return cli_usage_error(c, "--%s needs a value", name);
    if (text >= 0) {
        *text_out[text] = value;
        return 1;
    }
    if (!strcmp(name, "host")) {
        if (conn_add_hosts(o, value, &err)) return bad_value(c, name, value, err.msg);
    } else if (!strcmp(name, "consistency")) {
        cql_consistency level;
        if (cql_consistency_parse(value, &level))
            return bad_value(c, name, value, "expected LOCAL_ONE, LOCAL_QUORUM, QUORUM, ONE, TWO, "
                                             "THREE, ALL, EACH_QUORUM or ANY");
        o->consistency = level;
    } else if (!strcmp(name, "port")) {
        if (conn_parse_port(value, &o->port, &err)) return bad_value(c, name, value, "expected 1..65535");
    } else {
        double s;
        if (parse_number(value, &s) || !(s > 0 && s <= 86400))
            return bad_value(c, name, value, "expected seconds, more than 0 (e.g. 30 or 0.5)");
        o->request_timeout_ms = (int)ceil(s * 1000.0);
    }
    return 1;
}

static const cli_flag *find_flag(const cli_command *c, const char *name) {
    for (const cli_flag *f = c->flags; f && f->name; f++)
        if (!strcmp(f->name, name)) return f;
    return NULL;
}

/* argv[*i] is "--name", "--name=value" or "-x" (a one-letter flag of the
 * table): handles it (advancing *i past a separate value). 0, or the exit
 * status of a usage error. */
static int take_flag(cli_command *c, int argc, char **argv, int *i) {
    char name[64];
    const char *arg = argv[*i] + (argv[*i][1] == '-' ? 2 : 1), *eq = strchr(arg, '=');
    const size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len >= sizeof name) return cli_usage_error(c, "unknown option %s", argv[*i]);
    memcpy(name, arg, len);
    name[len] = '\0';
    const char *next = eq ? eq + 1 : *i + 1 < argc ? argv[*i + 1] : NULL;
    int uses_value = 0, rc;
    const cli_flag *f = find_flag(c, name);
    if (f) {
        uses_value = f->kind != CLI_SWITCH && f->kind != CLI_CALL_SWITCH;
        if (uses_value && !next) return cli_usage_error(c, "%s%s needs a value", dashes(name), name);
        rc = take_value(c, f, uses_value ? next : NULL);
    } else if (c->conn && (rc = conn_flag(c, name, next, &uses_value)) != 0) {
        rc = rc == 1 ? 0 : rc;
    } else {
        return cli_usage_error(c, "unknown option --%s", name);
    }
    if (rc) return rc;
    if (eq && !uses_value) return cli_usage_error(c, "%s%s takes no value", dashes(name), name);
    if (uses_value && !eq) ++*i;
    return 0;
}

int cli_parse(cli_command *c, int argc, char **argv) {
    c->n_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(c, stdout);
            return 0;
        }
        const int long_flag = a[0] == '-' && a[1] == '-' && a[2],
                  letter_flag = a[0] == '-' && a[1] && !a[2] && find_flag(c, a + 1);
        if (long_flag || letter_flag) {
            const int rc = take_flag(c, argc, argv, &i);
            if (rc) return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(c, "unknown option %s", a);
        } else if (c->n_args < c->max_args) {
            c->args[c->n_args++] = a;
        } else {
            return cli_usage_error(c, "unexpected argument '%s'", a);
        }
    }
    cassnn_err err = {0};
    if (c->conn && conn_options_check(c->conn, &err))
        return cli_usage_error(c, "%s (give --secure-connect-bundle without --host, --port, --tls, --ca, "
                               "--cert, --key, --sni and --no-verify)", err.msg);
    if (c->conn && conn_options_from_env(c->conn, &err)) {
        fprintf(stderr, "cassnn %s: %s\n", c->name, err.msg);
        return 2;
    }
    return CLI_GO;
}

int cli_connect(const cli_command *c, const char *keyspace, int max_inflight, cql_session **out) {
    cassnn_err err = {0};
    if (conn_open(c->conn, keyspace, max_inflight, out, &err) == 0) return 0;
    fprintf(stderr, "cassnn %s: %s\n", c->name, err.msg);
    return -1;
}

int cli_use_consistency(const cli_command *c, cql_session *s, const char *keyspace) {
    cassnn_err err = {0};
    int rf;
    if (conn_use_consistency(s, c->conn, keyspace, &rf, &err)) {
        fprintf(stderr, "cassnn %s: %s\n", c->name, err.msg);
        return -1;
    }
    const char *level = cql_consistency_name(cql_session_consistency(s));
    if (c->conn && c->conn->consistency != CQL_DEFAULT)
        fprintf(stderr, "cassnn %s: consistency %s (--consistency)\n", c->name, level);
    else if (keyspace)
        fprintf(stderr, "cassnn %s: consistency %s (keyspace %s keeps %d replica%s in the local "
                        "data center)\n", c->name, level, keyspace, rf, rf == 1 ? "" : "s");
    else
        fprintf(stderr, "cassnn %s: consistency %s\n", c->name, level);
    return 0;
}

int cli_connect_for(const cli_command *c, const char *keyspace, cql_session **out) {
    if (cli_connect(c, NULL, 0, out)) return -1;
    if (cli_use_consistency(c, *out, keyspace) == 0) return 0;
    cql_session_close(*out);
    *out = NULL;
    return -1;
}
