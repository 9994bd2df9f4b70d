/* cmd_models_alias.c - `cassnn models alias set|list|delete`: names for
 * models in KS.model_aliases (registry_alias.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "connect.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn models alias ACTION --keyspace KS [connection flags]\n"
            "  set NAME MODEL     point NAME at MODEL (a model id, '" REGISTRY_ALIAS_BEST "' or another\n"
            "                     alias: the id it points at now); setting it again moves it,\n"
            "                     which is also how to roll back\n"
            "  list               every alias, its model id and when it was set\n"
            "  delete NAME        remove an alias\n"
            "'" REGISTRY_ALIAS_BEST "' is built in (the models_test row with the highest accuracy).\n"
            "%s",
            cli_conn_usage);
}

int cmd_models_alias(int argc, char **argv) {
    const char *keyspace = NULL, *args[3] = {0};
    int n_args = 0;
    cli_conn_opts conn = {0};
    cassnn_err err = {0};
    for (int i = 1; i < argc; i++) {
        const int c = cli_conn_flag(&conn, argc, argv, &i, &err);
        if (c < 0) {
            fprintf(stderr, "cassnn models alias: %s\n", err.msg);
            return 2;
        }
        if (c) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--keyspace") && i + 1 < argc) {
            keyspace = argv[++i];
        } else if (argv[i][0] == '-' || n_args == 3) {
            fprintf(stderr, "cassnn models alias: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            args[n_args++] = argv[i];
        }
    }
    const int set = n_args == 3 && !strcmp(args[0], "set"),
              list = n_args == 1 && !strcmp(args[0], "list"),
              del = n_args == 2 && !strcmp(args[0], "delete");
    if (!set && !list && !del) {
        fprintf(stderr, "cassnn models alias: expected set NAME MODEL, list or delete NAME\n");
        usage(stderr);
        return 2;
    }
    if (!keyspace || !registry_valid_name(keyspace)) {
        fprintf(stderr, "cassnn models alias: --keyspace KS is required (letters, digits, _)\n");
        return 2;
    }
    if ((set || del) && !registry_alias_valid_name(args[1])) {
        fprintf(stderr, "cassnn models alias: '%s' cannot be an alias (1..64 letters, digits, "
                        "'_', '-', '.'; not a uuid, not '" REGISTRY_ALIAS_BEST "')\n", args[1]);
        return 2;
    }
    cql_session *s;
    if (cli_conn_open(&conn, NULL, 0, &s, &err)) {
        fprintf(stderr, "cassnn models alias: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    char id[37];
    if (set) {
        uint8_t uuid[16];
        rc = registry_model_resolve(s, keyspace, args[2], uuid, &err) ||
             registry_alias_set(s, keyspace, args[1], uuid, &err);
        registry_uuid_format(uuid, id);
        if (rc == 0) printf("%s -> %s\n", args[1], id);
    } else if (del) {
        rc = registry_alias_delete(s, keyspace, args[1], &err);
        if (rc == 0) printf("deleted alias %s\n", args[1]);
    } else {
        registry_alias *a;
        size_t n;
        rc = registry_alias_list(s, keyspace, &a, &n, &err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char when[32];
            time_t t = (time_t)(a[i].updated_ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            registry_uuid_format(a[i].model_id, id);
            printf("%-24s %s  set %s UTC\n", a[i].name, id, when);
        }
        if (rc == 0) {
            printf("%zu aliases (and the built-in '" REGISTRY_ALIAS_BEST "')\n", n);
            free(a);
        }
    }
    if (rc) fprintf(stderr, "cassnn models alias: %s\n", err.msg);
    cql_session_close(s);
    return rc ? 1 : 0;
}
