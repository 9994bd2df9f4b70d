/* nn_optim.h - optimizers with PyTorch's exact update rules (torch 1.13,
 * single-tensor code path), applied to a net's flat parameter array.
 *
 * SGD:   d = g + wd*p;  buf = first step ? d : momentum*buf + (1-dampening)*d;
 *        d = nesterov ? d + momentum*buf : buf;  p -= lr*d
 * Adam:  g += wd*p (Adam) or p *= 1 - lr*wd (AdamW);  m = b1*m + (1-b1)*g;
 *        v = b2*v + (1-b2)*g*g;  p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * (Learning-rate schedules set o->lr before each step; see nn_train.h.)
 *
 * Ownership and threads: an optimizer owns its buffers (nn_optim_free);
 * plain data without locks, stepped by one thread at a time.
 */
#ifndef CASSNN_NN_OPTIM_H
#define CASSNN_NN_OPTIM_H

#include "cassnn/error.h"

typedef enum nn_optim_kind { NN_OPTIM_SGD, NN_OPTIM_ADAM, NN_OPTIM_ADAMW } nn_optim_kind;

typedef struct nn_optim {
    nn_optim_kind kind;
    float lr, weight_decay;
    float momentum, dampening;    /* SGD */
    int nesterov;                 /* SGD */
    float beta1, beta2, eps;      /* Adam/AdamW */
    long step;                    /* steps taken */
    long n;                       /* parameters */
    float *buf1;                  /* SGD momentum_buffer / Adam exp_avg (NULL for plain SGD) */
    float *buf2;                  /* Adam exp_avg_sq */
} nn_optim;

/* SGD over n parameters; errors on hyperparameters PyTorch rejects
 * (negative lr/momentum/weight decay, nesterov without momentum or with
 * dampening). */
int nn_optim_sgd(nn_optim *o, long n, float lr, float momentum, float dampening,
                 float weight_decay, int nesterov, cassnn_err *err);

/* Adam (decoupled = 0) or AdamW (decoupled = 1). */
int nn_optim_adam(nn_optim *o, long n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int decoupled, cassnn_err *err);

/* One update of params from grads. */
void nn_optim_step(nn_optim *o, float *params, const float *grads);

void nn_optim_free(nn_optim *o);

/* Name of the kind: "sgd", "adam", "adamw". */
const char *nn_optim_kind_name(nn_optim_kind kind);

/* Buffer `which` (0 or 1) of o: its PyTorch state name ("momentum_buffer";
 * "exp_avg", "exp_avg_sq") and its n floats, or NULL when o keeps no such
 * buffer (plain SGD, SGD's second). */
float *nn_optim_buffer(const nn_optim *o, int which, const char **name);

#endif
