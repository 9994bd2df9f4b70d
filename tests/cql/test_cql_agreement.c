/* unit test: schema agreement's pure parts (src/cql/agreement.h) - when the
 * nodes that are up agree (a node known down is not waited for, one that is
 * up but did not answer is), and the timeout message that lists each node's
 * state and schema version. No node. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cql/agreement.h"

static const uint8_t V1[16] = {0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t V2[16] = {0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static cql_agreement_node node(const char *addr, int up, int answered, const uint8_t *v) {
    cql_agreement_node n = {.address = addr, .up = up, .answered = answered};
    if (v) memcpy(n.version, v, 16);
    return n;
}

static void agreement_among_the_nodes_that_are_up(void **state) {
    (void)state;
    cql_agreement_node n[3] = {node("a", 1, 1, V1), node("b", 1, 1, V1), node("c", 1, 1, V1)};
    assert_true(cql_agreement_reached(n, 3));
    n[2] = node("c", 1, 1, V2);
    assert_false(cql_agreement_reached(n, 3));
    n[2] = node("c", 0, 0, NULL); /* down: not waited for */
    assert_true(cql_agreement_reached(n, 3));
    n[2] = node("c", 1, 0, NULL); /* up but silent: cannot be counted as agreeing */
    assert_false(cql_agreement_reached(n, 3));
    n[0] = node("a", 0, 0, NULL);
    n[1] = node("b", 0, 0, NULL);
    n[2] = node("c", 0, 0, NULL);
    assert_false(cql_agreement_reached(n, 3)); /* nobody answered: nothing agreed */
}

static void the_timeout_names_each_node(void **state) {
    (void)state;
    cql_agreement_node n[3] = {node("127.0.0.1", 1, 1, V1), node("127.0.0.2", 0, 0, NULL),
                               node("127.0.0.3", 1, 1, V2)};
    char out[400];
    cql_agreement_describe(n, 3, out, sizeof out);
    assert_string_equal(out, "127.0.0.1 up, schema a1b2c3d4-0000-0000-0000-000000000001; "
                             "127.0.0.2 down (not asked); "
                             "127.0.0.3 up, schema a1b2c3d4-0000-0000-0000-000000000002");
    n[1] = node("127.0.0.2", 1, 0, NULL);
    cql_agreement_describe(n, 2, out, sizeof out);
    assert_string_equal(out, "127.0.0.1 up, schema a1b2c3d4-0000-0000-0000-000000000001; 127.0.0.2 up, no answer");
    char small[20];
    cql_agreement_describe(n, 3, small, sizeof small); /* cut short, still a string */
    assert_int_equal(strlen(small), sizeof small - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agreement_among_the_nodes_that_are_up),
        cmocka_unit_test(the_timeout_names_each_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
