/* test_table_plan.c - the pure parts of choosing how a raw table is read:
 * an image's shape from its pixel count, the row count as shown to a user,
 * the memory a load takes (with an estimate's margin) and the load-once or
 * streaming plan for one table and for train + test. No database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cassnn/table_plan.h"

static void shape_is(size_t pixels, int c, int h, int w) {
    data_shape s;
    assert_int_equal(data_shape_from_pixels(pixels, &s), 0);
    assert_int_equal(s.channels, c);
    assert_int_equal(s.rows, h);
    assert_int_equal(s.cols, w);
}

static void test_shape_from_pixels(void **state) {
    (void)state;
    shape_is(784, 1, 28, 28);     /* MNIST */
    shape_is(3072, 3, 32, 32);    /* CIFAR-10 */
    shape_is(1, 1, 1, 1);
    shape_is(3, 3, 1, 1);
    shape_is(4096, 1, 64, 64);
    shape_is(150528, 3, 224, 224);
    data_shape s;
    const size_t bad[] = {0, 2, 783, 785, 3 * 783, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(data_shape_from_pixels(bad[i], &s), -1);
}

static data_table_size counted(long rows) {
    return (data_table_size){.rows = rows, .shape = {1, 28, 28}};
}

static data_table_size sampled(long sampled_rows) {
    return (data_table_size){.rows = sampled_rows * 16, .estimated = 1,
                             .sampled_rows = sampled_rows, .sample_ranges = 16,
                             .ring_ranges = 256, .shape = {1, 28, 28}};
}

static void test_size_text_says_counted_or_estimated(void **state) {
    (void)state;
    char buf[160];
    data_table_size t = counted(60000);
    assert_string_equal(data_table_size_text(&t, buf, sizeof buf), "60000 rows (counted)");
    t = sampled(3750);
    assert_string_equal(data_table_size_text(&t, buf, sizeof buf),
                        "~60000 rows (estimated: 3750 rows counted in 16 of 256 token ranges)");
}

static void test_load_bytes_and_estimate_margin(void **state) {
    (void)state;
    assert_int_equal(data_row_bytes(784), 790);
    data_table_size t = counted(1000);
    assert_int_equal(data_load_once_bytes(&t), 2 * 1000 * 790);
    t.shape = (data_shape){3, 32, 32};
    assert_int_equal(data_load_once_bytes(&t), 2 * 1000 * (3072 + 6));
    /* an estimate from 2500 sampled rows (x16 = 40000) may be 3 x 50 x 16
     * = 2400 rows short */
    t = sampled(2500);
    assert_int_equal(data_load_once_bytes(&t), 2 * (40000 + 2400) * 790);
}

static void test_plans(void **state) {
    (void)state;
    data_plan p;
    const size_t row2 = 2 * 790; /* bytes per row while loading */
    data_table_size both[2] = {counted(1000), counted(100)};
    data_plan_tables(both, 2, 1100 * row2, &p);
    assert_int_equal(p.kind, DATA_PLAN_LOAD_ALL);
    assert_true(!p.stream_budget[0] && !p.stream_budget[1]);
    /* test (100 rows) fits a quarter of 1000 rows' budget: train streams in the rest */
    data_plan_tables(both, 2, 1000 * row2, &p);
    assert_int_equal(p.kind, DATA_PLAN_STREAM_TRAIN);
    assert_int_equal(p.stream_budget[0], 900 * row2);
    assert_int_equal(p.stream_budget[1], 0);
    /* test (100 rows) is more than a quarter of 300 rows' budget: both stream */
    data_plan_tables(both, 2, 300 * row2, &p);
    assert_int_equal(p.kind, DATA_PLAN_STREAM_ALL);
    assert_int_equal(p.stream_budget[1], 300 * row2 / 4);
    assert_int_equal(p.stream_budget[0], 300 * row2 - 300 * row2 / 4);
    /* one table */
    data_plan_tables(both, 1, 1000 * row2, &p);
    assert_int_equal(p.kind, DATA_PLAN_LOAD_ALL);
    data_plan_tables(both, 1, 999 * row2, &p);
    assert_int_equal(p.kind, DATA_PLAN_STREAM_ALL);
    assert_int_equal(p.stream_budget[0], 999 * row2);
    /* an estimate just under the budget streams: it could be larger */
    data_table_size est = sampled(2500);
    data_plan_tables(&est, 1, 41000 * row2, &p);
    assert_int_equal(p.kind, DATA_PLAN_STREAM_ALL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_from_pixels),
        cmocka_unit_test(test_size_text_says_counted_or_estimated),
        cmocka_unit_test(test_load_bytes_and_estimate_margin),
        cmocka_unit_test(test_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
