/* test_registry_blobs.c - network/optimizer blobs round-trip exactly, carry
 * the run position, and bad blobs are refused with a reason; uuids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/safetensors.h"
#include "cassnn/registry.h"

static void must(int rc, const cassnn_err *err) {
    if (rc) fail_msg("%s", err->msg);
}

static void fill(float *p, long n, float scale) {
    for (long i = 0; i < n; i++) p[i] = scale * (float)((i * 7919) % 1000 - 500) / 500.0f;
}

static void test_net_round_trip(void **state) {
    (void)state;
    cassnn_err err = {0};
    nn_net net, back;
    must(nn_net_create(&net, "tutorial", 1, 28, 28, &err), &err);
    nn_net_init(&net, 3);
    uint8_t *blob;
    size_t len;
    must(blob_net_encode(&net, BLOB_SAFETENSORS, &blob, &len, &err), &err);
    must(blob_net_decode(blob, len, NULL, &back, &err), &err);
    assert_string_equal(net.description, back.description);
    assert_int_equal(net.n_params, back.n_params);
    assert_memory_equal(net.params, back.params, sizeof(float) * (size_t)net.n_params);
    /* PyTorch names, so torch can load the state_dict from the blob */
    blob_dict st;
    must(blob_st_parse(&st, blob, len, &err), &err);
    assert_non_null(blob_dict_find(&st, "conv1.weight"));
    assert_non_null(blob_dict_find(&st, "fc2.bias"));
    blob_dict_free(&st);
    nn_net_free(&back);
    /* a truncated blob is an error, not a crash */
    assert_int_equal(blob_net_decode(blob, len / 2, NULL, &back, &err), -1);
    assert_non_null(strstr(err.msg, "network blob"));
    free(blob);
    nn_net_free(&net);
}

static void check_optim(nn_optim *opt, const nn_net *net) {
    cassnn_err err = {0};
    registry_train_state ts = {2, 17, 12345678901234ULL, 64}, ts_back;
    uint8_t *blob;
    size_t len;
    nn_optim back;
    must(blob_optim_encode(opt, net, &ts, BLOB_SAFETENSORS, &blob, &len, &err), &err);
    int has_run = 0;
    must(blob_optim_decode(blob, len, net, &back, &ts_back, &has_run, &err), &err);
    assert_int_equal(has_run, 1);
    assert_int_equal(back.kind, opt->kind);
    assert_true(back.lr == opt->lr && back.momentum == opt->momentum &&
                back.beta1 == opt->beta1 && back.beta2 == opt->beta2 && back.eps == opt->eps &&
                back.weight_decay == opt->weight_decay);
    assert_int_equal(back.step, opt->step);
    if (opt->buf1) assert_memory_equal(back.buf1, opt->buf1, sizeof(float) * (size_t)opt->n);
    if (opt->buf2) assert_memory_equal(back.buf2, opt->buf2, sizeof(float) * (size_t)opt->n);
    assert_int_equal(ts_back.epoch, 2);
    assert_int_equal(ts_back.next_batch, 17);
    assert_true(ts_back.seed == 12345678901234ULL);
    assert_int_equal(ts_back.batch_size, 64);
    nn_optim_free(&back);
    free(blob);
}

static void test_optim_round_trip(void **state) {
    (void)state;
    cassnn_err err = {0};
    nn_net net;
    must(nn_net_create(&net, "tutorial", 1, 28, 28, &err), &err);
    nn_optim sgd, adam;
    must(nn_optim_sgd(&sgd, net.n_params, 0.01f, 0.5f, 0.0f, 0.0f, 0, &err), &err);
    sgd.step = 938;
    fill(sgd.buf1, net.n_params, 0.3f);
    check_optim(&sgd, &net);
    must(nn_optim_adam(&adam, net.n_params, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, &err), &err);
    adam.step = 5;
    fill(adam.buf1, net.n_params, 0.1f);
    fill(adam.buf2, net.n_params, 0.01f);
    check_optim(&adam, &net);
    /* buffers of another net's shape are refused, naming the tensor */
    nn_net other;
    must(nn_net_create(&other, "conv(4,k=3) relu flatten linear(10) logsoftmax", 1, 28, 28, &err),
         &err);
    registry_train_state ts = {1, 0, 1, 64};
    uint8_t *blob;
    size_t len;
    must(blob_optim_encode(&sgd, &net, &ts, BLOB_SAFETENSORS, &blob, &len, &err), &err);
    nn_optim back;
    assert_int_equal(blob_optim_decode(blob, len, &other, &back, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "state.0.momentum_buffer"));
    free(blob);
    nn_net_free(&other);
    nn_optim_free(&sgd);
    nn_optim_free(&adam);
    nn_net_free(&net);
}

static void test_uuid(void **state) {
    (void)state;
    cassnn_err err = {0};
    uint8_t a[16], b[16], c[16];
    char text[37];
    must(registry_uuid_v4(a, &err), &err);
    must(registry_uuid_v4(b, &err), &err);
    assert_memory_not_equal(a, b, 16);
    assert_int_equal(a[6] >> 4, 4);
    assert_int_equal(a[8] >> 6, 2);
    registry_uuid_format(a, text);
    assert_int_equal(strlen(text), 36);
    must(registry_uuid_parse(text, c, &err), &err);
    assert_memory_equal(a, c, 16);
    assert_int_equal(registry_uuid_parse("not-a-uuid", c, &err), -1);
    assert_int_equal(registry_uuid_parse("123e4567-e89b-42d3-a456-42661417400", c, &err), -1);
    assert_int_equal(registry_uuid_parse("123e4567-e89b-42d3-a456-4266141740000", c, &err), -1);
}

/* The tutorial's rows say where they stood only through epoch and
 * batch_percent: 938 batches an epoch, a row every 10. */
static void test_row_position(void **state) {
    (void)state;
    cassnn_err err = {0};
    registry_model m = {.table = REGISTRY_TRAIN, .epoch = 2};
    registry_train_state ts;
    snprintf(m.batch_percent, sizeof m.batch_percent, "%s", "0%");
    must(registry_row_position(&m, 938, 10, 64, &ts, &err), &err);
    assert_true(ts.epoch == 2 && ts.next_batch == 1 && ts.batch_size == 64 && ts.seed == 0);
    snprintf(m.batch_percent, sizeof m.batch_percent, "%s", "53%"); /* batch 500: 53.3% */
    must(registry_row_position(&m, 938, 10, 64, &ts, &err), &err);
    assert_int_equal(ts.next_batch, 501);
    snprintf(m.batch_percent, sizeof m.batch_percent, "%s", "100%"); /* 5 batches, every one */
    assert_int_equal(registry_row_position(&m, 5, 1, 64, &ts, &err), -1);
    assert_non_null(strstr(err.msg, "no logged batch"));
    snprintf(m.batch_percent, sizeof m.batch_percent, "%s", "80%"); /* the last of 5 */
    must(registry_row_position(&m, 5, 1, 64, &ts, &err), &err);
    assert_true(ts.epoch == 3 && ts.next_batch == 0);
    snprintf(m.batch_percent, sizeof m.batch_percent, "%s", "1%"); /* 3000 batches: 30..44 */
    assert_int_equal(registry_row_position(&m, 3000, 1, 64, &ts, &err), -1);
    assert_non_null(strstr(err.msg, "ambiguous"));
    m.table = REGISTRY_TEST;
    assert_int_equal(registry_row_position(&m, 938, 10, 64, &ts, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_round_trip),
        cmocka_unit_test(test_optim_round_trip),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_row_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
