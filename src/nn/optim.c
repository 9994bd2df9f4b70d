/* optim.c - SGD and Adam/AdamW with PyTorch's update rules (see nn_optim.h). */
#include "cassnn/nn_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nn_optim_kind_name(nn_optim_kind kind) {
    switch (kind) {
    case NN_OPTIM_SGD: return "sgd";
    case NN_OPTIM_ADAM: return "adam";
    case NN_OPTIM_ADAMW: return "adamw";
    }
    return "?";
}

float *nn_optim_buffer(const nn_optim *o, int which, const char **name) {
    if (o->kind == NN_OPTIM_SGD) {
        *name = "momentum_buffer";
        return which == 0 ? o->buf1 : NULL;
    }
    *name = which == 0 ? "exp_avg" : "exp_avg_sq";
    return which == 0 ? o->buf1 : o->buf2;
}

int nn_optim_sgd(nn_optim *o, long n, float lr, float momentum, float dampening,
                 float weight_decay, int nesterov, cassnn_err *err) {
    memset(o, 0, sizeof *o);
    if (!(lr >= 0.0f) || !(momentum >= 0.0f) || !(weight_decay >= 0.0f) || !isfinite(dampening))
        return cassnn_err_set(err, "sgd: lr %g, momentum %g and weight decay %g must be >= 0", lr,
                              momentum, weight_decay);
    if (nesterov && (momentum <= 0.0f || dampening != 0.0f))
        return cassnn_err_set(err, "sgd: nesterov momentum requires a momentum and zero dampening");
    o->kind = NN_OPTIM_SGD;
    o->lr = lr;
    o->momentum = momentum;
    o->dampening = dampening;
    o->weight_decay = weight_decay;
    o->nesterov = nesterov;
    o->n = n;
    if (momentum != 0.0f) {
        o->buf1 = calloc((size_t)n, sizeof(float));
        if (!o->buf1) return cassnn_err_set(err, "sgd: out of memory for %ld momentum values", n);
    }
    return 0;
}

int nn_optim_adam(nn_optim *o, long n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int decoupled, cassnn_err *err) {
    memset(o, 0, sizeof *o);
    if (!(lr >= 0.0f) || !(eps >= 0.0f) || !(weight_decay >= 0.0f))
        return cassnn_err_set(err, "adam: lr %g, eps %g and weight decay %g must be >= 0", lr, eps,
                              weight_decay);
    if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f))
        return cassnn_err_set(err, "adam: betas (%g, %g) must be in [0, 1)", beta1, beta2);
    o->kind = decoupled ? NN_OPTIM_ADAMW : NN_OPTIM_ADAM;
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->n = n;
    o->buf1 = calloc((size_t)n, sizeof(float));
    o->buf2 = calloc((size_t)n, sizeof(float));
    if (!o->buf1 || !o->buf2) {
        nn_optim_free(o);
        return cassnn_err_set(err, "adam: out of memory for %ld parameters", n);
    }
    return 0;
}

static void sgd_step(nn_optim *o, float *p, const float *g) {
    const float lr = o->lr, wd = o->weight_decay, mom = o->momentum;
    const float keep = 1.0f - o->dampening;
    const int first = o->step == 0;
    for (long i = 0; i < o->n; i++) {
        float d = g[i];
        if (wd != 0.0f) d += wd * p[i];
        if (mom != 0.0f) {
            /* PyTorch starts the buffer as a copy of the first gradient
             * (no dampening on that step). */
            const float b = first ? d : mom * o->buf1[i] + keep * d;
            o->buf1[i] = b;
            d = o->nesterov ? d + mom * b : b;
        }
        p[i] -= lr * d;
    }
}

static void adam_step(nn_optim *o, float *p, const float *g) {
    const float b1 = o->beta1, b2 = o->beta2, lr = o->lr, wd = o->weight_decay;
    const double t = (double)o->step + 1.0;
    const float bias1 = (float)(1.0 - pow(b1, t));
    const float bias2_sqrt = (float)sqrt(1.0 - pow(b2, t));
    const float step_size = lr / bias1;
    const int decoupled = o->kind == NN_OPTIM_ADAMW;
    for (long i = 0; i < o->n; i++) {
        float grad = g[i];
        if (wd != 0.0f) {
            if (decoupled) p[i] *= 1.0f - lr * wd;
            else grad += wd * p[i];
        }
        const float m = o->buf1[i] * b1 + (1.0f - b1) * grad;
        const float v = o->buf2[i] * b2 + (1.0f - b2) * grad * grad;
        o->buf1[i] = m;
        o->buf2[i] = v;
        const float denom = sqrtf(v) / bias2_sqrt + o->eps;
        p[i] -= step_size * (m / denom);
    }
}

void nn_optim_step(nn_optim *o, float *params, const float *grads) {
    if (o->kind == NN_OPTIM_SGD) sgd_step(o, params, grads);
    else adam_step(o, params, grads);
    o->step++;
}

void nn_optim_free(nn_optim *o) {
    free(o->buf1);
    free(o->buf2);
    memset(o, 0, sizeof *o);
}
