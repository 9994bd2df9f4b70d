/* main.c - the `cassnn` program: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const cassnn_command commands[] = {
    {"cluster", cmd_cluster, "start|stop|status the local Cassandra node(s)"},
    {"train", cmd_train, "train a model on IDX files (--idx DIR) or a keyspace's tables (--keyspace KS)"},
    {"schema", cmd_schema, "create the keyspace, tables and indexes"},
    {"cql", cmd_cql, "run one CQL statement and print every result row"},
    {"ingest", cmd_ingest, "load MNIST images (CSV, IDX, PNG) into the raw tables"},
    {"models", cmd_models, "list|best|show|export|import|delete checkpoints in the registry"},
    {"predict", cmd_predict, "classify raw_predict/raw_test rows or image files with a stored model"},
    {"serve", cmd_serve, "HTTP prediction service and drawing page for a stored model"},
    {"report", cmd_report, "an HTML training report of a keyspace (--compare another)"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: cassnn <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`cassnn <command> --help` describes one command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cassnn: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
