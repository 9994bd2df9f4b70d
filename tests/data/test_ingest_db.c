/* End-to-end tests of `cassnn schema` and `cassnn ingest` against the real
 * node: the command is run as a user runs it, and the tables are then read
 * with the CQL client. Keyspaces are cassnn_test_ingest_*, dropped first.
 * Inputs are small generated files (the tutorial layout costs the node ~1 ms
 * per row), plus the real Fashion-MNIST in the blob layout when $CASSNN_DATA
 * is set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cassnn/csv.h"
#include "cassnn/ingest.h"
#include "cassnn_run.h"
#include "cql/cql_test_env.h"
#include "data/test_dir.h"

static cql_session *S;
static char out[1 << 16]; /* the last command's stdout + stderr */

/* Runs `cassnn ARGS` (stdout and stderr into out) and fails the test, showing
 * the output, unless it exits with want. */
static void cassnn(int want, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cassnn(int want, const char *fmt, ...) {
    char args[4096], *got_out;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int got = cassnn_run(&got_out, RUN_STDERR_MERGED, "%s", args);
    snprintf(out, sizeof out, "%s", got_out);
    free(got_out);
    if (got != want) fail_msg("`cassnn %s` exited %d, expected %d:\n%s", args, got, want, out);
}

static void expect_output(const char *needle) {
    if (!strstr(out, needle)) fail_msg("output lacks '%s':\n%s", needle, out);
}

static void cql(const char *query) {
    cassnn_err err = {0};
    cql_statement st = cql_stmt(query, NULL, 0);
    st.timeout_ms = 60000;
    if (cql_execute(S, &st, NULL, &err)) fail_msg("%s: %s", query, err.msg);
}

static void drop(const char *ks) {
    char q[256];
    snprintf(q, sizeof q, "DROP KEYSPACE IF EXISTS %s", ks);
    cql(q);
}

static int64_t count_rows(const char *ks, const char *table) {
    char q[256];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM %s.%s", ks, table);
    cql_result *r = NULL;
    cassnn_err err = {0};
    if (cql_query(S, q, NULL, 0, &r, &err)) fail_msg("%s: %s", q, err.msg);
    int64_t n;
    if (cql_get_bigint(r, 0, 0, &n, &err)) fail_msg("%s", err.msg);
    cql_result_free(r);
    return n;
}

/* 1 when ks.table has a row with this id; 0 when not, or when the table does
 * not exist yet. A single-partition read: cheap while the table is written. */
static int row_exists(const char *ks, const char *table, int id) {
    char q[256];
    snprintf(q, sizeof q, "SELECT id FROM %s.%s WHERE id = %d", ks, table, id);
    cql_result *r = NULL;
    cassnn_err err = {0};
    if (cql_query(S, q, NULL, 0, &r, &err)) return 0;
    int n = cql_result_row_count(r);
    cql_result_free(r);
    return n > 0;
}

static int keyspace_exists(const char *ks) {
    cql_value v = cql_text(ks);
    cql_result *r = NULL;
    cassnn_err err = {0};
    if (cql_query(S, "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                  &v, 1, &r, &err))
        fail_msg("%s", err.msg);
    int n = cql_result_row_count(r);
    cql_result_free(r);
    return n > 0;
}

/* Reads one row: label (-1 if null) and pixels. */
static void read_row(const char *ks, const char *table, int id, int *label, uint8_t *pixels) {
    char q[256];
    snprintf(q, sizeof q, "SELECT label, pixels FROM %s.%s WHERE id = %d", ks, table, id);
    cql_result *r = NULL;
    cassnn_err err = {0};
    if (cql_query(S, q, NULL, 0, &r, &err)) fail_msg("%s: %s", q, err.msg);
    assert_int_equal(cql_result_row_count(r), 1);
    int32_t l = -1;
    if (!cql_cell_is_null(cql_result_cell(r, 0, 0)) && cql_get_int(r, 0, 0, &l, &err))
        fail_msg("%s", err.msg);
    *label = l;
    size_t n;
    if (cql_get_list_int_u8(r, 0, 1, pixels, 784, &n, &err)) fail_msg("%s", err.msg);
    assert_int_equal(n, 784);
    cql_result_free(r);
}

/* ------------------------------------------------------------ fixtures */

/* Pixel i of generated row r (of a file with seed s). */
static int pixel(int s, int r, int i) { return (s * 31 + r * 7 + i) % 256; }

/* A CSV of n rows; labeled rows have label (s + r) % 10. bad_line (>= 2), if
 * non-zero, is replaced by bad. */
static void write_csv(const char *name, int labeled, int n, int s, int bad_line, const char *bad) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (labeled) fputs("label,", f);
    for (int i = 0; i < 784; i++) fprintf(f, i ? ",pixel%d" : "pixel%d", i);
    fputs("\n", f);
    for (int r = 0; r < n; r++) {
        if (r + 2 == bad_line) {
            fputs(bad, f);
            continue;
        }
        if (labeled) fprintf(f, "%d,", (s + r) % 10);
        for (int i = 0; i < 784; i++) fprintf(f, i ? ",%d" : "%d", pixel(s, r, i));
        fputs("\n", f);
    }
    fclose(f);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* DIR/name/{prefix}-images-idx3-ubyte.gz + labels with n images of seed s. */
static void write_idx(const char *sub, const char *prefix, int n, int s, uint32_t image_magic) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s-images-idx3-ubyte.gz", dir, sub, prefix);
    gzFile g = gzopen(path, "wb");
    uint8_t h[16];
    put_be32(h, image_magic), put_be32(h + 4, (uint32_t)n), put_be32(h + 8, 28),
        put_be32(h + 12, 28);
    gzwrite(g, h, 16);
    for (int r = 0; r < n; r++)
        for (int i = 0; i < 784; i++) {
            uint8_t b = (uint8_t)pixel(s, r, i);
            gzwrite(g, &b, 1);
        }
    gzclose(g);
    snprintf(path, sizeof path, "%s/%s/%s-labels-idx1-ubyte.gz", dir, sub, prefix);
    g = gzopen(path, "wb");
    put_be32(h, 2049), put_be32(h + 4, (uint32_t)n);
    gzwrite(g, h, 8);
    for (int r = 0; r < n; r++) {
        uint8_t b = (uint8_t)((s + r) % 10);
        gzwrite(g, &b, 1);
    }
    gzclose(g);
}

static void write_png(const char *rel, int color, int value) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, 28, 28, 8, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    uint8_t row[28 * 3];
    memset(row, value, sizeof row);
    for (int r = 0; r < 28; r++) png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void make_subdir(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* ---------------------------------------------------------------- tests */

static void schema_is_idempotent_and_reports_foreign_tables(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_schema";
    drop(ks);
    cassnn(0, "schema --keyspace %s", ks);
    cassnn(0, "schema --keyspace %s", ks);
    assert_int_equal(count_rows(ks, "raw_train"), 0);
    cql("SELECT id FROM cassnn_test_ingest_schema.models_test WHERE accuracy > 0.5"); /* SAI */
    cql("SELECT id FROM cassnn_test_ingest_schema.models_train WHERE loss < 0.5");

    /* Someone else's raw_test with another label type: reported, not altered. */
    cql("DROP TABLE cassnn_test_ingest_schema.raw_test");
    cql("CREATE TABLE cassnn_test_ingest_schema.raw_test (id int PRIMARY KEY, label text, "
        "pixels list<int>)");
    cassnn(1, "schema --keyspace %s", ks);
    expect_output("table cassnn_test_ingest_schema.raw_test exists with column label of type "
                  "text, expected int; not altering it");
    drop(ks);
    cassnn(1, "schema --keyspace 'bad-name'");
    expect_output("invalid keyspace name 'bad-name'");
}

/* Kaggle CSV: 20 labeled rows split 16/4, 7 unlabeled rows; re-run changes
 * nothing; --verify passes. */
static void csv_split_predict_and_rerun(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_csv";
    drop(ks);
    write_csv("train.csv", 1, 20, 1, 0, NULL);
    write_csv("test.csv", 0, 7, 2, 0, NULL);
    for (int run = 0; run < 2; run++) {
        cassnn(0, "ingest --keyspace %s --train %s/train.csv --predict %s/test.csv "
                                "--verify",
                                ks, dir, dir);
        expect_output("ingested 27 rows");
        expect_output("verify: every table's row count and checksum");
        assert_int_equal(count_rows(ks, "raw_train"), 16);
        assert_int_equal(count_rows(ks, "raw_test"), 4);
        assert_int_equal(count_rows(ks, "raw_predict"), 7);
    }
    uint8_t px[784];
    int label;
    read_row(ks, "raw_test", 0, &label, px); /* the 17th row of train.csv */
    assert_int_equal(label, (1 + 16) % 10);
    for (int i = 0; i < 784; i++) assert_int_equal(px[i], pixel(1, 16, i));
    read_row(ks, "raw_train", 15, &label, px);
    assert_int_equal(label, (1 + 15) % 10);
    read_row(ks, "raw_predict", 6, &label, px);
    assert_int_equal(label, -1);
    for (int i = 0; i < 784; i++) assert_int_equal(px[i], pixel(2, 6, i));

    /* --split 0.5 of 20 rows. */
    drop(ks);
    cassnn(0, "ingest --keyspace %s --train %s/train.csv --split 0.5", ks, dir);
    assert_int_equal(count_rows(ks, "raw_train"), 10);
    assert_int_equal(count_rows(ks, "raw_test"), 10);
    drop(ks);
}

/* --verify fails when the table holds something else than the source: more
 * rows (an earlier, larger ingest) or a changed row. */
static void verify_detects_differences(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_verify";
    drop(ks);
    write_csv("big.csv", 1, 10, 3, 0, NULL);
    write_csv("small.csv", 1, 5, 3, 0, NULL);
    cassnn(0, "ingest --keyspace %s --train %s/big.csv", ks, dir);
    cassnn(1, "ingest --keyspace %s --train %s/small.csv --verify", ks, dir);
    expect_output("verify cassnn_test_ingest_verify.raw_train: 4 rows expected, 8 found");

    char path[256];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    data_images all, train, test;
    cassnn_err err = {0};
    assert_int_equal(data_csv_load(path, 1, 0, &all, NULL, &err), 0);
    assert_int_equal(data_images_split(&all, 0.8, &train, &test, &err), 0);
    cassnn(0, "ingest --keyspace %s --train %s/big.csv --verify", ks, dir);
    data_ingest_set sets[2] = {{"raw_train", "big.csv", &train}, {"raw_test", "big.csv", &test}};
    if (data_ingest_verify(S, ks, sets, 2, &err)) fail_msg("%s", err.msg);
    cql("UPDATE cassnn_test_ingest_verify.raw_test SET pixels[3] = 200 WHERE id = 1");
    assert_int_equal(data_ingest_verify(S, ks, sets, 2, &err), -1);
    assert_non_null(strstr(err.msg, "raw_test: 2 rows but the checksum of labels and pixels "
                                    "differs"));
    data_images_free(&all);
    data_images_free(&train);
    data_images_free(&test);
    drop(ks);
}

static void idx_files_go_to_train_and_test(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_idx";
    drop(ks);
    write_idx("idx", "train", 12, 4, 2051);
    write_idx("idx", "t10k", 5, 5, 2051);
    cassnn(0, "ingest --keyspace %s --idx %s/idx --verify", ks, dir);
    assert_int_equal(count_rows(ks, "raw_train"), 12);
    assert_int_equal(count_rows(ks, "raw_test"), 5);
    uint8_t px[784];
    int label;
    read_row(ks, "raw_test", 4, &label, px);
    assert_int_equal(label, (5 + 4) % 10);
    for (int i = 0; i < 784; i++) assert_int_equal(px[i], pixel(5, 4, i));
    drop(ks);
}

static void png_folder_into_named_table(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_png";
    drop(ks);
    make_subdir("png");
    make_subdir("png/Sneaker");
    make_subdir("png/Ankle boot");
    write_png("png/Sneaker/2.png", PNG_COLOR_TYPE_GRAY, 70);
    write_png("png/Sneaker/10.png", PNG_COLOR_TYPE_GRAY, 71);
    write_png("png/Ankle boot/a.png", PNG_COLOR_TYPE_GRAY, 90);
    cassnn(0, "ingest --keyspace %s --png '%s/png' --table my_pngs --verify", ks, dir);
    assert_int_equal(count_rows(ks, "my_pngs"), 3);
    uint8_t px[784];
    int label;
    read_row(ks, "my_pngs", 1, &label, px); /* Sneaker/10.png after Sneaker/2.png */
    assert_int_equal(label, 7);
    assert_int_equal(px[0], 71);
    read_row(ks, "my_pngs", 2, &label, px);
    assert_int_equal(label, 9);
    drop(ks);
}

/* Every kind of bad input: exit 1, a message naming file and place, and
 * nothing written (the keyspace is not even created, since validation comes
 * before connecting). */
static void bad_inputs_write_nothing(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_bad";
    drop(ks);
    char bad[8192];
    int n = sprintf(bad, "1");
    for (int i = 0; i < 784; i++) n += sprintf(bad + n, i == 298 ? ",abc" : ",0");
    strcpy(bad + n, "\n");
    write_csv("nonint.csv", 1, 20, 1, 17, bad);
    n = sprintf(bad, "12");
    for (int i = 0; i < 784; i++) n += sprintf(bad + n, ",0");
    strcpy(bad + n, "\n");
    write_csv("label.csv", 1, 5, 1, 3, bad);
    n = sprintf(bad, "1");
    for (int i = 0; i < 784; i++) n += sprintf(bad + n, i == 0 ? ",300" : ",0");
    strcpy(bad + n, "\n");
    write_csv("pixel.csv", 1, 5, 1, 4, bad);
    write_csv("columns.csv", 1, 5, 1, 5, "1,2,3\n");
    write_csv("good.csv", 1, 5, 1, 0, NULL);
    write_idx("magic", "train", 3, 1, 2049);
    write_idx("dup", "train", 3, 1, 2051);
    make_subdir("rgb");
    make_subdir("rgb/3");
    write_png("rgb/3/x.png", PNG_COLOR_TYPE_RGB, 1);

    const struct {
        const char *args, *message;
    } cases[] = {
        {"--train %s/nonint.csv", "nonint.csv line 17: column 300 'abc' is not an integer"},
        {"--train %s/label.csv", "label.csv line 3: column 1 '12' is not a label in 0..9"},
        {"--train %s/pixel.csv", "pixel.csv line 4: column 2 '300' is not a pixel in 0..255"},
        {"--train %s/columns.csv", "columns.csv line 5: 3 columns, expected 785"},
        {"--predict %s/good.csv", "good.csv line 1: header column 1 is 'label', expected 'pixel0'"},
        {"--idx %s/magic", "train-images-idx3-ubyte.gz: bad magic 2049"},
        {"--png %s/rgb --table t", "3/x.png: image is 8-bit RGB, expected 8-bit grayscale"},
        {"--train %s/good.csv --idx %s/dup", "table raw_train: "},
        {"--idx %s/missing", "no IDX files"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, cases[i].args, dir, dir);
        cassnn(1, "ingest --keyspace %s %s", ks, args);
        expect_output(cases[i].message);
        expect_output("(nothing written)");
        assert_false(keyspace_exists(ks));
    }

    /* Truncated gzip: the last bytes of the images file cut off. */
    write_idx("cut", "t10k", 4, 1, 2051);
    char path[256];
    snprintf(path, sizeof path, "%s/cut/t10k-images-idx3-ubyte.gz", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 12), 0);
    cassnn(1, "ingest --keyspace %s --idx %s/cut", ks, dir);
    expect_output("gzip stream is truncated");
    assert_false(keyspace_exists(ks));

    /* Usage errors exit 2. */
    cassnn(2, "ingest --keyspace %s", ks);
    cassnn(2, "ingest --png %s/rgb", dir);
    cassnn(2, "ingest --train x --split 1.5");
}

static void skip_bad_writes_the_good_rows(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_skip";
    drop(ks);
    write_csv("some-bad.csv", 1, 10, 6, 4, "1,2\n");
    cassnn(0, "ingest --keyspace %s --train %s/some-bad.csv --skip-bad --verify", ks,
                            dir);
    expect_output("some-bad.csv: skipped 1 bad of 10 records (first: ");
    expect_output("some-bad.csv line 4: 2 columns, expected 785");
    assert_int_equal(count_rows(ks, "raw_train") + count_rows(ks, "raw_test"), 9);
    drop(ks);
}

/* The real Fashion-MNIST through --dataset, in the blob layout (the tutorial
 * layout takes the node about a minute for 70,000 rows; the paths are the
 * same). */
static void fashion_dataset_blob_layout(void **state) {
    (void)state;
    const char *root = getenv("CASSNN_DATA");
    if (!root || !*root) skip();
    const char *ks = "cassnn_test_ingest_fashion";
    drop(ks);
    cassnn(0, "ingest --keyspace %s --dataset fashion --layout blob --verify", ks);
    expect_output("ingested 70000 rows");
    expect_output("verify: every table's");
    assert_int_equal(count_rows(ks, "raw_train_blob"), 60000);
    assert_int_equal(count_rows(ks, "raw_test_blob"), 10000);
    cql_result *r = NULL;
    cassnn_err err = {0};
    if (cql_query(S, "SELECT label FROM cassnn_test_ingest_fashion.raw_test_blob WHERE id = 0",
                  NULL, 0, &r, &err))
        fail_msg("%s", err.msg);
    int32_t label;
    assert_int_equal(cql_get_int(r, 0, 0, &label, &err), 0);
    assert_int_equal(label, 9); /* Ankle boot, the first Fashion-MNIST test label */
    cql_result_free(r);
    drop(ks);
}

/* Ctrl-C in the middle: the command says how far it got, exits 1; the same
 * command run again completes the table. */
static void interrupted_run_reports_and_rerun_completes(void **state) {
    (void)state;
    const char *ks = "cassnn_test_ingest_interrupt";
    drop(ks);
    write_idx("many", "t10k", 20000, 7, 2051);
    char cmd[1024], log[256];
    snprintf(log, sizeof log, "%s/interrupt.log", dir);
    snprintf(cmd, sizeof cmd, "exec '%s/cassnn' ingest --keyspace %s --idx %s/many",
             getenv("CASSNN_BINARY_DIR"), ks, dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* Wait until rows are being written, then interrupt. */
    for (int i = 0; i < 1200 && !row_exists(ks, "raw_test", 100); i++) usleep(50000);
    kill(pid, SIGINT);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    FILE *f = fopen(log, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    expect_output("cassnn ingest: stopped: interrupted");
    expect_output("of 20000 rows written");
    expect_output("run the same command again to complete it");
    assert_true(row_exists(ks, "raw_test", 0));
    assert_false(row_exists(ks, "raw_test", 19999));

    cassnn(0, "ingest --keyspace %s --idx %s/many --verify", ks, dir);
    expect_output("verify: every table's"); /* all 20000 rows, as in the source */
    drop(ks);
}

static int setup(void **state) {
    (void)state;
    if (test_dir_make(state)) return -1;
    cql_config cfg;
    cql_test_config(&cfg);
    cassnn_err err = {0};
    if (cql_session_open(&S, &cfg, &err)) {
        fprintf(stderr, "cannot reach the node: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cql_session_close(S);
    return test_dir_remove(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schema_is_idempotent_and_reports_foreign_tables),
        cmocka_unit_test(csv_split_predict_and_rerun),
        cmocka_unit_test(verify_detects_differences),
        cmocka_unit_test(idx_files_go_to_train_and_test),
        cmocka_unit_test(png_folder_into_named_table),
        cmocka_unit_test(bad_inputs_write_nothing),
        cmocka_unit_test(skip_bad_writes_the_good_rows),
        cmocka_unit_test(fashion_dataset_blob_layout),
        cmocka_unit_test(interrupted_run_reports_and_rerun_completes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
