/* cmd_report.c - `cassnn report`: flags in, the HTML report (report.h) out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cassnn/report.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "spool.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn report --keyspace KS [--compare KS2] -o report.html [options]\n"
            "  one self-contained HTML file (inline SVG, no network): loss against examples\n"
            "  seen with the test losses as points, test accuracy per epoch, the model's\n"
            "  confusion matrix, accuracy per class, its most confidently wrong test images,\n"
            "  and the checkpoint table; --compare puts a second keyspace beside the first\n"
            "  -o FILE               where to write it ('-': stdout)\n"
            "  --model ID|best|ALIAS the model to evaluate (default best)\n"
            "  --train-table T       (default raw_train, or raw_train_blob if that has the rows)\n"
            "  --test-table T        (default raw_test, or raw_test_blob likewise)\n"
            "  --wrong N             images in the most-confidently-wrong grid (default 24)\n");
}

typedef struct report_args {
    report_options report;
    conn_options conn;
    const char *path;
} report_args;

static int parse(int argc, char **argv, report_args *a, cli_command *cmd) {
    memset(a, 0, sizeof *a);
    conn_options_init(&a->conn);
    report_options *o = &a->report;
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &o->keyspace),
        CLI_FLAG("compare", CLI_TEXT, &o->compare),
        CLI_FLAG("o", CLI_TEXT, &a->path),
        CLI_FLAG("model", CLI_TEXT, &o->model),
        CLI_FLAG("train-table", CLI_TEXT, &o->train_table),
        CLI_FLAG("test-table", CLI_TEXT, &o->test_table),
        CLI_RANGE("wrong", CLI_INT, &o->wrong, 1, 1000),
        CLI_END,
    };
    *cmd = (cli_command){.name = "report", .usage = usage, .flags = flags, .conn = &a->conn};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    if (!o->keyspace || !registry_valid_name(o->keyspace) ||
        (o->compare && !registry_valid_name(o->compare)))
        return cli_usage_error(cmd, "--keyspace KS is required (names: letters, digits, _)");
    if (!a->path) return cli_usage_error(cmd, "-o FILE is required ('-' for stdout)");
    return CLI_GO;
}

static int report(const report_args *a, const cli_command *cmd) {
    const char *path = a->path;
    cql_session *s;
    if (cli_open_registry(cmd, a->report.keyspace, &s)) return 1;
    cassnn_err err = {0};
    /* written beside the target and renamed: a failed report leaves no half file */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const int to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(tmp, "w");
    int rc = 1;
    if (!f) {
        fprintf(stderr, "cassnn report: %s: %s\n", tmp, strerror(errno));
    } else if (report_write(s, &a->report, f, &err)) {
        fprintf(stderr, "cassnn report: %s\n", err.msg);
        if (!to_stdout) {
            fclose(f);
            remove(tmp);
        }
    } else if (!to_stdout && (fclose(f) || rename(tmp, path))) {
        fprintf(stderr, "cassnn report: writing %s: %s\n", path, strerror(errno));
        remove(tmp);
    } else {
        if (!to_stdout) fprintf(stderr, "cassnn report: wrote %s\n", path);
        rc = 0;
    }
    cql_session_close(s);
    return rc;
}

int cmd_report(int argc, char **argv) {
    report_args a;
    cli_command cmd;
    const int st = parse(argc, argv, &a, &cmd);
    return st != CLI_GO ? st : report(&a, &cmd);
}
