/* cmd_serve.c - `cassnn serve`: flags in, the prediction service (serve.h)
 * up until SIGINT or SIGTERM. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "cassnn/schema.h"
#include "cassnn/serve.h"
#include "cassnn/run.h"
#include "commands.h"
#include "spool.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn serve --keyspace KS [options]\n"
            "  --model ID|best|ALIAS   the model to serve (default best); an alias or best is\n"
            "                          followed: when it moves, the new model is loaded and\n"
            "                          swapped in without failing a request\n"
            "  --listen HOST:PORT      address (default 127.0.0.1:8080; port 0: any free one)\n"
            "  --token-file F          require Authorization: Bearer <first line of F> on\n"
            "                          /predict, /models and /metrics\n"
            "  --dataset mnist|fashion input normalisation (default: from the keyspace name)\n"
            "  --max-batch N           images per forward pass of the batcher (default 64)\n"
            "  --max-wait-us N         how long a request waits for others to join (default 200)\n"
            "  --poll-ms N             how often the model name is resolved again (default 2000)\n"
            "  --max-body SIZE         largest request body (default 1M)\n"
            "  --body-timeout S        seconds a request body may take to arrive (default 10)\n"
            "  --http-threads N        HTTP threads (default 2)\n"
            "  --threads N             threads of one forward pass (default 1)\n"
            "endpoints: POST /predict, GET /health, /metrics, /models, / (the drawing page)\n");
}

/* The first line of path, trimmed. */
static char *read_token(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cassnn serve: --token-file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *token = NULL;
    if (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        line[n] = '\0';
        if (n > 0) token = strdup(line);
    }
    fclose(f);
    if (!token) fprintf(stderr, "cassnn serve: --token-file %s: the first line is empty\n", path);
    return token;
}

typedef struct serve_args {
    serve_options serve;
    conn_options conn;
    const char *token_file, *dataset;
} serve_args;

static int parse(int argc, char **argv, serve_args *a, cli_command *cmd) {
    memset(a, 0, sizeof *a);
    conn_options_init(&a->conn);
    serve_options *o = &a->serve;
    o->max_wait_us = -1;
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &o->keyspace),
        CLI_FLAG("model", CLI_TEXT, &o->model),
        CLI_FLAG("listen", CLI_TEXT, &o->listen),
        CLI_FLAG("token-file", CLI_TEXT, &a->token_file),
        CLI_FLAG("dataset", CLI_TEXT, &a->dataset),
        CLI_RANGE("max-batch", CLI_INT, &o->max_batch, 1, 65536),
        CLI_RANGE("max-wait-us", CLI_INT, &o->max_wait_us, 0, 10000000),
        CLI_RANGE("poll-ms", CLI_INT, &o->poll_ms, 10, 86400000),
        CLI_RANGE("body-timeout", CLI_INT, &o->request_timeout_s, 1, 86400),
        CLI_RANGE("http-threads", CLI_INT, &o->http_threads, 1, 1024),
        CLI_RANGE("threads", CLI_INT, &o->nn_threads, 1, 1024),
        CLI_FLAG("max-body", CLI_SIZE, &o->max_body),
        CLI_END,
    };
    *cmd = (cli_command){.name = "serve", .usage = usage, .flags = flags, .conn = &a->conn};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    if (!o->keyspace || !registry_valid_name(o->keyspace))
        return cli_usage_error(cmd, "--keyspace KS is required (letters, digits, _)");
    uint8_t id[16];
    if (o->model && strcmp(o->model, REGISTRY_ALIAS_BEST) &&
        registry_uuid_parse(o->model, id, NULL) && !registry_alias_valid_name(o->model))
        return cli_usage_error(cmd, "--model '%s': expected a model id, '" REGISTRY_ALIAS_BEST
                                    "' or an alias name", o->model);
    cassnn_err err = {0};
    if (run_normalisation(a->dataset, o->keyspace, &o->mean, &o->std, &err))
        return cli_usage_error(cmd, "--%s", err.msg);
    return CLI_GO;
}

/* Up until SIGINT or SIGTERM. */
static int serve(serve_args *a, const cli_command *cmd) {
    serve_options *o = &a->serve;
    char *token = NULL;
    if (a->token_file && !(token = read_token(a->token_file))) return 2;
    o->token = token;

    /* SIGINT/SIGTERM are taken by sigwait below, in this thread only */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    cql_session *s = NULL;
    serve_server *srv = NULL;
    cassnn_err err = {0};
    int rc = 1;
    if (cli_open_registry(cmd, o->keyspace, &s)) goto done;
    if (serve_start(&srv, s, o, &err)) {
        fprintf(stderr, "cassnn serve: %s\n", err.msg);
        goto done;
    }
    printf("cassnn serve: http://%s/ (port %u), following %s in %s%s\n",
           o->listen ? o->listen : "127.0.0.1:8080", serve_port(srv),
           o->model ? o->model : REGISTRY_ALIAS_BEST, o->keyspace,
           token ? ", bearer token required" : "");
    if (serve_wait_ready(srv, 60000, &err) == 0) printf("cassnn serve: model loaded, ready\n");
    else fprintf(stderr, "cassnn serve: not ready yet (%s); /health says 503 until it is\n", err.msg);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    printf("cassnn serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_stop(srv);
    rc = 0;
done:
    cql_session_close(s);
    free(token);
    return rc;
}

int cmd_serve(int argc, char **argv) {
    serve_args a;
    cli_command cmd;
    const int st = parse(argc, argv, &a, &cmd);
    return st != CLI_GO ? st : serve(&a, &cmd);
}
