/* Model descriptions, parameters and the threaded executor (nn.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/nn.h"
#include "nn/rng.h"

static void test_tutorial_state_dict(void **state) {
    (void)state;
    nn_net net;
    cassnn_err err = {0};
    assert_int_equal(nn_net_create(&net, "tutorial", 1, 28, 28, &err), 0);
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } want[] = {
        {"conv1.weight", 4, {10, 1, 5, 5}}, {"conv1.bias", 1, {10}},
        {"conv2.weight", 4, {20, 10, 5, 5}}, {"conv2.bias", 1, {20}},
        {"fc1.weight", 2, {50, 320}},       {"fc1.bias", 1, {50}},
        {"fc2.weight", 2, {10, 50}},        {"fc2.bias", 1, {10}},
    };
    assert_int_equal(nn_net_param_count(&net), 8);
    long total = 0;
    for (int i = 0; i < 8; i++) {
        nn_param p;
        nn_net_param(&net, i, &p);
        assert_string_equal(p.name, want[i].name);
        assert_int_equal(p.ndim, want[i].ndim);
        long size = 1;
        for (int d = 0; d < p.ndim; d++) {
            assert_int_equal(p.shape[d], want[i].shape[d]);
            size *= p.shape[d];
        }
        assert_int_equal(p.size, size);
        assert_ptr_equal(p.data, net.params + total);
        total += size;
    }
    assert_int_equal(net.n_params, 21840);
    assert_int_equal(net.classes, 10);
    /* The canonical description parses back to the same net. */
    nn_net again;
    assert_int_equal(nn_net_create(&again, net.description, 1, 28, 28, &err), 0);
    assert_string_equal(again.description, net.description);
    nn_net_free(&again);

    nn_net_init(&net, 1);
    /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): fc1 fan_in 320 */
    nn_param fc1;
    nn_net_param(&net, 4, &fc1);
    float lo = 1, hi = -1;
    for (long i = 0; i < fc1.size; i++) {
        lo = fminf(lo, fc1.data[i]);
        hi = fmaxf(hi, fc1.data[i]);
    }
    const float bound = 1.0f / sqrtf(320.0f);
    assert_true(hi <= bound && lo >= -bound && hi > 0.95f * bound && lo < -0.95f * bound);
    nn_net_free(&net);
}

static void test_rgb_and_names(void **state) {
    (void)state;
    nn_net net;
    cassnn_err err = {0};
    const char *desc = "# RGB variant\n"
                       "features=conv(16, k=3, p=1) relu maxpool(2)\n"
                       "conv(32,k=3,s=2) relu gap flatten head=linear(10) logsoftmax";
    assert_int_equal(nn_net_create(&net, desc, 3, 32, 32, &err), 0);
    nn_param p;
    nn_net_param(&net, 0, &p);
    assert_string_equal(p.name, "features.weight");
    assert_int_equal(p.shape[1], 3);
    nn_net_param(&net, 2, &p);
    assert_string_equal(p.name, "conv2.weight");
    nn_net_param(&net, 4, &p);
    assert_string_equal(p.name, "head.weight");
    assert_int_equal(p.shape[1], 32);
    nn_net_free(&net);

    /* tutorial on 3x28x28 images: conv1 takes 3 channels */
    assert_int_equal(nn_net_create(&net, "tutorial", 3, 28, 28, &err), 0);
    nn_net_param(&net, 0, &p);
    assert_int_equal(p.shape[1], 3);
    nn_net_free(&net);
}

static void expect_error(const char *desc, int c, int h, int w, const char *needle) {
    nn_net net;
    cassnn_err err = {0};
    assert_int_equal(nn_net_create(&net, desc, c, h, w, &err), -1);
    if (!strstr(err.msg, needle)) fail_msg("error '%s' lacks '%s'", err.msg, needle);
    assert_null(net.layers);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("conv(10,k=5) flatten linear(10) logsoftmax", 1, 4, 4,
                 "layer 1 'conv(10,k=5)': window 5x5 does not fit input 1x4x4");
    expect_error("conv(10,k=3) linear(10) logsoftmax", 1, 8, 8,
                 "layer 2 'linear(10)': linear needs a flat input, got 10x6x6");
    expect_error("conv(10,k=3) blah flatten linear(10) logsoftmax", 1, 8, 8,
                 "layer 2 'blah': unknown layer kind 'blah'");
    expect_error("flatten linear(10)", 1, 8, 8, "last layer must be logsoftmax");
    expect_error("conv(10) flatten linear(10) logsoftmax", 1, 8, 8, "layer 1");
    expect_error("conv(10,k=2.5) flatten linear(10) logsoftmax", 1, 8, 8, "k must be an integer");
    expect_error("a=linear(3) a=linear(2) logsoftmax", 4, 1, 1, "name 'a' is already used");
    expect_error("flatten dropout(1.5) linear(2) logsoftmax", 4, 1, 1, "dropout probability");
    expect_error("flatten linear(2,3) logsoftmax", 4, 1, 1, "unexpected argument 2");
    expect_error("flatten linear(2 logsoftmax", 4, 1, 1, "expected ',' or ')'");
    expect_error("x=relu flatten linear(2) logsoftmax", 4, 1, 1, "only layers with parameters");
    expect_error("", 4, 1, 1, "empty");
}

/* Loss of the whole batch in eval mode, in double, for finite differences. */
static double eval_loss(nn_exec *e, const float *x, const int32_t *labels, int n) {
    double loss = 0.0;
    nn_exec_eval_batch(e, x, labels, n, NULL, &loss, NULL);
    return loss / n;
}

static void make_batch(float *x, int32_t *labels, int n, long image, uint64_t seed) {
    nn_rng r;
    nn_rng_seed(&r, seed, 99);
    for (long i = 0; i < n * image; i++) x[i] = 2.0f * nn_rng_uniform(&r) - 0.5f;
    for (int i = 0; i < n; i++) labels[i] = (int32_t)nn_rng_below(&r, 10);
}

/* End-to-end gradient of the tutorial net through the executor, against
 * finite differences of its eval-mode loss (dropout off on both sides). */
static void test_net_gradient(void **state) {
    (void)state;
    nn_net net;
    cassnn_err err = {0};
    assert_int_equal(nn_net_create(&net, "tutorial", 1, 28, 28, &err), 0);
    nn_net_init(&net, 3);
    enum { N = 6 };
    float *x = malloc(sizeof(float) * N * 784);
    int32_t labels[N];
    make_batch(x, labels, N, 784, 5);
    nn_exec *e;
    assert_int_equal(nn_exec_create(&e, &net, N, N, 2, 1, &err), 0);
    double loss;
    nn_exec_train_batch(e, x, labels, N, 0, &loss, NULL);
    assert_true(fabs(loss - eval_loss(e, x, labels, N)) < 1e-5);
    float *grads = malloc(sizeof(float) * net.n_params);
    memcpy(grads, net.grads, sizeof(float) * net.n_params);
    /* a sample of every tensor (max-pool/relu kinks make a few points noisy:
     * require 95% within tolerance) */
    int bad = 0, total = 0;
    for (int t = 0; t < nn_net_param_count(&net); t++) {
        nn_param p;
        nn_net_param(&net, t, &p);
        for (long i = 0; i < p.size; i += 1 + p.size / 40) {
            float *v = &p.data[i];
            const float saved = *v, eps = 1e-2f;
            *v = saved + eps;
            double plus = eval_loss(e, x, labels, N);
            *v = saved - eps;
            double minus = eval_loss(e, x, labels, N);
            *v = saved;
            double numeric = (plus - minus) / (2 * eps), analytic = grads[p.data - net.params + i];
            total++;
            if (fabs(numeric - analytic) > 1e-3 + 0.02 * fabs(analytic)) bad++;
        }
    }
    if (bad * 20 > total) fail_msg("%d of %d gradient samples off", bad, total);
    nn_exec_free(e);
    free(grads);
    free(x);
    nn_net_free(&net);
}

/* Same thread count = same bits; other thread counts agree to rounding. */
static void test_threads_deterministic(void **state) {
    (void)state;
    enum { N = 64 };
    float *x = malloc(sizeof(float) * N * 784);
    int32_t labels[N];
    make_batch(x, labels, N, 784, 8);
    float *ref[3];
    double losses[3];
    const int counts[3] = {1, 2, 3};
    for (int run = 0; run < 4; run++) {
        const int k = run < 3 ? run : 1;
        nn_net net;
        cassnn_err err = {0};
        assert_int_equal(nn_net_create(&net, "tutorial", 1, 28, 28, &err), 0);
        nn_net_init(&net, 1);
        nn_exec *e;
        assert_int_equal(nn_exec_create(&e, &net, N, 100, counts[k], 42, &err), 0);
        double loss;
        nn_exec_train_batch(e, x, labels, N, 1, &loss, NULL);
        if (run < 3) {
            ref[k] = malloc(sizeof(float) * net.n_params);
            memcpy(ref[k], net.grads, sizeof(float) * net.n_params);
            losses[k] = loss;
        } else {
            assert_memory_equal(ref[1], net.grads, sizeof(float) * net.n_params);
            assert_true(loss == losses[1]);
        }
        if (run == 2)
            for (long i = 0; i < net.n_params; i++)
                for (int a = 1; a < 3; a++)
                    if (fabsf(ref[a][i] - ref[0][i]) > 1e-5f + 1e-3f * fabsf(ref[0][i]))
                        fail_msg("grad %ld: %d threads %g vs 1 thread %g", i, counts[a],
                                 ref[a][i], ref[0][i]);
        nn_exec_free(e);
        nn_net_free(&net);
    }
    assert_true(fabs(losses[0] - losses[2]) < 1e-5);
    for (int k = 0; k < 3; k++) free(ref[k]);
    free(x);
}

/* batchnorm2d in a description: default and given names, PyTorch's
 * state_dict order (parameters then buffers per layer) and optimizer order
 * (parameters only), the canonical description, and a run that is the same
 * bits twice on 2 threads (the cross-thread statistics included). */
static void test_batchnorm_model(void **state) {
    (void)state;
    nn_net net;
    cassnn_err err = {0};
    const char *desc = "conv(8,k=3,p=1) bn relu conv(8,k=3) norm=batchnorm2d relu gap flatten "
                       "linear(10) logsoftmax";
    assert_int_equal(nn_net_create(&net, desc, 3, 12, 12, &err), 0);
    static const char *state_names[] = {
        "conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
        "bn1.running_var", "bn1.num_batches_tracked", "conv2.weight", "conv2.bias",
        "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
        "norm.num_batches_tracked", "fc1.weight", "fc1.bias"};
    assert_int_equal(nn_net_state_count(&net), 16);
    for (int i = 0; i < 16; i++) {
        nn_param p;
        nn_net_state_tensor(&net, i, &p);
        assert_string_equal(p.name, state_names[i]);
        assert_int_equal(p.count != NULL, strstr(p.name, "num_batches") != NULL);
        if (p.count) assert_int_equal(p.ndim, 0);
    }
    assert_int_equal(nn_net_param_count(&net), 10);
    nn_param p;
    nn_net_param(&net, 4, &p);
    assert_string_equal(p.name, "conv2.weight");
    nn_net_param(&net, 2, &p);
    assert_string_equal(p.name, "bn1.weight");
    assert_int_equal(p.ndim, 1);
    assert_int_equal(p.shape[0], 8);
    assert_int_equal(net.n_buffers, 32);
    assert_non_null(strstr(net.description, "bn1=batchnorm2d relu"));
    nn_net again;
    assert_int_equal(nn_net_create(&again, net.description, 3, 12, 12, &err), 0);
    assert_string_equal(again.description, net.description);
    nn_net_free(&again);

    /* init: identity transform, running variance 1 */
    nn_net_init(&net, 3);
    nn_net_state_tensor(&net, 2, &p);
    for (int i = 0; i < 8; i++) assert_true(p.data[i] == 1.0f);
    nn_net_state_tensor(&net, 5, &p);
    for (int i = 0; i < 8; i++) assert_true(p.data[i] == 1.0f);

    enum { N = 10 };
    float *x = malloc(sizeof(float) * N * 3 * 144);
    int32_t labels[N];
    make_batch(x, labels, N, 3 * 144, 4);
    float *ref = malloc(sizeof(float) * net.n_params);
    float ref_buffers[32];
    for (int run = 0; run < 2; run++) {
        nn_net_init(&net, 3);
        nn_exec *e;
        assert_int_equal(nn_exec_create(&e, &net, N, N, 2, 9, &err), 0);
        nn_exec_train_batch(e, x, labels, N, 1, NULL, NULL);
        nn_exec_train_batch(e, x, labels, N, 1, NULL, NULL);
        nn_exec_free(e);
        if (run == 0) {
            memcpy(ref, net.grads, sizeof(float) * net.n_params);
            memcpy(ref_buffers, net.buffers, sizeof ref_buffers);
        } else {
            assert_memory_equal(ref, net.grads, sizeof(float) * net.n_params);
            assert_memory_equal(ref_buffers, net.buffers, sizeof ref_buffers);
        }
        assert_int_equal(net.layers[1].batches_tracked, 2);
    }
    free(ref), free(x);
    nn_net_free(&net);
    expect_error("conv(4,k=3) bn(3) flatten linear(10) logsoftmax", 1, 8, 8, "unexpected argument 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_state_dict),
        cmocka_unit_test(test_rgb_and_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_net_gradient),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_batchnorm_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
