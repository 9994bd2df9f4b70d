/* optim.h - a training run's optimizer and learning-rate schedule from
 * run_optim_options, private to src/run. */
#ifndef CASSNN_RUN_OPTIM_H
#define CASSNN_RUN_OPTIM_H

#include "cassnn/run.h"

void run_optim_defaults(run_optim_options *o);

/* The optimizer of a new run over n parameters. */
int run_optim_create(const run_optim_options *o, nn_optim *opt, long n, cassnn_err *err);

/* The schedule of a run of epochs x batches_per_epoch steps in *out, or
 * NULL for a constant lr (the optimizer's own). */
const nn_lr_schedule *run_optim_schedule(const run_optim_options *o, nn_lr_schedule *out,
                                         int epochs, long batches_per_epoch);

#endif
