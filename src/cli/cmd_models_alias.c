/* cmd_models_alias.c - `cassnn models alias set|list|delete`: names for
 * models in KS.model_aliases (registry_alias.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "cassnn/schema.h"
#include "commands.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn models alias ACTION --keyspace KS [options]\n"
            "  set NAME MODEL     point NAME at MODEL (a model id, '" REGISTRY_ALIAS_BEST "' or another\n"
            "                     alias: the id it points at now); setting it again moves it,\n"
            "                     which is also how to roll back\n"
            "  list               every alias, its model id and when it was set\n"
            "  delete NAME        remove an alias\n"
            "'" REGISTRY_ALIAS_BEST "' is built in (the models_test row with the highest accuracy).\n");
}

enum { SET, LIST, DELETE };

static int parse(int argc, char **argv, conn_options *conn, const char **keyspace,
                 const char **args, cli_command *cmd, int *action) {
    conn_options_init(conn);
    *keyspace = NULL;
    const cli_flag flags[] = {CLI_FLAG("keyspace", CLI_TEXT, keyspace), CLI_END};
    *cmd = (cli_command){.name = "models alias", .usage = usage, .flags = flags, .conn = conn,
                         .args = args, .max_args = 3};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    const int n = cmd->n_args;
    *action = n == 3 && !strcmp(args[0], "set")      ? SET
              : n == 1 && !strcmp(args[0], "list")   ? LIST
              : n == 2 && !strcmp(args[0], "delete") ? DELETE
                                                     : -1;
    if (*action < 0) return cli_usage_error(cmd, "expected set NAME MODEL, list or delete NAME");
    if (!*keyspace || !registry_valid_name(*keyspace))
        return cli_usage_error(cmd, "--keyspace KS is required (letters, digits, _)");
    if (*action != LIST && !registry_alias_valid_name(args[1]))
        return cli_usage_error(cmd, "'%s' cannot be an alias (1..64 letters, digits, '_', '-', "
                                    "'.'; not a uuid, not '" REGISTRY_ALIAS_BEST "')", args[1]);
    return CLI_GO;
}

static int do_set(cql_session *s, const char *ks, const char *name, const char *model,
                  cassnn_err *err) {
    uint8_t uuid[16];
    char id[37];
    if (registry_model_resolve(s, ks, model, uuid, err) ||
        registry_alias_set(s, ks, name, uuid, err))
        return -1;
    registry_uuid_format(uuid, id);
    printf("%s -> %s\n", name, id);
    return 0;
}

static int do_list(cql_session *s, const char *ks, cassnn_err *err) {
    registry_alias *a;
    size_t n;
    if (registry_alias_list(s, ks, &a, &n, err)) return -1;
    for (size_t i = 0; i < n; i++) {
        char when[32], id[37];
        time_t t = (time_t)(a[i].updated_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        registry_uuid_format(a[i].model_id, id);
        printf("%-24s %s  set %s UTC\n", a[i].name, id, when);
    }
    printf("%zu aliases (and the built-in '" REGISTRY_ALIAS_BEST "')\n", n);
    free(a);
    return 0;
}

int cmd_models_alias(int argc, char **argv) {
    conn_options conn;
    const char *keyspace, *args[3] = {0};
    cli_command cmd;
    int action;
    const int st = parse(argc, argv, &conn, &keyspace, args, &cmd, &action);
    if (st != CLI_GO) return st;
    cql_session *s;
    if (cli_connect_for(&cmd, keyspace, &s)) return 1;
    cassnn_err err = {0};
    int rc;
    if (action == SET) {
        rc = do_set(s, keyspace, args[1], args[2], &err);
    } else if (action == DELETE) {
        rc = registry_alias_delete(s, keyspace, args[1], &err);
        if (rc == 0) printf("deleted alias %s\n", args[1]);
    } else {
        rc = do_list(s, keyspace, &err);
    }
    if (rc) fprintf(stderr, "cassnn models alias: %s\n", err.msg);
    cql_session_close(s);
    return rc ? 1 : 0;
}
