/* cmd_ingest.c - `cassnn ingest`: load image files into the raw tables.
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
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cassnn/csv.h"
#include "cassnn/dataset.h"
#include "cassnn/idx.h"
#include "cassnn/ingest.h"
#include "cassnn/png_dir.h"
#include "cassnn/schema.h"
#include "args.h"
#include "commands.h"

enum { MAX_SETS = DATA_INGEST_MAX_SETS, TRAIN = 0, TEST = 1, PREDICT = 2 };

typedef struct ingest_args {
    const char *keyspace, *train, *predict, *idx, *png, *table, *dataset, *mirror, *datacenter;
    double split;
    int replication, skip_bad, verify, blob_layout, concurrency;
    conn_options conn;
} ingest_args;

typedef struct loaded_set {
    data_images images;
    char source[1200];
    const char *table;
} loaded_set;

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
            "  --concurrency N   INSERTs in flight (default 128)\n");
}

static int parse_args(int argc, char **argv, ingest_args *a, cli_command *cmd) {
    static const char *const layouts[] = {"tutorial", "blob", NULL};
    *a = (ingest_args){.split = 0.8, .replication = 1, .concurrency = 128};
    conn_options_init(&a->conn);
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &a->keyspace),
        CLI_FLAG("train", CLI_TEXT, &a->train),
        CLI_RANGE("split", CLI_NUMBER, &a->split, 1e-9, 1.0),
        CLI_FLAG("predict", CLI_TEXT, &a->predict),
        CLI_FLAG("idx", CLI_TEXT, &a->idx),
        CLI_FLAG("png", CLI_TEXT, &a->png),
        CLI_FLAG("table", CLI_TEXT, &a->table),
        CLI_FLAG("dataset", CLI_TEXT, &a->dataset),
        CLI_FLAG("mirror", CLI_TEXT, &a->mirror),
        CLI_RANGE("replication", CLI_INT, &a->replication, 1, 100),
        CLI_FLAG("dc", CLI_TEXT, &a->datacenter),
        CLI_CHOICES("layout", &a->blob_layout, layouts),
        CLI_FLAG("skip-bad", CLI_SWITCH, &a->skip_bad),
        CLI_FLAG("verify", CLI_SWITCH, &a->verify),
        CLI_RANGE("concurrency", CLI_INT, &a->concurrency, 1, 100000),
        CLI_END,
    };
    *cmd = (cli_command){.name = "ingest", .usage = usage, .flags = flags, .conn = &a->conn};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    if (!a->train && !a->predict && !a->idx && !a->png && !a->dataset)
        return cli_usage_error(cmd, "nothing to ingest (give --train, --predict, --idx, "
                                    "--dataset or --png)");
    if (!a->png != !a->table) return cli_usage_error(cmd, "--png DIR and --table T go together");
    const data_dataset *ds = a->dataset ? data_dataset_named(a->dataset) : NULL;
    if (a->dataset && !ds)
        return cli_usage_error(cmd, "--dataset %s: expected mnist or fashion", a->dataset);
    if (!a->keyspace) a->keyspace = ds ? ds->keyspace : "mnist_digits";
    if (!registry_valid_name(a->keyspace) || (a->table && !registry_valid_name(a->table)))
        return cli_usage_error(cmd, "keyspace and table names are letters, digits and _ "
                                    "(at most 48)");
    return CLI_GO;
}

static const char *raw_table(const ingest_args *a, int which) {
    return (a->blob_layout ? registry_raw_blob_tables : registry_raw_tables)[which];
}

static void report_skipped(const char *source, const data_load_stats *st) {
    if (st->skipped)
        fprintf(stderr, "cassnn ingest: %s: skipped %zu bad of %zu records (first: %s)\n", source,
                st->skipped, st->records, st->first_bad);
}

/* Finds DIR/<prefix>-<kind>-idx?-ubyte[.gz]; 0 when absent. */
static int find_idx_file(const char *dir, const char *prefix, const char *kind, char *out,
                         size_t size) {
    const char *suffixes[2] = {".gz", ""};
    for (int i = 0; i < 2; i++) {
        snprintf(out, size, "%s/%s-%s-idx%d-ubyte%s", dir, prefix, kind,
                 !strcmp(kind, "images") ? 3 : 1, suffixes[i]);
        if (access(out, R_OK) == 0) return 1;
    }
    return 0;
}

static int load_idx_pair(const char *images, const char *labels, const char *table,
                         loaded_set *out, size_t *n, cassnn_err *err) {
    loaded_set *set = &out[(*n)];
    snprintf(set->source, sizeof set->source, "%s", images);
    set->table = table;
    if (data_idx_load(images, labels, &set->images, err)) return -1;
    (*n)++;
    return 0;
}

/* Reads every source into sets; nothing is written yet. */
static void note_download(void *user, const char *text, const char *path) {
    (void)user;
    if (path)
        fprintf(stderr, "downloading %s -> %s\n", text, path);
    else
        fprintf(stderr, "%s; trying the next mirror\n", text);
}

static int load_sources(const ingest_args *a, loaded_set *sets, size_t *n, cassnn_err *err) {
    *n = 0;
    if (a->train) {
        data_images all;
        data_load_stats st;
        if (data_csv_load(a->train, 1, a->skip_bad, &all, &st, err)) return -1;
        report_skipped(a->train, &st);
        int rc = data_images_split(&all, a->split, &sets[*n].images, &sets[*n + 1].images, err);
        data_images_free(&all);
        if (rc) return -1;
        snprintf(sets[*n].source, sizeof sets[*n].source, "%s (first %.0f%%)", a->train,
                 a->split * 100);
        sets[*n].table = raw_table(a, TRAIN);
        snprintf(sets[*n + 1].source, sizeof sets[*n + 1].source, "%s (last %.0f%%)", a->train,
                 (1 - a->split) * 100);
        sets[*n + 1].table = raw_table(a, TEST);
        *n += 2;
        if (sets[*n - 1].images.count == 0) /* --split 1: no test part */
            data_images_free(&sets[--*n].images);
    }
    if (a->predict) {
        data_load_stats st;
        if (data_csv_load(a->predict, 0, a->skip_bad, &sets[*n].images, &st, err)) return -1;
        report_skipped(a->predict, &st);
        snprintf(sets[*n].source, sizeof sets[*n].source, "%s", a->predict);
        sets[*n].table = raw_table(a, PREDICT);
        (*n)++;
    }
    if (a->idx) {
        char images[1100], labels[1100];
        int found = 0;
        const char *prefixes[2] = {"train", "t10k"};
        for (int k = 0; k < 2; k++) {
            int have_images = find_idx_file(a->idx, prefixes[k], "images", images, sizeof images);
            int have_labels = find_idx_file(a->idx, prefixes[k], "labels", labels, sizeof labels);
            if (have_images != have_labels)
                return cassnn_err_set(err, "%s: %s without its %s file", a->idx,
                                      have_images ? images : labels,
                                      have_images ? "labels" : "images");
            if (have_images) {
                found = 1;
                if (load_idx_pair(images, labels, raw_table(a, k ? TEST : TRAIN), sets, n, err))
                    return -1;
            }
        }
        if (!found)
            return cassnn_err_set(err, "%s: no IDX files (expected train-images-idx3-ubyte[.gz] "
                                       "and/or t10k-images-idx3-ubyte[.gz] with their labels)",
                                  a->idx);
    }
    if (a->dataset) {
        data_dataset_paths p;
        if (data_dataset_fetch(data_dataset_named(a->dataset), NULL, a->mirror, note_download,
                               NULL, &p, err))
            return -1;
        if (load_idx_pair(p.path[DATA_TRAIN_IMAGES], p.path[DATA_TRAIN_LABELS],
                          raw_table(a, TRAIN), sets, n, err) ||
            load_idx_pair(p.path[DATA_TEST_IMAGES], p.path[DATA_TEST_LABELS], raw_table(a, TEST),
                          sets, n, err))
            return -1;
    }
    if (a->png) {
        data_load_stats st;
        if (data_png_dir_load(a->png, a->skip_bad, &sets[*n].images, &st, err)) return -1;
        report_skipped(a->png, &st);
        snprintf(sets[*n].source, sizeof sets[*n].source, "%s", a->png);
        sets[*n].table = a->table;
        (*n)++;
    }
    for (size_t i = 0; i < *n; i++)
        if (sets[i].images.rows != 28 || sets[i].images.cols != 28)
            return cassnn_err_set(err, "%s: images are %dx%d; the raw tables hold 28x28",
                                  sets[i].source, sets[i].images.rows, sets[i].images.cols);
    return 0;
}

/* Rows of two sources bound for one table must not share ids. */
static int check_ids(const loaded_set *sets, size_t n, cassnn_err *err) {
    for (size_t i = 0; i < n; i++) {
        const data_images *group[MAX_SETS];
        const char *names[MAX_SETS];
        size_t k = 0;
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(sets[j].table, sets[i].table);
        if (seen) continue;
        for (size_t j = i; j < n; j++)
            if (!strcmp(sets[j].table, sets[i].table)) {
                group[k] = &sets[j].images;
                names[k++] = sets[j].source;
            }
        if (data_images_check_unique_ids(group, names, k, err))
            return cassnn_err_wrap(err, "table %s", sets[i].table);
    }
    return 0;
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

/* Connects, creates/checks the schema, writes, verifies. */
static int write_sets(const ingest_args *a, const cli_command *cmd, loaded_set *sets, size_t n) {
    cassnn_err err = {0};
    cql_session *s = NULL;
    const int concurrency = a->concurrency;
    if (conn_open(cmd->conn, NULL, concurrency, &s, &err)) {
        fprintf(stderr, "cassnn ingest: %s (nothing written)\n", err.msg);
        return 1;
    }
    registry_schema_options so = {a->keyspace, a->replication, a->datacenter, a->blob_layout};
    int rc = registry_schema_create(s, &so, &err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (a->table && sets[i].table == a->table)
            rc = registry_schema_ensure_raw_table(s, a->keyspace, a->table, &err);
    if (rc) {
        fprintf(stderr, "cassnn ingest: schema: %s (nothing written)\n", err.msg);
        cql_session_close(s);
        return 1;
    }

    data_ingest_set jobs[MAX_SETS];
    data_ingest_result result;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (data_ingest_set){sets[i].table, sets[i].source, &sets[i].images};
        total += sets[i].images.count;
    }
    progress_view view = {isatty(STDERR_FILENO), now_seconds(), now_seconds()};
    data_ingest_options o = {a->keyspace, concurrency, show_progress, &view, &interrupted};
    struct sigaction sa = {.sa_handler = on_interrupt, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double start = now_seconds();
    rc = data_ingest_write(s, jobs, n, &o, &result, &err);
    double seconds = now_seconds() - start;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);

    size_t written = 0;
    for (size_t i = 0; i < n; i++) written += result.confirmed[i];
    if (rc) {
        if (view.tty) fputc('\n', stderr);
        fprintf(stderr, "cassnn ingest: stopped: %s\n", err.msg);
        fprintf(stderr, "cassnn ingest: %zu of %zu rows written in %.1f s:", written, total,
                seconds);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %s %zu/%zu;", sets[i].table, result.confirmed[i],
                    sets[i].images.count);
        fprintf(stderr, "\ncassnn ingest: run the same command again to complete it "
                        "(rows are upserts by id)\n");
        cql_session_close(s);
        return 1;
    }
    printf("ingested %zu rows into %s in %.2f s (%.0f rows/s):\n", total, a->keyspace, seconds,
           seconds > 0 ? (double)total / seconds : 0);
    for (size_t i = 0; i < n; i++)
        printf("  %-18s %6zu rows  from %s\n", sets[i].table, result.confirmed[i],
               sets[i].source);
    if (result.retried)
        printf("  (%zu writes were sent again after the node timed out)\n", result.retried);
    if (a->verify) {
        if (data_ingest_verify(s, a->keyspace, jobs, n, &err)) {
            fprintf(stderr, "cassnn ingest: %s\n", err.msg);
            cql_session_close(s);
            return 1;
        }
        printf("verify: every table's row count and checksum of labels and pixels match\n");
    }
    cql_session_close(s);
    return 0;
}

int cmd_ingest(int argc, char **argv) {
    ingest_args a;
    cli_command cmd;
    int status = parse_args(argc, argv, &a, &cmd);
    if (status != CLI_GO) return status;

    loaded_set sets[MAX_SETS];
    memset(sets, 0, sizeof sets);
    size_t n = 0;
    cassnn_err err = {0};
    if (load_sources(&a, sets, &n, &err) || check_ids(sets, n, &err)) {
        fprintf(stderr, "cassnn ingest: %s (nothing written)\n", err.msg);
        status = 1;
    } else {
        status = write_sets(&a, &cmd, sets, n);
    }
    for (size_t i = 0; i < MAX_SETS; i++) data_images_free(&sets[i].images);
    return status;
}
