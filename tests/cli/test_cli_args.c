/* test_cli_args.c - the one flag parser of the `cassnn` program, through
 * the program itself (no database): every command that talks to Cassandra
 * takes the same connection flags and lists them with the same text in its
 * --help; bad values, unknown options and missing values are usage errors
 * (exit 2) naming the flag, for the command's own flags and the shared
 * ones, also from the environment; a one-letter flag is -o; repeated
 * --host flags add contact points; a secure connect bundle goes with no
 * --host, --port or TLS flag, and one that is no bundle is refused before
 * anything is dialled. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn_run.h"

/* The commands that talk to Cassandra, each with arguments that would
 * otherwise be enough to run it. */
static const char *const commands[] = {
    "schema", "ingest --idx /nonexistent", "train --keyspace ks", "predict --keyspace ks",
    "models list --keyspace ks", "cql \"SELECT 1\"", "models alias list --keyspace ks",
    "serve --keyspace ks", "report --keyspace ks -o /nonexistent/r.html",
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

/* The command's name: its words before the first flag, less an action
 * ("models list" is `cassnn models`, "models alias list" `cassnn models alias`). */
static void command_name(const char *command, char *name, size_t cap) {
    snprintf(name, cap, "%s", command);
    name[strcspn(name, "-\"")] = '\0';
    char *last = strrchr(name, ' ');
    while (last && (!last[1] || !strcmp(last, " list"))) { /* trailing blanks, the action */
        *last = '\0';
        last = strrchr(name, ' ');
    }
}

/* Runs `cassnn fmt...`, expects exit `want` and needle in its output. */
static char *expect(int want, const char *needle, const char *fmt, ...) {
    char args[2048], *out;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    const int rc = cassnn_run(&out, RUN_STDERR_MERGED, "%s", args);
    if (rc != want || (needle && !strstr(out, needle)))
        fail_msg("`cassnn %s`: exit %d (expected %d), output lacks '%s':\n%s", args, rc, want,
                 needle ? needle : "", out);
    return out;
}

static void test_every_command_lists_the_same_connection_flags(void **state) {
    (void)state;
    char *first = NULL;
    for (int i = 0; i < N_COMMANDS; i++) {
        char name[32];
        command_name(commands[i], name, sizeof name);
        char *out = expect(0, "usage: cassnn ", "%s --help", name);
        const char *conn = strstr(out, "connection (every command that talks to Cassandra):");
        if (!conn) fail_msg("%s --help lacks the connection flags:\n%s", name, out);
        const char *flags[] = {"--host H[,H2...]", "--port P", "--credentials FILE", "--tls",
                               "--ca FILE", "--cert FILE", "--key FILE", "--sni NAME",
                               "--no-verify", "--secure-connect-bundle FILE.zip", "--lz4",
                               "--request-timeout S", "--consistency LEVEL", "--local-dc NAME",
                               "--allow-remote-dcs"};
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
            if (!strstr(conn, flags[f])) fail_msg("%s --help lacks %s", name, flags[f]);
        if (!first) first = strdup(conn);
        else assert_string_equal(first, conn);
        free(out);
    }
    free(first);
    /* the local node's command has no connection flags */
    char *out = expect(0, "usage: cassnn cluster", "cluster --help");
    assert_null(strstr(out, "--credentials"));
    free(out);
}

static void test_bad_connection_flags_are_usage_errors(void **state) {
    (void)state;
    for (int i = 0; i < N_COMMANDS; i++) {
        free(expect(2, "--port '99999': expected 1..65535", "%s --port 99999", commands[i]));
        free(expect(2, "--port 'abc': expected 1..65535", "%s --port=abc", commands[i]));
        free(expect(2, "--host 'a,,b': expected host names", "%s --host a,,b", commands[i]));
        free(expect(2, "--request-timeout '0'", "%s --request-timeout 0", commands[i]));
        free(expect(2, "--ca needs a value", "%s --ca", commands[i]));
        free(expect(2, "--consistency 'MOST': expected LOCAL_ONE", "%s --consistency MOST", commands[i]));
        free(expect(2, "--local-dc needs a value", "%s --local-dc", commands[i]));
        free(expect(2, "--tls takes no value", "%s --tls=yes", commands[i]));
        free(expect(2, "unknown option --password", "%s --password secret", commands[i]));
        setenv("CASSNN_PORT", "x", 1);
        free(expect(2, "CASSNN_PORT: 'x' is not a port number", "%s", commands[i]));
        unsetenv("CASSNN_PORT");
    }
}

static void test_bad_command_flags_are_usage_errors(void **state) {
    (void)state;
    free(expect(2, "--epochs 'x': expected a whole number", "train --keyspace ks --epochs x"));
    free(expect(2, "--epochs '1.5'", "train --keyspace ks --epochs 1.5"));
    free(expect(2, "--memory-budget '12MB': expected a size", "predict --keyspace ks --memory-budget 12MB"));
    free(expect(2, "--format 'xml': expected table or csv", "cql --format xml \"SELECT 1\""));
    free(expect(2, "--layout 'wide': expected tutorial or blob", "schema --layout wide"));
    free(expect(2, "--by 'speed': expected accuracy or loss", "models best --keyspace ks --by speed"));
    free(expect(2, "--concurrency '0'", "ingest --idx x --concurrency 0"));
    free(expect(2, "unexpected argument 'extra'", "train --keyspace ks extra"));
    free(expect(2, "unknown option -x", "schema -x"));
    free(expect(2, "give one statement", "cql"));
    free(expect(2, "blob format 'npz': expected safetensors or pickle",
                "train --keyspace ks --blob-format npz"));
    free(expect(2, "--input 'big': expected CxHxW", "predict --keyspace ks --model tutorial "
                                                    "--input big"));
    free(expect(2, "--input CxHxW goes with --model", "predict --keyspace ks --input 1x28x28"));
    free(expect(2, "by --id or --model, not both",
                "predict --keyspace ks --id 123e4567-e89b-42d3-a456-426614174000 "
                "--model 123e4567-e89b-42d3-a456-426614174000"));
    free(expect(2, "--max-batch '0': expected a whole number in [1, 65536]",
                "serve --keyspace ks --max-batch 0"));
    free(expect(2, "--model 'a b': expected a model id", "serve --keyspace ks --model 'a b'"));
    free(expect(2, "--max-body '0': expected a size", "serve --keyspace ks --max-body 0"));
    free(expect(2, "--dataset digits: expected mnist or fashion",
                "serve --keyspace ks --dataset digits"));
    free(expect(2, "-o needs a value", "report --keyspace ks -o"));
    free(expect(2, "-o FILE is required", "report --keyspace ks"));
    free(expect(2, "--wrong '0'", "report --keyspace ks -o r.html --wrong 0"));
    free(expect(2, "expected set NAME MODEL, list or delete NAME",
                "models alias set x --keyspace ks"));
    free(expect(2, "'best' cannot be an alias", "models alias set best best --keyspace ks"));
}

/* Several contact points reach the session: with nothing listening on port
 * 1 the error names them all. */
static void test_repeated_host_adds_contact_points(void **state) {
    (void)state;
    free(expect(1, "connecting to 127.0.0.2,127.0.0.3,127.0.0.4:1",
                "cql --host 127.0.0.2 --host 127.0.0.3,127.0.0.4 --port 1 \"SELECT 1\""));
    setenv("CASSNN_HOST", "127.0.0.5", 1);
    free(expect(1, "connecting to 127.0.0.5:1", "models list --keyspace ks --port 1"));
    unsetenv("CASSNN_HOST");
}

/* A bundle says where to connect: with --host, --port or a TLS flag it is
 * a usage error in every command; CASSNN_HOST / CASSNN_PORT, which name the
 * usual cluster, do not apply to it. What is not a bundle is refused before
 * anything is dialled (the Astra cluster test covers the rest). */
static void test_secure_connect_bundle_flag(void **state) {
    (void)state;
    static const char *const mixed[] = {"--host 10.0.0.1", "--port 9142", "--tls", "--ca ca.pem", "--cert c.pem",
                                        "--key c.key", "--sni node", "--no-verify"};
    for (int i = 0; i < N_COMMANDS; i++)
        for (size_t m = 0; m < sizeof mixed / sizeof mixed[0]; m++)
            free(expect(2, "a secure connect bundle says where to connect",
                        "%s --secure-connect-bundle b.zip %s", commands[i], mixed[m]));
    free(expect(2, "--secure-connect-bundle needs a value", "schema --secure-connect-bundle"));
    setenv("CASSNN_HOST", "10.0.0.1", 1);
    setenv("CASSNN_PORT", "9142", 1);
    free(expect(1, "secure connect bundle: cql cloud: bundle /nonexistent/astra.zip: cannot open",
                "models list --keyspace ks --secure-connect-bundle /nonexistent/astra.zip"));
    unsetenv("CASSNN_HOST");
    unsetenv("CASSNN_PORT");
    free(expect(1, "README.md is not a zip file (the secure connect bundle is the .zip",
                "cql --secure-connect-bundle '%s/README.md' \"SELECT 1\"", getenv("CASSNN_SOURCE_DIR")));
}

static int setup(void **state) {
    (void)state;
    unsetenv("CASSNN_HOST");
    unsetenv("CASSNN_PORT");
    unsetenv("CASSNN_CREDENTIALS");
    unsetenv("CASSNN_USERNAME");
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_lists_the_same_connection_flags),
        cmocka_unit_test(test_bad_connection_flags_are_usage_errors),
        cmocka_unit_test(test_bad_command_flags_are_usage_errors),
        cmocka_unit_test(test_repeated_host_adds_contact_points),
        cmocka_unit_test(test_secure_connect_bundle_flag),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
