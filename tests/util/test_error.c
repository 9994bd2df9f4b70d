#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cassnn/error.h"

static void set_formats_and_returns_minus_one(void **state) {
    (void)state;
    cassnn_err e = {0};
    assert_int_equal(cassnn_err_set(&e, "bad row %d in %s", 7, "a.csv"), -1);
    assert_string_equal(e.msg, "bad row 7 in a.csv");
    assert_int_equal(e.code, 0);
}

static void code_is_kept(void **state) {
    (void)state;
    cassnn_err e = {0};
    assert_int_equal(cassnn_err_code(&e, 0x2200, "invalid"), -1);
    assert_int_equal(e.code, 0x2200);
}

static void wrap_prepends_context(void **state) {
    (void)state;
    cassnn_err e = {0};
    cassnn_err_set(&e, "connection refused");
    cassnn_err_wrap(&e, "host %s", "127.0.0.1:9042");
    assert_string_equal(e.msg, "host 127.0.0.1:9042: connection refused");
}

static void null_is_allowed(void **state) {
    (void)state;
    assert_int_equal(cassnn_err_set(NULL, "x"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_formats_and_returns_minus_one),
        cmocka_unit_test(code_is_kept),
        cmocka_unit_test(wrap_prepends_context),
        cmocka_unit_test(null_is_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
