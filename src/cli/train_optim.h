/* train_optim.h - the optimizer and learning-rate schedule flags of
 * `cassnn train`: parsed into train_optim_flags, checked for combinations
 * that mean nothing (a usage error, exit 2), and turned into libcassnn's
 * nn_optim and nn_lr_schedule (nn_optim.h, nn_train.h). */
#ifndef CASSNN_CLI_TRAIN_OPTIM_H
#define CASSNN_CLI_TRAIN_OPTIM_H

#include <getopt.h>
#include <stdio.h>

#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"

/* getopt values of these flags: above every character value. */
enum train_optim_flag {
    TO_LR = 1000, TO_MOMENTUM, TO_OPTIMIZER, TO_WEIGHT_DECAY, TO_NESTEROV, TO_DAMPENING,
    TO_BETAS, TO_EPS, TO_SCHEDULE, TO_STEP_EPOCHS, TO_GAMMA, TO_MIN_LR, TO_MAX_LR,
    TO_PCT_START, TO_NO_CYCLE_MOMENTUM, TO_END
};

/* The getopt_long entries, to be listed in the command's option table. */
#define TRAIN_OPTIM_OPTIONS                                                                     \
    {"lr", required_argument, 0, TO_LR}, {"momentum", required_argument, 0, TO_MOMENTUM},      \
    {"optimizer", required_argument, 0, TO_OPTIMIZER},                                          \
    {"weight-decay", required_argument, 0, TO_WEIGHT_DECAY},                                    \
    {"nesterov", no_argument, 0, TO_NESTEROV},                                                  \
    {"dampening", required_argument, 0, TO_DAMPENING},                                          \
    {"betas", required_argument, 0, TO_BETAS}, {"eps", required_argument, 0, TO_EPS},           \
    {"schedule", required_argument, 0, TO_SCHEDULE},                                            \
    {"step-epochs", required_argument, 0, TO_STEP_EPOCHS},                                      \
    {"gamma", required_argument, 0, TO_GAMMA}, {"min-lr", required_argument, 0, TO_MIN_LR},     \
    {"max-lr", required_argument, 0, TO_MAX_LR},                                                \
    {"pct-start", required_argument, 0, TO_PCT_START},                                          \
    {"no-cycle-momentum", no_argument, 0, TO_NO_CYCLE_MOMENTUM}

typedef struct train_optim_flags {
    nn_optim_kind kind;
    float lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    int nesterov;
    nn_lr_schedule_kind schedule;
    int step_epochs;
    float gamma, min_lr, max_lr, pct_start;
    int cycle_momentum;
    unsigned given;            /* bit (flag - TO_LR) for every flag on the command line */
} train_optim_flags;

/* PyTorch's defaults, and the tutorial's SGD (lr 0.01, momentum 0.5). */
void train_optim_defaults(train_optim_flags *f);

/* Takes flag `val` (named `name`) with its argument: 0 when taken, -1 for a
 * bad value (printed), 1 when val is not one of these flags. */
int train_optim_parse(train_optim_flags *f, int val, const char *name, const char *arg);

/* After every flag: -1 (printed) for a combination that means nothing, or
 * optimizer flags with --resume (the checkpoint holds the optimizer). */
int train_optim_check(const train_optim_flags *f, int resuming);

/* The optimizer of a new run over n parameters. */
int train_optim_create(const train_optim_flags *f, nn_optim *opt, long n, cassnn_err *err);

/* The schedule of a run of epochs x batches_per_epoch steps in *out, or
 * NULL for a constant lr (the optimizer's own). */
const nn_lr_schedule *train_optim_schedule(const train_optim_flags *f, nn_lr_schedule *out,
                                           int epochs, long batches_per_epoch);

/* One line naming the optimizer, its settings and the schedule. */
void train_optim_describe(FILE *out, const nn_optim *opt, const nn_lr_schedule *s);

void train_optim_usage(FILE *out);

/* Whole-string number within [min, max] (an integer for the second) given
 * to --flag; prints the problem. 0 or -1. */
int train_parse_number(const char *flag, const char *text, double min, double max, double *out);
int train_parse_int(const char *flag, const char *text, int min, int *out);

#endif
