/* PyTorch parity: outputs, loss, gradients and optimizer steps against the
 * fixtures written by tests/nn/make_fixtures.py (torch 1.13). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/blob.h"
#include "blob/safetensors.h"
#include "cassnn/nn.h"
#include "nn/isa.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"

/* Relative tolerance of the brief: each element within 1e-5 of PyTorch's,
 * relative to the element, with the tensor's largest magnitude as the floor
 * of the scale (summation order makes tiny entries differ in absolute
 * terms by float rounding of the large ones). */
#define RTOL 1e-5

typedef struct fixture {
    uint8_t *buf;
    size_t len;
    blob_dict st;
} fixture;

static void fixture_open(fixture *f, const char *file) {
    char path[1024];
    const char *src = getenv("CASSNN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/nn/fixtures/%s", src ? src : ".", file);
    cassnn_err err = {0};
    if (blob_file_read(path, &f->buf, &f->len, &err) || blob_st_parse(&f->st, f->buf, f->len, &err))
        fail_msg("%s", err.msg);
}

static void fixture_close(fixture *f) {
    blob_dict_free(&f->st);
    free(f->buf);
}

static float *tensor(fixture *f, const char *name, long *count) {
    const blob_tensor *t = blob_dict_find(&f->st, name);
    if (!t) fail_msg("fixture lacks %s", name);
    float *out = malloc(t->nbytes ? t->nbytes : 1);
    cassnn_err err = {0};
    if (blob_dict_read_f32(&f->st, name, t->ndim, t->shape, out, &err)) fail_msg("%s", err.msg);
    *count = (long)(t->nbytes / 4);
    return out;
}

/* floor: the smallest scale the tolerance is relative to (0: none beyond
 * the tensor's own largest magnitude). */
static void expect_close_floor(const char *what, const float *got, const float *want, long n,
                               double floor) {
    double scale = floor, worst = 0.0;
    for (long i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (long i = 0; i < n; i++) {
        const double tol = RTOL * fmax(fabs(want[i]), scale);
        const double diff = fabs((double)got[i] - want[i]);
        worst = fmax(worst, diff / fmax(scale, 1e-30));
        if (diff > tol) fail_msg("%s[%ld]: cassnn %.9g, PyTorch %.9g", what, i, got[i], want[i]);
    }
    print_message("%-28s max |diff|/max|x| = %.2e\n", what, worst);
}

static void expect_close(const char *what, const float *got, const float *want, long n) {
    expect_close_floor(what, got, want, n, 0.0);
}

/* Loads prefix.<param> into every parameter of net. */
static void load_params(fixture *f, nn_net *net, const char *prefix) {
    for (int i = 0; i < nn_net_param_count(net); i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, p.name);
        cassnn_err err = {0};
        if (blob_dict_read_f32(&f->st, name, p.ndim, p.shape, p.data, &err)) fail_msg("%s", err.msg);
    }
}

static void expect_params(fixture *f, nn_net *net, const char *prefix, int grads) {
    for (int i = 0; i < nn_net_param_count(net); i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, p.name);
        long n;
        float *want = tensor(f, name, &n);
        assert_int_equal(n, p.size);
        expect_close(name, grads ? p.grad : p.data, want, n);
        free(want);
    }
}

static int32_t *labels_of(fixture *f, long *n) {
    float *t = tensor(f, "target", n);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)*n);
    for (long i = 0; i < *n; i++) labels[i] = (int32_t)t[i];
    free(t);
    return labels;
}

static void test_tutorial_forward_backward_sgd(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "tutorial_sgd.safetensors");
    for (int threads = 1; threads <= 2; threads++) {
        nn_net net;
        cassnn_err err = {0};
        assert_int_equal(nn_net_create(&net, "tutorial", 1, 28, 28, &err), 0);
        load_params(&f, &net, "param");
        long n, count;
        float *x = tensor(&f, "input", &count);
        int32_t *labels = labels_of(&f, &n);
        nn_exec *e;
        assert_int_equal(nn_exec_create(&e, &net, (int)n, (int)n, threads, 1, &err), 0);

        float *logp = malloc(sizeof(float) * n * 10);
        nn_exec_eval_batch(e, x, labels, (int)n, logp, NULL, NULL);
        float *want = tensor(&f, "logp", &count);
        expect_close("logp", logp, want, count);
        free(want);

        double loss;
        nn_exec_train_batch(e, x, labels, (int)n, 0, &loss, NULL);
        want = tensor(&f, "loss", &count);
        const float loss_f = (float)loss;
        expect_close("loss", &loss_f, want, 1);
        free(want);
        expect_params(&f, &net, "grad", 1);

        nn_optim opt;
        assert_int_equal(nn_optim_sgd(&opt, net.n_params, 0.01f, 0.5f, 0.0f, 0.0f, 0, &err), 0);
        for (int step = 0; step < 3; step++) {
            if (step) nn_exec_train_batch(e, x, labels, (int)n, 0, NULL, NULL);
            nn_optim_step(&opt, net.params, net.grads);
        }
        expect_params(&f, &net, "sgd3", 0);
        nn_optim_free(&opt);
        nn_exec_free(e);
        free(logp);
        free(x);
        free(labels);
        nn_net_free(&net);
    }
    fixture_close(&f);
}

/* tests/reference/bn_net.py's BN_MODEL on 1x10x10 */
#define BN_MODEL "conv(4,k=3) bn relu maxpool(2) flatten linear(10) logsoftmax"

/* Loads prefix.<tensor> into every state_dict tensor of net (buffers too). */
static void load_state(fixture *f, nn_net *net, const char *prefix) {
    for (int i = 0; i < nn_net_state_count(net); i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, p.name);
        cassnn_err err = {0};
        if (p.count ? blob_dict_read_i64(&f->st, name, p.ndim, p.shape, p.count, &err)
                    : blob_dict_read_f32(&f->st, name, p.ndim, p.shape, p.data, &err))
            fail_msg("%s", err.msg);
    }
}

/* Every state_dict tensor against prefix.<tensor>: floats to RTOL, counts exactly. */
static void expect_state(fixture *f, nn_net *net, const char *prefix) {
    for (int i = 0; i < nn_net_state_count(net); i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, p.name);
        if (p.count) {
            int64_t want;
            cassnn_err err = {0};
            if (blob_dict_read_i64(&f->st, name, 0, p.shape, &want, &err)) fail_msg("%s", err.msg);
            if (*p.count != want)
                fail_msg("%s: cassnn %lld, PyTorch %lld", name, (long long)*p.count, (long long)want);
            continue;
        }
        long n;
        float *want = tensor(f, name, &n);
        assert_int_equal(n, p.size);
        expect_close(name, p.data, want, n);
        free(want);
    }
}

/* The fixture's BNNet at its initial state (param.*) and an executor for
 * batches of up to 8 images on `threads` threads. */
static nn_exec *bn_net_at_start(fixture *f, nn_net *net, int threads) {
    cassnn_err err = {0};
    nn_exec *e;
    if (nn_net_create(net, BN_MODEL, 1, 10, 10, &err)) fail_msg("%s", err.msg);
    load_state(f, net, "param");
    if (nn_exec_create(&e, net, 8, 8, threads, 1, &err)) fail_msg("%s", err.msg);
    return e;
}

/* The eval-mode log-probabilities of the fixture's batch against PyTorch's. */
static void expect_eval_logp(fixture *f, nn_exec *e, const float *x, int n, const char *what) {
    long count;
    float *logp = malloc(sizeof(float) * n * 10);
    nn_exec_eval_batch(e, x, NULL, n, logp, NULL, NULL);
    float *want = tensor(f, "eval_logp", &count);
    expect_close(what, logp, want, count);
    free(want);
    free(logp);
}

/* BatchNorm2d in training mode (batch statistics) and eval mode (running
 * statistics) against PyTorch, on 1, 2 and 3 threads: the statistics must
 * be those of the whole batch however it is split. */
static void test_batchnorm(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "batchnorm.safetensors");
    long n, count;
    float *x = tensor(&f, "input", &count);
    int32_t *labels = labels_of(&f, &n);
    for (int threads = 1; threads <= 3; threads++) {
        print_message("-- %d thread(s)\n", threads);
        nn_net net;
        cassnn_err err = {0};
        nn_exec *e = bn_net_at_start(&f, &net, threads);
        assert_int_equal(n, 8);
        double loss;
        nn_exec_train_batch(e, x, labels, (int)n, 0, &loss, NULL);
        float *want = tensor(&f, "loss", &count);
        const float loss_f = (float)loss;
        expect_close("loss", &loss_f, want, 1);
        free(want);
        for (int i = 0; i < nn_net_param_count(&net); i++) {
            nn_param p;
            nn_net_param(&net, i, &p);
            char name[96];
            snprintf(name, sizeof name, "grad.%s", p.name);
            float *g = tensor(&f, name, &count);
            assert_int_equal(count, p.size);
            /* The gradient of the bias of the conv in front of the batchnorm
             * is exactly zero (the normalisation removes any per-channel
             * shift): both sides hold rounding noise of ~1e-8, so it is
             * held to the scale of its layer's weight gradient. */
            double floor = 0.0;
            if (!strcmp(p.name, "conv1.bias"))
                for (long j = 0; j < net.layers[0].weight_size; j++)
                    floor = fmax(floor, fabs(net.grads[net.layers[0].weight_off + j]));
            expect_close_floor(name, p.grad, g, count, floor);
            free(g);
        }
        nn_optim opt;
        assert_int_equal(nn_optim_sgd(&opt, net.n_params, 0.05f, 0.9f, 0.0f, 0.0f, 0, &err), 0);
        for (int step = 0; step < 3; step++) {
            nn_exec_train_batch(e, x, labels, (int)n, 0, NULL, NULL);
            nn_optim_step(&opt, net.params, net.grads);
        }
        expect_state(&f, &net, "sgd3");
        expect_eval_logp(&f, e, x, (int)n, "eval logp");
        nn_optim_free(&opt);
        nn_exec_free(e);
        nn_net_free(&net);
    }
    free(x);
    free(labels);
    fixture_close(&f);
}

/* The training-mode log-probabilities are those of the batch as a whole;
 * a batch smaller than the thread count leaves some threads (thread 0
 * included) an empty chunk, and they must still take part. */
static void test_batchnorm_small_batch_many_threads(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "batchnorm.safetensors");
    long n, count;
    float *x = tensor(&f, "input", &count);
    int32_t *labels = labels_of(&f, &n);
    float grads[2][2000], running[2][8];
    long n_params = 0;
    double losses[2];
    int64_t tracked[2];
    const int thread_counts[2] = {1, 3};
    for (int r = 0; r < 2; r++) {
        nn_net net;
        nn_exec *e = bn_net_at_start(&f, &net, thread_counts[r]);
        assert_true(net.n_params <= 2000 && net.n_buffers == 8);
        nn_exec_train_batch(e, x, labels, 2, 0, &losses[r], NULL);
        memcpy(grads[r], net.grads, sizeof(float) * net.n_params);
        n_params = net.n_params;
        memcpy(running[r], net.buffers, sizeof running[r]);
        tracked[r] = net.layers[1].batches_tracked;
        nn_exec_free(e);
        nn_net_free(&net);
    }
    assert_true(fabs(losses[0] - losses[1]) <= 1e-6 * fabs(losses[0]));
    assert_int_equal(tracked[0], 1);
    assert_int_equal(tracked[1], 1);
    for (int i = 0; i < 8; i++) assert_true(fabsf(running[0][i] - running[1][i]) <= 1e-6f);
    for (long i = 0; i < n_params; i++)
        if (fabsf(grads[0][i] - grads[1][i]) > 1e-5f * (1.0f + fabsf(grads[0][i])))
            fail_msg("grad[%ld]: 1 thread %g, 3 threads %g", i, grads[0][i], grads[1][i]);
    free(x);
    free(labels);
    fixture_close(&f);
}

/* A state_dict saved by PyTorch (num_batches_tracked as I64) loads, and the
 * net computes PyTorch's eval-mode output. */
static void test_batchnorm_torch_state(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "batchnorm.safetensors");
    char path[1024];
    const char *src = getenv("CASSNN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/nn/fixtures/torch_bn_state.safetensors", src ? src : ".");
    nn_net net;
    cassnn_err err = {0};
    if (blob_net_load_file(path, &(blob_model){BN_MODEL, 1, 10, 10}, &net, &err)) fail_msg("%s", err.msg);
    assert_int_equal(net.layers[1].batches_tracked, 4);
    long count;
    float *x = tensor(&f, "input", &count);
    const int n = (int)(count / 100);
    nn_exec *e;
    assert_int_equal(nn_exec_create(&e, &net, 0, n, 2, 1, &err), 0);
    expect_eval_logp(&f, e, x, n, "eval logp (torch file)");
    free(x);
    nn_exec_free(e);
    nn_net_free(&net);
    fixture_close(&f);
}

/* Mirrors OPTIM_CONFIGS in make_fixtures.py. */
static int make_optim(nn_optim *o, const char *name, long n, cassnn_err *err) {
    if (!strcmp(name, "sgd_nesterov")) return nn_optim_sgd(o, n, 0.05f, 0.9f, 0.0f, 1e-2f, 1, err);
    if (!strcmp(name, "sgd_dampening")) return nn_optim_sgd(o, n, 0.05f, 0.9f, 0.3f, 1e-2f, 0, err);
    if (!strcmp(name, "sgd_plain")) return nn_optim_sgd(o, n, 0.1f, 0.0f, 0.0f, 0.0f, 0, err);
    if (!strcmp(name, "adam")) return nn_optim_adam(o, n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, err);
    if (!strcmp(name, "adam_wd")) return nn_optim_adam(o, n, 1e-2f, 0.8f, 0.99f, 1e-6f, 1e-2f, 0, err);
    if (!strcmp(name, "adamw")) return nn_optim_adam(o, n, 1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, 1, err);
    return cassnn_err_set(err, "unknown config %s", name);
}

static void test_optimizers(void **state) {
    (void)state;
    static const char *configs[] = {"sgd_nesterov", "sgd_dampening", "sgd_plain",
                                    "adam",         "adam_wd",       "adamw"};
    fixture f;
    fixture_open(&f, "small_optim.safetensors");
    long n, count;
    float *x = tensor(&f, "input", &count);
    int32_t *labels = labels_of(&f, &n);
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        nn_net net;
        cassnn_err err = {0};
        assert_int_equal(nn_net_create(&net, "conv(4,k=5) maxpool(2) relu flatten linear(10) "
                                             "logsoftmax", 1, 12, 12, &err), 0);
        load_params(&f, &net, "param");
        nn_exec *e;
        assert_int_equal(nn_exec_create(&e, &net, (int)n, (int)n, 1, 1, &err), 0);
        nn_optim opt;
        if (make_optim(&opt, configs[c], net.n_params, &err)) fail_msg("%s", err.msg);
        for (int step = 0; step < 3; step++) {
            nn_exec_train_batch(e, x, labels, (int)n, 0, NULL, NULL);
            nn_optim_step(&opt, net.params, net.grads);
        }
        expect_params(&f, &net, configs[c], 0);
        nn_optim_free(&opt);
        nn_exec_free(e);
        nn_net_free(&net);
    }
    free(x);
    free(labels);
    fixture_close(&f);
}

static void test_optim_rejects_bad_settings(void **state) {
    (void)state;
    nn_optim o;
    cassnn_err err = {0};
    assert_int_equal(nn_optim_sgd(&o, 10, -1.0f, 0.0f, 0.0f, 0.0f, 0, &err), -1);
    assert_int_equal(nn_optim_sgd(&o, 10, 0.1f, 0.0f, 0.0f, 0.0f, 1, &err), -1);
    assert_non_null(strstr(err.msg, "nesterov"));
    assert_int_equal(nn_optim_adam(&o, 10, 0.1f, 1.0f, 0.9f, 1e-8f, 0.0f, 0, &err), -1);
    assert_non_null(strstr(err.msg, "betas"));
}

/* Mirrors lr_schedules() in make_fixtures.py. */
static void test_lr_schedules(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f, "lr_schedules.safetensors");
    long n;
    float *want = tensor(&f, "step_lr", &n);
    nn_lr_schedule step = {.kind = NN_LR_STEP, .base_lr = 1.0f, .step_epochs = 3, .gamma = 0.5f};
    float got[64];
    assert_true(n <= 64);
    for (long e = 0; e < n; e++) got[e] = nn_lr_at(&step, e, (int)e + 1); /* one step per epoch */
    expect_close("StepLR", got, want, n);
    free(want);
    want = tensor(&f, "cosine_lr", &n);
    assert_true(n <= 64);
    nn_lr_schedule cosine = {.kind = NN_LR_COSINE, .base_lr = 0.1f, .min_lr = 0.001f, .total_steps = 50};
    for (long t = 0; t < n; t++) got[t] = nn_lr_at(&cosine, t, 1);
    expect_close("CosineAnnealingLR", got, want, n);
    free(want);
    want = tensor(&f, "onecycle_lr", &n);
    assert_true(n <= 64);
    nn_lr_schedule one = {.kind = NN_LR_ONE_CYCLE, .base_lr = 0.1f, .total_steps = 50,
                          .pct_start = 0.3f, .div_factor = 25.0f, .final_div_factor = 1e4f};
    for (long t = 0; t < n; t++) got[t] = nn_lr_at(&one, t, 1);
    expect_close("OneCycleLR", got, want, n);
    free(want);
    for (long t = 0; t < n; t++) assert_true(nn_momentum_at(&one, t) == -1.0f); /* not cycling */

    /* PyTorch's default cycle_momentum=True, applied to an optimizer step by
     * step as nn_train_epoch does: SGD's momentum, Adam's beta1 */
    one.cycle_momentum = 1;
    one.base_momentum = 0.85f;
    one.max_momentum = 0.95f;
    float lr[64], momentum[64], beta1[64];
    nn_optim sgd, adam, plain;
    cassnn_err err = {0};
    float p = 0.0f, g = 0.0f;
    assert_int_equal(nn_optim_sgd(&sgd, 1, 1.0f, 0.95f, 0.0f, 0.0f, 0, &err), 0);
    assert_int_equal(nn_optim_adam(&adam, 1, 1.0f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, &err), 0);
    for (long t = 0; t < 50; t++) {
        assert_int_equal(nn_schedule_apply(&one, &sgd, 1, &err), 0);
        assert_int_equal(nn_schedule_apply(&one, &adam, 1, &err), 0);
        lr[t] = sgd.lr;
        momentum[t] = sgd.momentum;
        beta1[t] = adam.beta1;
        nn_optim_step(&sgd, &p, &g);
        nn_optim_step(&adam, &p, &g);
    }
    want = tensor(&f, "onecycle_cycled_lr", &n);
    assert_int_equal(n, 50);
    expect_close("OneCycleLR (cycled) lr", lr, want, n);
    free(want);
    want = tensor(&f, "onecycle_momentum", &n);
    expect_close("OneCycleLR SGD momentum", momentum, want, n);
    free(want);
    want = tensor(&f, "onecycle_adam_beta1", &n);
    expect_close("OneCycleLR Adam beta1", beta1, want, n);
    free(want);
    /* SGD without momentum buffers cannot cycle: a clear error, not a crash */
    assert_int_equal(nn_optim_sgd(&plain, 1, 1.0f, 0.0f, 0.0f, 0.0f, 0, &err), 0);
    assert_int_equal(nn_schedule_apply(&one, &plain, 1, &err), -1);
    assert_non_null(strstr(err.msg, "momentum"));
    nn_optim_free(&sgd);
    nn_optim_free(&adam);
    nn_optim_free(&plain);
    fixture_close(&f);
}

int main(void) {
    nn_isa isa;
    cassnn_err err = {0};
    if (nn_isa_select(&isa, &err)) {
        fprintf(stderr, "test_nn_parity: %s\n", err.msg);
        return 1;
    }
    printf("instruction set: %s%s\n", nn_isa_name(isa),
           nn_isa_supported(NN_ISA_AVX512) ? "" : " (this processor has no AVX-512)");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_forward_backward_sgd),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_optim_rejects_bad_settings),
        cmocka_unit_test(test_lr_schedules),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_batchnorm_small_batch_many_threads),
        cmocka_unit_test(test_batchnorm_torch_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
