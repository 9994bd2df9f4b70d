/* Murmur3Partitioner tokens against values computed by Cassandra 5.0.9
 * itself (`SELECT id, token(id) ...` on the local node, recorded here).
 * The text keys end in 'é' (0xc3 0xa9) so the tail bytes are >= 0x80 and
 * Cassandra's sign extension of them is exercised; lengths 4, 9, 19, 32
 * cover short tails, both tail halves and whole 16-byte blocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cassnn/cql.h"

static void int_keys(void **state) {
    (void)state;
    static const struct { int32_t id; int64_t token; } known[] = {
        {0, -3485513579396041028LL}, {1, -4069959284402364209LL}, {2, -3248873570005575792LL},
        {42, -7160136740246525330LL}, {784, 6588177143817612812LL}, {2499, -6984782140033802825LL},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        uint32_t u = (uint32_t)known[i].id;
        uint8_t key[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
        assert_true(cql_murmur3_token(key, 4) == known[i].token);
    }
}

static void text_keys(void **state) {
    (void)state;
    static const struct { const char *key; int64_t token; } known[] = {
        {"el\xc3\xa9", -8855733664323192301LL},
        {"jqxelsz\xc3\xa9", -8861758757274669364LL},
        {"tahovcjqxelszgnub\xc3\xa9", -8968290158402106283LL},
        {"gnubipwdkryfmtahovcjqxelszgnub\xc3\xa9", -6933700503251960585LL},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        assert_true(cql_murmur3_token((const uint8_t *)known[i].key, strlen(known[i].key)) == known[i].token);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(int_keys),
        cmocka_unit_test(text_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
