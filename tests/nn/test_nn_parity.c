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

#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_safetensors.h"
#include "cassnn/nn_train.h"

/* Relative tolerance of the brief: each element within 1e-5 of PyTorch's,
 * relative to the element, with the tensor's largest magnitude as the floor
 * of the scale (summation order makes tiny entries differ in absolute
 * terms by float rounding of the large ones). */
#define RTOL 1e-5

typedef struct fixture {
    uint8_t *buf;
    size_t len;
    nn_safetensors st;
} fixture;

static void fixture_open(fixture *f, const char *file) {
    char path[1024];
    const char *src = getenv("CASSNN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/nn/fixtures/%s", src ? src : ".", file);
    cassnn_err err = {0};
    if (nn_file_read(path, &f->buf, &f->len, &err) || nn_st_parse(&f->st, f->buf, f->len, &err))
        fail_msg("%s", err.msg);
}

static void fixture_close(fixture *f) {
    nn_st_free(&f->st);
    free(f->buf);
}

static float *tensor(fixture *f, const char *name, long *count) {
    const nn_st_tensor *t = nn_st_find(&f->st, name);
    if (!t) fail_msg("fixture lacks %s", name);
    float *out = malloc(t->nbytes ? t->nbytes : 1);
    cassnn_err err = {0};
    if (nn_st_read_f32(&f->st, name, t->ndim, t->shape, out, &err)) fail_msg("%s", err.msg);
    *count = (long)(t->nbytes / 4);
    return out;
}

static void expect_close(const char *what, const float *got, const float *want, long n) {
    double scale = 0.0, worst = 0.0;
    for (long i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (long i = 0; i < n; i++) {
        const double tol = RTOL * fmax(fabs(want[i]), scale);
        const double diff = fabs((double)got[i] - want[i]);
        worst = fmax(worst, diff / fmax(scale, 1e-30));
        if (diff > tol) fail_msg("%s[%ld]: cassnn %.9g, PyTorch %.9g", what, i, got[i], want[i]);
    }
    print_message("%-28s max |diff|/max|x| = %.2e\n", what, worst);
}

/* Loads prefix.<param> into every parameter of net. */
static void load_params(fixture *f, nn_net *net, const char *prefix) {
    for (int i = 0; i < nn_net_param_count(net); i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        char name[96];
        snprintf(name, sizeof name, "%s.%s", prefix, p.name);
        cassnn_err err = {0};
        if (nn_st_read_f32(&f->st, name, p.ndim, p.shape, p.data, &err)) fail_msg("%s", err.msg);
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
    fixture_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_forward_backward_sgd),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_optim_rejects_bad_settings),
        cmocka_unit_test(test_lr_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
