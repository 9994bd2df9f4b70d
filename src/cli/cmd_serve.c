/* cmd_serve.c - `cassnn serve`: flags in, the prediction service (serve.h)
 * up until SIGINT or SIGTERM. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/feed.h"
#include "cassnn/nn_train.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "cassnn/schema.h"
#include "cassnn/serve.h"
#include "cassnn/stream.h"
#include "commands.h"
#include "connect.h"

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
            "  --request-timeout S     seconds a body may take to arrive (default 10)\n"
            "  --http-threads N        HTTP threads (default 2)\n"
            "  --threads N             threads of one forward pass (default 1)\n"
            "endpoints: POST /predict, GET /health, /metrics, /models, / (the drawing page)\n"
            "%s",
            cli_conn_usage);
}

static int parse_int(const char *flag, const char *text, int min, int *out) {
    char *end;
    errno = 0;
    const long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < min || v > INT_MAX) {
        fprintf(stderr, "cassnn serve: %s '%s': expected a whole number >= %d\n", flag, text, min);
        return -1;
    }
    *out = (int)v;
    return 0;
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

int cmd_serve(int argc, char **argv) {
    serve_options o = {.max_wait_us = -1};
    cli_conn_opts conn = {0};
    const char *token_file = NULL, *dataset = NULL;
    cassnn_err err = {0};
    for (int i = 1; i < argc; i++) {
        const int c = cli_conn_flag(&conn, argc, argv, &i, &err);
        if (c < 0) {
            fprintf(stderr, "cassnn serve: %s\n", err.msg);
            return 2;
        }
        if (c) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!v) {
            bad = 1;
        } else if (!strcmp(a, "--keyspace")) o.keyspace = v;
        else if (!strcmp(a, "--model")) o.model = v;
        else if (!strcmp(a, "--listen")) o.listen = v;
        else if (!strcmp(a, "--token-file")) token_file = v;
        else if (!strcmp(a, "--dataset")) dataset = v;
        else if (!strcmp(a, "--max-batch")) bad = parse_int(a, v, 1, &o.max_batch);
        else if (!strcmp(a, "--max-wait-us")) bad = parse_int(a, v, 0, &o.max_wait_us);
        else if (!strcmp(a, "--poll-ms")) bad = parse_int(a, v, 10, &o.poll_ms);
        else if (!strcmp(a, "--request-timeout")) bad = parse_int(a, v, 1, &o.request_timeout_s);
        else if (!strcmp(a, "--http-threads")) bad = parse_int(a, v, 1, &o.http_threads);
        else if (!strcmp(a, "--threads")) bad = parse_int(a, v, 1, &o.nn_threads);
        else if (!strcmp(a, "--max-body")) {
            if (data_parse_size(v, &o.max_body) || o.max_body == 0) {
                fprintf(stderr, "cassnn serve: --max-body '%s': expected a size such as 64K or 1M\n", v);
                return 2;
            }
        } else bad = 1;
        if (bad) {
            fprintf(stderr, "cassnn serve: unexpected, incomplete or bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!o.keyspace || !registry_valid_name(o.keyspace)) {
        fprintf(stderr, "cassnn serve: --keyspace KS is required (letters, digits, _)\n");
        return 2;
    }
    uint8_t id[16];
    if (o.model && strcmp(o.model, REGISTRY_ALIAS_BEST) && registry_uuid_parse(o.model, id, NULL) &&
        !registry_alias_valid_name(o.model)) {
        fprintf(stderr, "cassnn serve: --model '%s': expected a model id, '" REGISTRY_ALIAS_BEST
                        "' or an alias name\n", o.model);
        return 2;
    }
    if (!dataset) dataset = strstr(o.keyspace, "fashion") ? "fashion" : "mnist";
    if (data_feed_normalisation(dataset, &o.mean, &o.std)) {
        fprintf(stderr, "cassnn serve: --dataset %s: expected mnist or fashion\n", dataset);
        return 2;
    }
    char *token = NULL;
    if (token_file && !(token = read_token(token_file))) return 2;
    o.token = token;

    /* SIGINT/SIGTERM are taken by sigwait below, in this thread only */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    cql_session *s = NULL;
    serve_server *srv = NULL;
    int rc = 1;
    if (cli_conn_open(&conn, NULL, 0, &s, &err) || serve_start(&srv, s, &o, &err)) {
        fprintf(stderr, "cassnn serve: %s\n", err.msg);
        goto done;
    }
    printf("cassnn serve: http://%s/ (port %u), following %s in %s%s\n",
           o.listen ? o.listen : "127.0.0.1:8080", serve_port(srv),
           o.model ? o.model : REGISTRY_ALIAS_BEST, o.keyspace, token ? ", bearer token required" : "");
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
