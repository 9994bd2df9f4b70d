/* optim.c - PyTorch's optimizers and schedulers with their defaults, from
 * run_optim_options (see optim.h). */
#include "optim.h"

#include <string.h>

/* PyTorch's OneCycleLR defaults: momentum between these, beta1 likewise. */
#define ONE_CYCLE_BASE_MOMENTUM 0.85f
#define ONE_CYCLE_MAX_MOMENTUM 0.95f

void run_optim_defaults(run_optim_options *o) {
    memset(o, 0, sizeof *o);
    o->kind = NN_OPTIM_SGD;
    o->lr = 0.01f;
    o->momentum = 0.5f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = -1.0f;
    o->schedule = NN_LR_CONSTANT;
    o->step_epochs = 1;
    o->gamma = 0.1f;
    o->pct_start = 0.3f;
    o->cycle_momentum = 1;
}

/* One-cycle's peak lr: max_lr, else lr. */
static float peak_lr(const run_optim_options *o) { return o->max_lr > 0.0f ? o->max_lr : o->lr; }

int run_optim_create(const run_optim_options *o, nn_optim *opt, long n, cassnn_err *err) {
    const int cycling = o->schedule == NN_LR_ONE_CYCLE && o->cycle_momentum;
    const float lr = o->schedule == NN_LR_ONE_CYCLE ? peak_lr(o) : o->lr;
    /* torch.optim.AdamW's default decay is 1e-2; SGD's and Adam's 0 */
    const float decay = o->weight_decay >= 0.0f ? o->weight_decay
                        : o->kind == NN_OPTIM_ADAMW ? 1e-2f : 0.0f;
    if (o->kind == NN_OPTIM_SGD)
        /* OneCycleLR sets the momentum to max_momentum when it starts */
        return nn_optim_sgd(opt, n, lr, cycling ? ONE_CYCLE_MAX_MOMENTUM : o->momentum,
                            o->dampening, decay, o->nesterov, err);
    return nn_optim_adam(opt, n, lr, cycling ? ONE_CYCLE_MAX_MOMENTUM : o->beta1, o->beta2,
                         o->eps, decay, o->kind == NN_OPTIM_ADAMW, err);
}

const nn_lr_schedule *run_optim_schedule(const run_optim_options *o, nn_lr_schedule *out,
                                         int epochs, long batches_per_epoch) {
    if (o->schedule == NN_LR_CONSTANT) return NULL;
    *out = (nn_lr_schedule){
        .kind = o->schedule, .base_lr = o->lr, .step_epochs = o->step_epochs, .gamma = o->gamma,
        .min_lr = o->min_lr, .total_steps = (long)epochs * batches_per_epoch,
        .pct_start = o->pct_start, .div_factor = 25.0f, .final_div_factor = 1e4f,
        .cycle_momentum = o->cycle_momentum, .base_momentum = ONE_CYCLE_BASE_MOMENTUM,
        .max_momentum = ONE_CYCLE_MAX_MOMENTUM};
    if (o->schedule == NN_LR_ONE_CYCLE) out->base_lr = peak_lr(o);
    if (out->total_steps < 1) out->total_steps = 1;
    return out;
}
