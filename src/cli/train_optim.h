/* train_optim.h - the optimizer and learning-rate schedule flags of
 * `cassnn train`: parsed into the run's run_optim_options (run.h), checked
 * for combinations that mean nothing (a usage error, exit 2), and the line
 * that describes what the run uses. */
#ifndef CASSNN_CLI_TRAIN_OPTIM_H
#define CASSNN_CLI_TRAIN_OPTIM_H

#include <stdio.h>

#include "args.h"
#include "cassnn/run.h"

typedef struct train_optim_flags {
    run_optim_options *optim;  /* where the values go (its defaults set by the caller) */
    unsigned given;            /* bit i for every flag of the table below given */
} train_optim_flags;

/* Takes flag `name` with its value (NULL for a switch) into f: 0, or -1 for
 * a bad value (printed). A cli_flag call. */
int train_optim_flag(void *f, const char *name, const char *value);

/* The flags' entries, to be listed in the command's flag table. */
#define TRAIN_OPTIM_FLAG(name, f) {name, CLI_CALL, f, 0, 0, NULL, train_optim_flag}
#define TRAIN_OPTIM_SWITCH(name, f) {name, CLI_CALL_SWITCH, f, 0, 0, NULL, train_optim_flag}
#define TRAIN_OPTIM_FLAGS(f)                                                                       \
    TRAIN_OPTIM_FLAG("lr", f), TRAIN_OPTIM_FLAG("momentum", f), TRAIN_OPTIM_FLAG("optimizer", f),  \
    TRAIN_OPTIM_FLAG("weight-decay", f), TRAIN_OPTIM_SWITCH("nesterov", f),                        \
    TRAIN_OPTIM_FLAG("dampening", f), TRAIN_OPTIM_FLAG("betas", f), TRAIN_OPTIM_FLAG("eps", f),    \
    TRAIN_OPTIM_FLAG("schedule", f), TRAIN_OPTIM_FLAG("step-epochs", f),                           \
    TRAIN_OPTIM_FLAG("gamma", f), TRAIN_OPTIM_FLAG("min-lr", f), TRAIN_OPTIM_FLAG("max-lr", f),    \
    TRAIN_OPTIM_FLAG("pct-start", f), TRAIN_OPTIM_SWITCH("no-cycle-momentum", f)

/* After every flag: -1 (printed) for a combination that means nothing, or
 * optimizer flags with --resume (the checkpoint holds the optimizer). */
int train_optim_check(const train_optim_flags *f, int resuming);

/* One line naming the optimizer, its settings and the schedule. */
void train_optim_describe(FILE *out, const nn_optim *opt, const nn_lr_schedule *s);

void train_optim_usage(FILE *out);

#endif
