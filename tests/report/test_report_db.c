/* `cassnn report --compare` on two real keyspaces (a digits subset and a
 * Fashion-MNIST subset, each trained for one epoch): every checkpoint of the
 * registry appears in the report with the row's own numbers, the model's
 * recomputed accuracy equals its registry row, and the confusion matrix adds
 * up to the test table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/blob.h"
#include "cassnn/registry.h"
#include "serve/serve_test_env.h"

#define DIGITS "cassnn_test_report_digits"
#define FASHION "cassnn_test_report_fashion"
enum { N_TRAIN = 1500, N_TEST = 300 };

static cql_session *S;
static char *HTML;

static void make_keyspace(const char *ks, const char *dataset) {
    data_images test;
    serve_env_keyspace(S, ks, dataset, N_TRAIN, N_TEST, &test);
    data_images_free(&test);
}

static int setup(void **state) {
    (void)state;
    S = reg_connect();
    make_keyspace(DIGITS, "mnist");
    make_keyspace(FASHION, "fashion");
    char path[600], *out;
    snprintf(path, sizeof path, "%s/report_compare.html", getenv("CASSNN_BINARY_DIR"));
    const int rc = reg_run(&out, "report --keyspace " DIGITS " --compare " FASHION " -o '%s' 2>&1", path);
    if (rc) fail_msg("cassnn report failed (%d):\n%s", rc, out);
    free(out);
    uint8_t *buf;
    size_t len;
    cassnn_err err = {0};
    reg_must(blob_file_read(path, &buf, &len, &err), &err, "read the report");
    HTML = realloc(buf, len + 1);
    HTML[len] = '\0';
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, DIGITS);
    reg_drop(S, FASHION);
    cql_session_close(S);
    free(HTML);
    return 0;
}

/* The section of keyspace ks (up to the next one). */
static char *section(const char *ks) {
    char tag[128];
    snprintf(tag, sizeof tag, "<section class=\"ks\" data-keyspace=\"%s\">", ks);
    const char *start = strstr(HTML, tag);
    if (!start) fail_msg("no section for %s", ks);
    const char *end = strstr(start, "</section>");
    assert_non_null(end);
    return strndup(start, (size_t)(end - start));
}

/* The value of attribute name in the tag that starts at p. */
static const char *attr(const char *p, const char *name, char *out, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *end = strchr(p, '>'), *a = strstr(p, key);
    if (!a || a > end) fail_msg("no %s in %.120s", name, p);
    a += strlen(key);
    const size_t n = (size_t)(strchr(a, '"') - a);
    snprintf(out, cap, "%.*s", (int)n, a);
    return out;
}

static void check_keyspace(const char *ks, const char *class_name) {
    char *sec = section(ks);
    cassnn_err err = {0};
    registry_model *rows;
    size_t n;
    reg_must(registry_list(S, ks, &rows, &n, &err), &err, "list");
    /* one table row per checkpoint, with the registry row's numbers */
    size_t trs = 0;
    for (const char *p = sec; (p = strstr(p, "<tr data-id=")) != NULL; p++) trs++;
    assert_int_equal(trs, n);
    for (size_t i = 0; i < n; i++) {
        char id[37], tag[64], v[64];
        registry_uuid_format(rows[i].id, id);
        snprintf(tag, sizeof tag, "<tr data-id=\"%s\"", id);
        const char *tr = strstr(sec, tag);
        if (!tr) fail_msg("%s: checkpoint %s missing", ks, id);
        assert_string_equal(attr(tr, "data-table", v, sizeof v), registry_table_name(rows[i].table));
        const float loss = strtof(attr(tr, "data-loss", v, sizeof v), NULL);
        if (loss != rows[i].loss) fail_msg("%s loss %.9g, row %.9g", id, (double)loss, (double)rows[i].loss);
        const float acc = strtof(attr(tr, "data-accuracy", v, sizeof v), NULL);
        assert_true(isnan(rows[i].accuracy) ? isnan(acc) : acc == rows[i].accuracy);
        char epoch[16] = "";
        if (rows[i].epoch >= 0) snprintf(epoch, sizeof epoch, "%d", rows[i].epoch);
        assert_string_equal(attr(tr, "data-epoch", v, sizeof v), epoch);
        assert_string_equal(attr(tr, "data-batch-percent", v, sizeof v), rows[i].batch_percent);
        char ms[32];
        snprintf(ms, sizeof ms, "%lld", (long long)rows[i].upload_ms);
        assert_string_equal(attr(tr, "data-upload-ms", v, sizeof v), ms);
    }
    free(rows);

    /* the model is the best by accuracy; run again it scores its row */
    registry_model best;
    reg_must(registry_best(S, ks, REGISTRY_BY_ACCURACY, NULL, NULL, &best, &err), &err, "best");
    char id[37], v[64];
    registry_uuid_format(best.id, id);
    const char *model = strstr(sec, "<p class=\"model\"");
    assert_non_null(model);
    assert_string_equal(attr(model, "data-model", v, sizeof v), id);
    const long correct = atol(attr(model, "data-correct", v, sizeof v));
    const long total = atol(attr(model, "data-total", v, sizeof v));
    assert_int_equal(total, N_TEST);
    assert_true(strtof(attr(model, "data-row-accuracy", v, sizeof v), NULL) == best.accuracy);
    if ((float)((double)correct / (double)total) != best.accuracy)
        fail_msg("%s: %ld/%ld run again, registry row %.9g", ks, correct, total, (double)best.accuracy);

    /* the confusion matrix adds up: all test images, its diagonal the correct ones */
    long sum = 0, diagonal = 0;
    for (const char *p = sec; (p = strstr(p, "data-true=\"")) != NULL; p++) {
        const int t = atoi(p + 11);
        const int pr = atoi(strstr(p, "data-predicted=\"") + 16);
        const long cell = atol(strchr(p, '>') + 1);
        sum += cell;
        if (t == pr) diagonal += cell;
    }
    assert_int_equal(sum, total);
    assert_int_equal(diagonal, correct);
    /* the most confidently wrong images: inline PNGs */
    const long wrong = total - correct < 24 ? total - correct : 24;
    long images = 0;
    for (const char *p = sec; (p = strstr(p, "href=\"data:image/png;base64,")) != NULL; p++) images++;
    assert_int_equal(images, wrong);
    assert_non_null(strstr(sec, class_name));
    assert_non_null(strstr(sec, "number of training examples seen"));
    free(sec);
}

static void test_digits_column(void **state) {
    (void)state;
    check_keyspace(DIGITS, ">7</text>");
}

static void test_fashion_column(void **state) {
    (void)state;
    check_keyspace(FASHION, "Ankle boot");
}

static void test_self_contained(void **state) {
    (void)state;
    /* nothing is fetched: no scripts, no external links or images */
    assert_null(strstr(HTML, "<script"));
    assert_null(strstr(HTML, "src=\"http"));
    assert_null(strstr(HTML, "href=\"http"));
    assert_non_null(strstr(HTML, "<table class=\"summary\">"));
}

static void test_bad_arguments(void **state) {
    (void)state;
    char *out;
    assert_int_equal(reg_run(&out, "report --keyspace " DIGITS " 2>&1"), 2);
    free(out);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "report --keyspace cassnn_test_no_such_ks -o /dev/null"), 1);
    assert_non_null(strstr(out, "cassnn_test_no_such_ks"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digits_column),
        cmocka_unit_test(test_fashion_column),
        cmocka_unit_test(test_self_contained),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
