/* cmd_report.c - `cassnn report`: flags in, the HTML report (report.h) out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/report.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "connect.h"

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
            "  --wrong N             images in the most-confidently-wrong grid (default 24)\n"
            "%s",
            cli_conn_usage);
}

int cmd_report(int argc, char **argv) {
    report_options o = {0};
    cli_conn_opts conn = {0};
    const char *path = NULL;
    cassnn_err err = {0};
    for (int i = 1; i < argc; i++) {
        const int c = cli_conn_flag(&conn, argc, argv, &i, &err);
        if (c < 0) {
            fprintf(stderr, "cassnn report: %s\n", err.msg);
            return 2;
        }
        if (c) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "--keyspace")      ? &o.keyspace
                            : !strcmp(a, "--compare")     ? &o.compare
                            : !strcmp(a, "-o")            ? &path
                            : !strcmp(a, "--model")       ? &o.model
                            : !strcmp(a, "--train-table") ? &o.train_table
                            : !strcmp(a, "--test-table")  ? &o.test_table
                                                          : NULL;
        if (!strcmp(a, "--wrong") && v) {
            char *end;
            o.wrong = (int)strtol(v, &end, 10);
            if (*end || o.wrong < 1 || o.wrong > 1000) {
                fprintf(stderr, "cassnn report: --wrong '%s': expected 1..1000\n", v);
                return 2;
            }
        } else if (!slot || !v) {
            fprintf(stderr, "cassnn report: unexpected or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            *slot = v;
        }
        i++;
    }
    if (!o.keyspace || !registry_valid_name(o.keyspace) ||
        (o.compare && !registry_valid_name(o.compare))) {
        fprintf(stderr, "cassnn report: --keyspace KS is required (names: letters, digits, _)\n");
        return 2;
    }
    if (!path) {
        fprintf(stderr, "cassnn report: -o FILE is required ('-' for stdout)\n");
        return 2;
    }
    cql_session *s;
    if (cli_conn_open(&conn, NULL, 0, &s, &err)) {
        fprintf(stderr, "cassnn report: %s\n", err.msg);
        return 1;
    }
    /* written beside the target and renamed: a failed report leaves no half file */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const int to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(tmp, "w");
    int rc = 1;
    if (!f) {
        fprintf(stderr, "cassnn report: %s: %s\n", tmp, strerror(errno));
    } else if (report_write(s, &o, f, &err)) {
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
