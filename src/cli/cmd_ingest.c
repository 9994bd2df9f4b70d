/* cmd_ingest.c - `cassnn ingest`: load image files into the raw tables,
 * through libcassnn's ingest run (run.h); this file parses and prints.
 *
 * Order of work, which is the point of the command's design:
 *   1. read and validate every input completely (readers check whole files);
 *   2. check that no two rows bound for one table share an id;
 *   3. only then connect, create/check the schema and write;
 * so bad input never leaves a half-written table. Writes are upserts by id:
 * a run stopped by Ctrl-C or a node failure reports how far it got, and the
 * same command run again completes it.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cassnn/dataset.h"
#include "cassnn/run.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "report.h"

typedef struct ingest_args {
    run_ingest_options run;
    conn_options conn;
    int verify, stats;
} ingest_args;

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn ingest [--keyspace KS] SOURCES... [options]\n"
            "sources (any combination; all are validated before anything is written):\n"
            "  --train FILE      labeled Kaggle CSV (label,pixel0..pixel783), split into\n"
            "                    raw_train (first part) and raw_test (rest), ids from 0\n"
            "  --split F         fraction of --train rows for raw_train (default 0.8)\n"
            "  --predict FILE    unlabeled CSV (pixel0..pixel783) into raw_predict\n"
            "  --idx DIR         MNIST IDX files (raw or .gz): train-* into raw_train,\n"
            "                    t10k-* into raw_test\n"
            "  --dataset NAME    mnist|fashion: the official IDX files in $CASSNN_DATA/NAME\n"
            "                    (or ./data/NAME), MD5-checked, downloaded there when missing;\n"
            "                    also sets the default keyspace\n"
            "  --mirror URL      base URL to download --dataset files from (default: the\n"
            "                    public mirrors torchvision uses; file:// works too)\n"
            "  --png DIR --table T  DIR/<label>/*.png (28x28 grayscale) into table T\n"
            "options:\n"
            "  --keyspace KS     default mnist_digits (mnist_fashion with --dataset fashion)\n"
            "  --replication N   replication factor when creating the keyspace (default 1)\n"
            "  --dc NAME         use NetworkTopologyStrategy {NAME: N} instead of SimpleStrategy\n"
            "  --layout L        tutorial (default: pixels list<int>) or blob (raw_*_blob\n"
            "                    tables, pixels as one 784-byte blob: faster)\n"
            "  --skip-bad        skip and count bad rows/images instead of failing\n"
            "  --verify          read the tables back and compare counts and checksums\n"
            "  --concurrency N   INSERTs in flight (default 128)\n"
            "  --stats           print the requests sent to each node\n");
}

static int parse_args(int argc, char **argv, ingest_args *a, cli_command *cmd) {
    static const char *const layouts[] = {"tutorial", "blob", NULL};
    memset(a, 0, sizeof *a);
    run_ingest_defaults(&a->run);
    conn_options_init(&a->conn);
    run_ingest_options *o = &a->run;
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &o->keyspace),
        CLI_FLAG("train", CLI_TEXT, &o->train_csv),
        CLI_RANGE("split", CLI_NUMBER, &o->split, 1e-9, 1.0),
        CLI_FLAG("predict", CLI_TEXT, &o->predict_csv),
        CLI_FLAG("idx", CLI_TEXT, &o->idx_dir),
        CLI_FLAG("png", CLI_TEXT, &o->png_dir),
        CLI_FLAG("table", CLI_TEXT, &o->png_table),
        CLI_FLAG("dataset", CLI_TEXT, &o->dataset),
        CLI_FLAG("mirror", CLI_TEXT, &o->mirror),
        CLI_RANGE("replication", CLI_INT, &o->replication, 1, 100),
        CLI_FLAG("dc", CLI_TEXT, &o->datacenter),
        CLI_CHOICES("layout", &o->blob_layout, layouts),
        CLI_FLAG("skip-bad", CLI_SWITCH, &o->skip_bad),
        CLI_FLAG("verify", CLI_SWITCH, &a->verify),
        CLI_FLAG("stats", CLI_SWITCH, &a->stats),
        CLI_RANGE("concurrency", CLI_INT, &o->concurrency, 1, 100000),
        CLI_END,
    };
    *cmd = (cli_command){.name = "ingest", .usage = usage, .flags = flags, .conn = &a->conn};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    if (!o->train_csv && !o->predict_csv && !o->idx_dir && !o->png_dir && !o->dataset)
        return cli_usage_error(cmd, "nothing to ingest (give --train, --predict, --idx, "
                                    "--dataset or --png)");
    if (!o->png_dir != !o->png_table) return cli_usage_error(cmd, "--png DIR and --table T go together");
    if (o->dataset && !data_dataset_named(o->dataset))
        return cli_usage_error(cmd, "--dataset %s: expected mnist or fashion", o->dataset);
    if ((o->keyspace && !registry_valid_name(o->keyspace)) ||
        (o->png_table && !registry_valid_name(o->png_table)))
        return cli_usage_error(cmd, "keyspace and table names are letters, digits and _ "
                                    "(at most 48)");
    return CLI_GO;
}

static void print_skipped(void *user, const char *source, const data_load_stats *st) {
    (void)user;
    fprintf(stderr, "cassnn ingest: %s: skipped %zu bad of %zu records (first: %s)\n", source,
            st->skipped, st->records, st->first_bad);
}

static void print_download(void *user, const char *what, const char *path) {
    (void)user;
    if (path) fprintf(stderr, "downloading %s -> %s\n", what, path);
    else fprintf(stderr, "%s; trying the next mirror\n", what);
}

typedef struct progress_view {
    int tty;
    double start, last_line;
} progress_view;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A bar with rows/s and ETA on a terminal; a plain line every 5 s otherwise. */
static void show_progress(void *user, size_t done, size_t total) {
    progress_view *v = user;
    double t = now_seconds(), elapsed = t - v->start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    if (v->tty) {
        char bar[31];
        int filled = total ? (int)(30.0 * (double)done / (double)total) : 30;
        for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %zu/%zu rows  %.0f rows/s  ETA %.0fs ", bar, done, total, rate,
                eta);
        if (done == total) fputc('\n', stderr);
    } else if (t - v->last_line >= 5.0 || done == total) {
        v->last_line = t;
        fprintf(stderr, "ingest: %zu/%zu rows, %.0f rows/s, ETA %.0f s\n", done, total, rate, eta);
    }
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
    (void)sig;
    interrupted = 1;
}

static void print_stopped(const run_ingest *ri, const cassnn_err *err, int tty) {
    size_t written = 0;
    for (size_t i = 0; i < ri->n; i++) written += ri->sets[i].written;
    if (tty) fputc('\n', stderr);
    fprintf(stderr, "cassnn ingest: stopped: %s\n", err->msg);
    fprintf(stderr, "cassnn ingest: %zu of %zu rows written in %.1f s:", written, ri->total,
            ri->seconds);
    for (size_t i = 0; i < ri->n; i++)
        fprintf(stderr, " %s %zu/%zu;", ri->sets[i].table, ri->sets[i].written,
                ri->sets[i].images.count);
    fprintf(stderr, "\ncassnn ingest: run the same command again to complete it "
                    "(rows are upserts by id)\n");
}

static void print_written(const run_ingest *ri) {
    printf("ingested %zu rows into %s in %.2f s (%.0f rows/s):\n", ri->total, ri->o.keyspace,
           ri->seconds, ri->seconds > 0 ? (double)ri->total / ri->seconds : 0);
    for (size_t i = 0; i < ri->n; i++)
        printf("  %-18s %6zu rows  from %s\n", ri->sets[i].table, ri->sets[i].written,
               ri->sets[i].source);
    if (ri->retried)
        printf("  (%zu writes were sent again after the node timed out)\n", ri->retried);
}

/* Writes with Ctrl-C (and SIGTERM) asking to stop after the rows in flight. */
static int write_interruptibly(run_ingest *ri, cql_session *s, cassnn_err *err) {
    struct sigaction sa = {.sa_handler = on_interrupt, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    const int rc = run_ingest_write(ri, s, err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

/* Connects, creates/checks the schema, writes, verifies. */
static int write_sets(run_ingest *ri, const cli_command *cmd, int verify, int stats) {
    cassnn_err err = {0};
    cql_session *s = NULL;
    if (conn_open(cmd->conn, NULL, ri->o.concurrency, &s, &err)) {
        fprintf(stderr, "cassnn ingest: %s (nothing written)\n", err.msg);
        return 1;
    }
    int rc = 1;
    progress_view view = {isatty(STDERR_FILENO), now_seconds(), now_seconds()};
    ri->events.written = show_progress;
    ri->events.user = &view;
    if (run_ingest_schema(ri, s, &err)) {
        fprintf(stderr, "cassnn ingest: schema: %s (nothing written)\n", err.msg);
    } else if (cli_use_consistency(cmd, s, ri->o.keyspace)) {
        fprintf(stderr, "cassnn ingest: nothing written\n");
    } else if (write_interruptibly(ri, s, &err)) {
        print_stopped(ri, &err, view.tty);
    } else {
        print_written(ri);
        rc = verify ? run_ingest_verify(ri, s, &err) : 0;
        if (rc) fprintf(stderr, "cassnn ingest: %s\n", err.msg);
        else if (verify) printf("verify: every table's row count and checksum of labels and pixels match\n");
    }
    if (stats) cli_print_node_stats(stdout, s);
    cql_session_close(s);
    return rc ? 1 : 0;
}

int cmd_ingest(int argc, char **argv) {
    ingest_args a;
    cli_command cmd;
    int status = parse_args(argc, argv, &a, &cmd);
    if (status != CLI_GO) return status;
    a.run.stop = &interrupted;
    const run_events events = {.skipped = print_skipped, .downloading = print_download};
    run_ingest ri;
    cassnn_err err = {0};
    if (run_ingest_load(&ri, &a.run, &events, &err)) {
        fprintf(stderr, "cassnn ingest: %s (nothing written)\n", err.msg);
        status = 1;
    } else {
        status = write_sets(&ri, &cmd, a.verify, a.stats);
    }
    run_ingest_free(&ri);
    return status;
}
