/* recipe.c - named training recipes (run.h: run_train_recipe). Each
 * choice of the fast recipe was measured; README "The fast recipe" gives
 * the measurements. */
#include <string.h>

#include "cassnn/run.h"
#include "optim.h"

/* The tutorial's choices: run_train_defaults' fields that are not data. */
static void tutorial(run_train_options *o) {
    run_train_options d;
    run_train_defaults(&d);
    o->model = d.model;
    o->optim = d.optim;
    o->epochs = d.epochs;
    o->batch_size = d.batch_size;
    o->log_interval = d.log_interval;
    o->augment = d.augment;
    o->initial_test = d.initial_test;
}

/* 99% on MNIST in seconds on two cores: a small batchnorm net, SGD with
 * Nesterov momentum under a one-cycle schedule, random shifts of up to 2
 * pixels, two epochs; no test of the untrained net, fewer checkpoints. */
static void fast(run_train_options *o) {
    tutorial(o);
    o->model = "fast";
    run_optim_defaults(&o->optim);
    o->optim.nesterov = 1;
    o->optim.schedule = NN_LR_ONE_CYCLE;
    o->optim.lr = 0.3f;
    o->epochs = 2;
    o->batch_size = 128;
    o->log_interval = 50;
    o->augment = (data_augment){.max_shift = 2};
    o->initial_test = 0;
}

int run_train_recipe(run_train_options *o, const char *name, cassnn_err *err) {
    if (!strcmp(name, "tutorial")) tutorial(o);
    else if (!strcmp(name, "fast")) fast(o);
    else return cassnn_err_set(err, "recipe '%s': expected tutorial or fast", name);
    return 0;
}
