/* Networks and optimizers to and from safetensors blobs (blob.h, blob/safetensors.h):
 * round trips, a file written by PyTorch, malformed blobs; also writes the
 * files that check_safetensors_interop.py loads into PyTorch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "nn/rng.h"
#include "cassnn/blob.h"
#include "blob/safetensors.h"

static void make_batch(float *x, int32_t *labels, int n, uint64_t seed) {
    nn_rng r;
    nn_rng_seed(&r, seed, 3);
    for (long i = 0; i < n * 784L; i++) x[i] = 3.0f * nn_rng_uniform(&r) - 0.4f;
    for (int i = 0; i < n; i++) labels[i] = (int32_t)nn_rng_below(&r, 10);
}

/* A tutorial net trained a few SGD steps (dropout on) so that every
 * parameter and momentum buffer is non-trivial. */
static void trained_net(nn_net *net, nn_optim *opt) {
    cassnn_err err = {0};
    assert_int_equal(nn_net_create(net, "tutorial", 1, 28, 28, &err), 0);
    nn_net_init(net, 7);
    assert_int_equal(nn_optim_sgd(opt, net->n_params, 0.05f, 0.5f, 0.0f, 1e-4f, 0, &err), 0);
    nn_exec *e;
    assert_int_equal(nn_exec_create(&e, net, 16, 16, 1, 7, &err), 0);
    float x[16 * 784];
    int32_t labels[16];
    for (int step = 0; step < 3; step++) {
        make_batch(x, labels, 16, (uint64_t)step);
        nn_exec_train_batch(e, x, labels, 16, 1, NULL, NULL);
        nn_optim_step(opt, net->params, net->grads);
    }
    nn_exec_free(e);
}

static void test_net_round_trip(void **state) {
    (void)state;
    nn_net net, back;
    nn_optim opt;
    cassnn_err err = {0};
    trained_net(&net, &opt);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_net_encode(&net, BLOB_SAFETENSORS, &buf, &len, &err), 0);
    assert_int_equal(blob_net_decode(buf, len, NULL, &back, &err), 0);
    assert_string_equal(back.description, net.description);
    assert_int_equal(back.in_c, 1);
    assert_int_equal(back.n_params, net.n_params);
    assert_memory_equal(back.params, net.params, sizeof(float) * net.n_params);
    /* into an existing net of the same model */
    memset(back.params, 0, sizeof(float) * back.n_params);
    assert_int_equal(blob_net_load(&back, buf, len, &err), 0);
    assert_memory_equal(back.params, net.params, sizeof(float) * net.n_params);
    nn_net_free(&back);

    /* another model: the first mismatching tensor is named */
    nn_net other;
    assert_int_equal(nn_net_create(&other, "conv(10,k=5) maxpool(2) relu conv(20,k=3) maxpool(2) "
                                           "relu flatten linear(50) relu linear(10) logsoftmax",
                                   1, 28, 28, &err), 0);
    assert_int_equal(blob_net_load(&other, buf, len, &err), -1);
    assert_non_null(strstr(err.msg, "conv2.weight"));
    assert_non_null(strstr(err.msg, "[20, 10, 5, 5]"));
    nn_net_free(&other);
    assert_int_equal(nn_net_create(&other, "conv(10,k=5) maxpool(2) relu flatten linear(10) logsoftmax",
                                   1, 28, 28, &err), 0);
    assert_int_equal(blob_net_load(&other, buf, len, &err), -1);
    nn_net_free(&other);

    /* file form */
    char path[1024];
    const char *bin = getenv("CASSNN_BINARY_DIR");
    snprintf(path, sizeof path, "%s/tests/blob/round_trip.safetensors", bin ? bin : ".");
    assert_int_equal(blob_net_save_file(&net, BLOB_SAFETENSORS, path, &err), 0);
    assert_int_equal(blob_net_load_file(path, NULL, &back, &err), 0);
    assert_memory_equal(back.params, net.params, sizeof(float) * net.n_params);
    nn_net_free(&back);
    assert_int_equal(blob_net_load_file("/nonexistent/x.safetensors", NULL, &back, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/x.safetensors"));

    free(buf);
    nn_optim_free(&opt);
    nn_net_free(&net);
}

static void test_optimizer_round_trip(void **state) {
    (void)state;
    cassnn_err err = {0};
    for (int kind = 0; kind < 2; kind++) {
        nn_net net;
        nn_optim opt;
        trained_net(&net, &opt);
        if (kind == 1) {
            nn_optim_free(&opt);
            assert_int_equal(nn_optim_adam(&opt, net.n_params, 1e-3f, 0.8f, 0.95f, 1e-6f, 1e-2f, 1, &err), 0);
            for (int i = 0; i < 2; i++) nn_optim_step(&opt, net.params, net.grads);
        }
        uint8_t *buf;
        size_t len;
        assert_int_equal(blob_optim_encode(&opt, &net, NULL, BLOB_SAFETENSORS, &buf, &len, &err), 0);
        nn_optim back;
        if (blob_optim_decode(buf, len, &net, &back, NULL, NULL, &err)) fail_msg("%s", err.msg);
        assert_int_equal(back.kind, opt.kind);
        assert_int_equal(back.step, opt.step);
        assert_true(back.lr == opt.lr && back.momentum == opt.momentum &&
                    back.weight_decay == opt.weight_decay && back.beta1 == opt.beta1 &&
                    back.beta2 == opt.beta2 && back.eps == opt.eps);
        assert_memory_equal(back.buf1, opt.buf1, sizeof(float) * net.n_params);
        if (kind == 1) assert_memory_equal(back.buf2, opt.buf2, sizeof(float) * net.n_params);
        /* the restored optimizer continues exactly like the original */
        float *p2 = malloc(sizeof(float) * net.n_params);
        memcpy(p2, net.params, sizeof(float) * net.n_params);
        nn_optim_step(&opt, net.params, net.grads);
        nn_optim_step(&back, p2, net.grads);
        assert_memory_equal(p2, net.params, sizeof(float) * net.n_params);
        /* a net blob is not an optimizer blob */
        uint8_t *netbuf;
        size_t netlen;
        assert_int_equal(blob_net_encode(&net, BLOB_SAFETENSORS, &netbuf, &netlen, &err), 0);
        nn_optim bad;
        assert_int_equal(blob_optim_decode(netbuf, netlen, &net, &bad, NULL, NULL, &err), -1);
        assert_non_null(strstr(err.msg, "network blob, not an optimizer"));
        free(netbuf);
        free(p2);
        free(buf);
        nn_optim_free(&back);
        nn_optim_free(&opt);
        nn_net_free(&net);
    }
}

/* fixtures/torch_state.safetensors is Net().state_dict() written from
 * PyTorch (seed 1); tutorial_sgd.safetensors holds PyTorch's output of that
 * net on a fixed batch. */
static void test_load_pytorch_file(void **state) {
    (void)state;
    char path[1024];
    const char *src = getenv("CASSNN_SOURCE_DIR");
    cassnn_err err = {0};
    nn_net net;
    snprintf(path, sizeof path, "%s/tests/nn/fixtures/torch_state.safetensors", src ? src : ".");
    /* no cassnn metadata: the model must be named */
    assert_int_equal(blob_net_load_file(path, NULL, &net, &err), -1);
    assert_non_null(strstr(err.msg, "names no model"));
    if (blob_net_load_file(path, &blob_tutorial_model, &net, &err)) fail_msg("%s", err.msg);

    uint8_t *buf;
    size_t len;
    blob_dict st;
    snprintf(path, sizeof path, "%s/tests/nn/fixtures/tutorial_sgd.safetensors", src ? src : ".");
    assert_int_equal(blob_file_read(path, &buf, &len, &err), 0);
    assert_int_equal(blob_st_parse(&st, buf, len, &err), 0);
    float x[4 * 784], target[4], want[40], got[40];
    int32_t labels[4];
    const int64_t xshape[4] = {4, 1, 28, 28}, yshape[1] = {4}, lshape[2] = {4, 10};
    assert_int_equal(blob_dict_read_f32(&st, "input", 4, xshape, x, &err), 0);
    assert_int_equal(blob_dict_read_f32(&st, "target", 1, yshape, target, &err), 0);
    assert_int_equal(blob_dict_read_f32(&st, "logp", 2, lshape, want, &err), 0);
    for (int i = 0; i < 4; i++) labels[i] = (int32_t)target[i];
    nn_exec *e;
    assert_int_equal(nn_exec_create(&e, &net, 4, 4, 1, 1, &err), 0);
    nn_exec_eval_batch(e, x, labels, 4, got, NULL, NULL);
    for (int i = 0; i < 40; i++) assert_true(fabsf(got[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])));
    nn_exec_free(e);
    blob_dict_free(&st);
    free(buf);
    nn_net_free(&net);
}

/* Every broken blob is an error with a message, never a crash (the fuzz
 * target tests/fuzz/fuzz_blob.c explores further). */
static void expect_bad(const char *blob_text, size_t len, const char *needle) {
    nn_net net;
    cassnn_err err = {0};
    if (blob_net_decode((const uint8_t *)blob_text, len, &blob_tutorial_model, &net, &err) != -1)
        fail_msg("accepted a bad blob (%s)", needle);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void blob(char *out, size_t *len, const char *header, size_t data_bytes) {
    const size_t h = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (char)((uint64_t)h >> (8 * i));
    memcpy(out + 8, header, h);
    memset(out + 8 + h, 0, data_bytes);
    *len = 8 + h + data_bytes;
}

static void test_malformed(void **state) {
    (void)state;
    char b[4096];
    size_t len;
    expect_bad("", 0, "neither safetensors nor a pickle");
    blob(b, &len, "{}", 0);
    b[0] = 100; /* header length past the end */
    expect_bad(b, len, "does not fit");
    blob(b, &len, "{not json", 0);
    expect_bad(b, len, "header JSON invalid");
    blob(b, &len, "[]", 0);
    expect_bad(b, len, "neither safetensors nor a pickle");
    blob(b, &len, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
    expect_bad(b, len, "outside the 4 data bytes");
    blob(b, &len, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    expect_bad(b, len, "needs 12");
    blob(b, &len, "{\"a\":{\"dtype\":\"X9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_bad(b, len, "unknown dtype");
    blob(b, &len, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
    expect_bad(b, len, "non-negative");
    blob(b, &len, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8);
    expect_bad(b, len, "too large");
    blob(b, &len, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
    expect_bad(b, len, "data_offsets");
    blob(b, &len, "{\"__metadata__\":{\"model\":5}}", 0);
    expect_bad(b, len, "metadata 'model' is not a string");
    blob(b, &len, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{}}", 8);
    expect_bad(b, len, "duplicate");
    blob(b, &len, "{\"__metadata__\":{\"cassnn.model\":\"tutorial\",\"cassnn.input\":\"1x28\"}}", 0);
    expect_bad(b, len, "expected CxHxW");
    blob(b, &len, "{\"__metadata__\":{\"cassnn.model\":\"conv(3)\",\"cassnn.input\":\"1x28x28\"}}", 0);
    expect_bad(b, len, "k is required");
    blob(b, &len, "{}", 0);
    expect_bad(b, len, "conv1.weight' is missing");

    /* every truncation of a valid blob */
    nn_net net;
    nn_optim opt;
    cassnn_err err = {0};
    trained_net(&net, &opt);
    uint8_t *buf;
    size_t full;
    assert_int_equal(blob_net_encode(&net, BLOB_SAFETENSORS, &buf, &full, &err), 0);
    for (size_t cut = 0; cut < full; cut += cut < 2048 ? 1 : 61) {
        nn_net back;
        if (blob_net_decode(buf, cut, NULL, &back, &err) != -1)
            fail_msg("accepted a blob cut to %zu of %zu bytes", cut, full);
        assert_true(err.msg[0] != '\0');
    }
    free(buf);
    nn_optim_free(&opt);
    nn_net_free(&net);
}

/* path gets n input images of net's shape and cassnn's log-probabilities
 * for them ("input", "logp"), for check_safetensors_interop.py. */
static void write_expected(const char *path, const nn_net *net, const float *x,
                           const float *logp, int n) {
    cassnn_err err = {0};
    const int64_t xs[4] = {n, net->in_c, net->in_h, net->in_w}, ls[2] = {n, net->classes};
    blob_dict d = {0};
    assert_int_equal(blob_dict_add(&d, "input", "F32", 4, xs, x, &err), 0);
    assert_int_equal(blob_dict_add(&d, "logp", "F32", 2, ls, logp, &err), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_st_write(&d, &buf, &len, &err), 0);
    blob_dict_free(&d);
    assert_int_equal(blob_file_write(path, buf, len, &err), 0);
    free(buf);
}

/* Writes, under $CASSNN_BINARY_DIR/tests/blob/interop/, a trained tutorial
 * net, its optimizer and (input, cassnn's eval-mode log-probabilities) for
 * check_safetensors_interop.py to load into PyTorch. */
static void test_write_interop_files(void **state) {
    (void)state;
    const char *bin = getenv("CASSNN_BINARY_DIR");
    assert_non_null(bin);
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/tests/blob/interop", bin);
    mkdir(dir, 0777);
    nn_net net;
    nn_optim opt;
    cassnn_err err = {0};
    trained_net(&net, &opt);
    snprintf(path, sizeof path, "%s/cassnn_net.safetensors", dir);
    assert_int_equal(blob_net_save_file(&net, BLOB_SAFETENSORS, path, &err), 0);
    snprintf(path, sizeof path, "%s/cassnn_optim.safetensors", dir);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_optim_encode(&opt, &net, NULL, BLOB_SAFETENSORS, &buf, &len, &err), 0);
    assert_int_equal(blob_file_write(path, buf, len, &err), 0);
    free(buf);
    enum { N = 8 };
    float x[N * 784], logp[N * 10];
    int32_t labels[N];
    make_batch(x, labels, N, 99);
    nn_exec *e;
    assert_int_equal(nn_exec_create(&e, &net, N, N, 1, 1, &err), 0);
    nn_exec_eval_batch(e, x, NULL, N, logp, NULL, NULL);
    nn_exec_free(e);
    snprintf(path, sizeof path, "%s/cassnn_expected.safetensors", dir);
    write_expected(path, &net, x, logp, N);
    nn_optim_free(&opt);
    nn_net_free(&net);
}

/* tests/reference/bn_net.py's BNNet, trained a few steps so that its
 * running statistics and num_batches_tracked are not the initial ones; its
 * file and eval-mode log-probabilities for check_safetensors_interop.py. */
static void test_write_batchnorm_interop_files(void **state) {
    (void)state;
    const char *bin = getenv("CASSNN_BINARY_DIR");
    assert_non_null(bin);
    char path[1100];
    nn_net net, back;
    cassnn_err err = {0};
    assert_int_equal(nn_net_create(&net, "conv(4,k=3) bn relu maxpool(2) flatten linear(10) "
                                         "logsoftmax", 1, 10, 10, &err), 0);
    nn_net_init(&net, 5);
    enum { N = 6 };
    float x[N * 100], logp[N * 10], logp_back[N * 10];
    int32_t labels[N];
    nn_rng r;
    nn_rng_seed(&r, 5, 1);
    for (int i = 0; i < N * 100; i++) x[i] = 2.0f * nn_rng_uniform(&r) + 0.5f;
    for (int i = 0; i < N; i++) labels[i] = (int32_t)nn_rng_below(&r, 10);
    nn_optim opt;
    assert_int_equal(nn_optim_sgd(&opt, net.n_params, 0.1f, 0.9f, 0.0f, 0.0f, 0, &err), 0);
    nn_exec *e;
    assert_int_equal(nn_exec_create(&e, &net, N, N, 2, 1, &err), 0);
    for (int step = 0; step < 3; step++) {
        nn_exec_train_batch(e, x, labels, N, 1, NULL, NULL);
        nn_optim_step(&opt, net.params, net.grads);
    }
    nn_exec_eval_batch(e, x, NULL, N, logp, NULL, NULL);
    nn_exec_free(e);
    assert_int_equal(net.layers[1].batches_tracked, 3);
    snprintf(path, sizeof path, "%s/tests/blob/interop/cassnn_bn_net.safetensors", bin);
    assert_int_equal(blob_net_save_file(&net, BLOB_SAFETENSORS, path, &err), 0);

    /* round trip in cassnn: buffers and count come back, so does the output */
    assert_int_equal(blob_net_load_file(path, NULL, &back, &err), 0);
    assert_int_equal(back.n_buffers, net.n_buffers);
    assert_memory_equal(back.buffers, net.buffers, sizeof(float) * net.n_buffers);
    assert_int_equal(back.layers[1].batches_tracked, 3);
    /* same thread count: the chunks' BLAS calls, and so their rounding, match */
    assert_int_equal(nn_exec_create(&e, &back, 0, N, 2, 1, &err), 0);
    nn_exec_eval_batch(e, x, NULL, N, logp_back, NULL, NULL);
    nn_exec_free(e);
    assert_memory_equal(logp_back, logp, sizeof logp);
    nn_net_free(&back);

    snprintf(path, sizeof path, "%s/tests/blob/interop/cassnn_bn_expected.safetensors", bin);
    write_expected(path, &net, x, logp, N);
    nn_optim_free(&opt);
    nn_net_free(&net);
}

/* A batchnorm net's file must hold the running statistics: one without
 * them (a file of a net without batchnorm, or a truncated state_dict) is
 * refused, naming the tensor. */
static void test_batchnorm_buffers_required(void **state) {
    (void)state;
    nn_net plain, bn;
    cassnn_err err = {0};
    assert_int_equal(nn_net_create(&plain, "conv(4,k=3) relu maxpool(2) flatten linear(10) "
                                           "logsoftmax", 1, 10, 10, &err), 0);
    assert_int_equal(nn_net_create(&bn, "conv(4,k=3) bn relu maxpool(2) flatten linear(10) "
                                        "logsoftmax", 1, 10, 10, &err), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(blob_net_encode(&plain, BLOB_SAFETENSORS, &buf, &len, &err), 0);
    assert_int_equal(blob_net_load(&bn, buf, len, &err), -1);
    assert_non_null(strstr(err.msg, "bn1.weight"));
    free(buf);
    /* and the other way: the buffers are unexpected tensors for the plain net */
    assert_int_equal(blob_net_encode(&bn, BLOB_SAFETENSORS, &buf, &len, &err), 0);
    assert_int_equal(blob_net_load(&plain, buf, len, &err), -1);
    assert_non_null(strstr(err.msg, "bn1."));
    free(buf);
    nn_net_free(&plain);
    nn_net_free(&bn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_round_trip),
        cmocka_unit_test(test_optimizer_round_trip),
        cmocka_unit_test(test_load_pytorch_file),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_write_interop_files),
        cmocka_unit_test(test_write_batchnorm_interop_files),
        cmocka_unit_test(test_batchnorm_buffers_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
