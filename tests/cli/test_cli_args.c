/* test_cli_args.c - the one flag parser of the `cassnn` program, through
 * the program itself (no database): every command that talks to Cassandra
 * takes the same connection flags and lists them with the same text in its
 * --help; bad values, unknown options and missing values are usage errors
 * (exit 2) naming the flag, for the command's own flags and the shared
 * ones, also from the environment; repeated --host flags add contact
 * points. */
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
    "models list --keyspace ks", "cql \"SELECT 1\"",
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

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
        char name[16];
        sscanf(commands[i], "%15s", name);
        char *out = expect(0, "usage: cassnn ", "%s --help", name);
        const char *conn = strstr(out, "connection (every command that talks to Cassandra):");
        if (!conn) fail_msg("%s --help lacks the connection flags:\n%s", name, out);
        const char *flags[] = {"--host H[,H2...]", "--port P", "--credentials FILE", "--tls",
                               "--ca FILE", "--cert FILE", "--key FILE", "--sni NAME",
                               "--no-verify", "--lz4", "--request-timeout S",
                               "--consistency LEVEL", "--local-dc NAME", "--allow-remote-dcs"};
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
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
