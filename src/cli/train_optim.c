/* train_optim.c - optimizer and schedule flags of `cassnn train` (see train_optim.h). */
#include "train_optim.h"

#include <stdlib.h>
#include <string.h>

/* The flags, in the order of their bits in train_optim_flags.given. */
enum train_optim_flag {
    TO_LR, TO_MOMENTUM, TO_OPTIMIZER, TO_WEIGHT_DECAY, TO_NESTEROV, TO_DAMPENING, TO_BETAS,
    TO_EPS, TO_SCHEDULE, TO_STEP_EPOCHS, TO_GAMMA, TO_MIN_LR, TO_MAX_LR, TO_PCT_START,
    TO_NO_CYCLE_MOMENTUM, TO_END
};

static const char *const flag_names[TO_END] = {
    "lr", "momentum", "optimizer", "weight-decay", "nesterov", "dampening", "betas", "eps",
    "schedule", "step-epochs", "gamma", "min-lr", "max-lr", "pct-start", "no-cycle-momentum",
};

static int parse_number(const char *flag, const char *text, double min, double max, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "cassnn train: --%s '%s': expected a number in [%g, %g]\n", flag, text,
                min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *flag, const char *text, int min, int *out) {
    double v;
    if (parse_number(flag, text, min, 1e9, &v)) return -1;
    if (v != (double)(int)v) {
        fprintf(stderr, "cassnn train: --%s '%s': expected an integer\n", flag, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static const struct {
    const char *name;
    nn_lr_schedule_kind kind;
} schedules[] = {
    {"constant", NN_LR_CONSTANT}, {"step", NN_LR_STEP}, {"cosine", NN_LR_COSINE},
    {"onecycle", NN_LR_ONE_CYCLE},
};

static const char *schedule_name(nn_lr_schedule_kind kind) {
    for (size_t i = 0; i < sizeof schedules / sizeof schedules[0]; i++)
        if (schedules[i].kind == kind) return schedules[i].name;
    return "?";
}

/* "B1,B2", each in [0, 1). */
static int parse_betas(const char *text, float *b1, float *b2) {
    char *end;
    const double x = strtod(text, &end);
    if (end == text || *end != ',') return -1;
    const char *second = end + 1;
    const double y = strtod(second, &end);
    if (end == second || *end || !(x >= 0.0 && x < 1.0) || !(y >= 0.0 && y < 1.0)) return -1;
    *b1 = (float)x;
    *b2 = (float)y;
    return 0;
}

int train_optim_flag(void *user, const char *name, const char *arg) {
    train_optim_flags *f = user;
    run_optim_options *o = f->optim;
    int flag = 0;
    while (flag < TO_END && strcmp(name, flag_names[flag])) flag++;
    if (flag == TO_END) return -1;
    f->given |= 1u << flag;
    double v;
    switch ((enum train_optim_flag)flag) {
    case TO_OPTIMIZER:
        if (!strcmp(arg, "sgd")) o->kind = NN_OPTIM_SGD;
        else if (!strcmp(arg, "adam")) o->kind = NN_OPTIM_ADAM;
        else if (!strcmp(arg, "adamw")) o->kind = NN_OPTIM_ADAMW;
        else {
            fprintf(stderr, "cassnn train: --optimizer '%s': expected sgd, adam or adamw\n", arg);
            return -1;
        }
        return 0;
    case TO_SCHEDULE:
        for (size_t i = 0; i < sizeof schedules / sizeof schedules[0]; i++)
            if (!strcmp(arg, schedules[i].name)) {
                o->schedule = schedules[i].kind;
                return 0;
            }
        fprintf(stderr, "cassnn train: --schedule '%s': expected constant, step, cosine or "
                        "onecycle\n", arg);
        return -1;
    case TO_BETAS:
        if (parse_betas(arg, &o->beta1, &o->beta2)) {
            fprintf(stderr, "cassnn train: --betas '%s': expected B1,B2 with each in [0, 1)\n",
                    arg);
            return -1;
        }
        return 0;
    case TO_NESTEROV: o->nesterov = 1; return 0;
    case TO_NO_CYCLE_MOMENTUM: o->cycle_momentum = 0; return 0;
    case TO_STEP_EPOCHS: return parse_int(name, arg, 1, &o->step_epochs);
    default: break;
    }
    /* the plain numbers */
    if (parse_number(name, arg, 0.0, 1e6, &v)) return -1;
    switch ((enum train_optim_flag)flag) {
    case TO_LR: o->lr = (float)v; break;
    case TO_MOMENTUM: o->momentum = (float)v; break;
    case TO_WEIGHT_DECAY: o->weight_decay = (float)v; break;
    case TO_DAMPENING: o->dampening = (float)v; break;
    case TO_EPS: o->eps = (float)v; break;
    case TO_GAMMA: o->gamma = (float)v; break;
    case TO_MIN_LR: o->min_lr = (float)v; break;
    case TO_MAX_LR: o->max_lr = (float)v; break;
    case TO_PCT_START:
        if (!(v > 0.0 && v < 1.0)) {
            fprintf(stderr, "cassnn train: --pct-start '%s': expected a fraction in (0, 1)\n", arg);
            return -1;
        }
        o->pct_start = (float)v;
        break;
    default: return -1;
    }
    return 0;
}

static int given(const train_optim_flags *f, enum train_optim_flag flag) {
    return (f->given >> flag) & 1u;
}

/* The name of the first flag of the list (ended by TO_END) that was given,
 * or NULL. */
static const char *first_given(const train_optim_flags *f, const int *flags) {
    for (; *flags != TO_END; flags++)
        if (given(f, (enum train_optim_flag)*flags)) return flag_names[*flags];
    return NULL;
}

static int usage_error(const char *what) {
    fprintf(stderr, "cassnn train: %s\n", what);
    return -1;
}

int train_optim_check(const train_optim_flags *f, int resuming) {
    const run_optim_options *o = f->optim;
    char msg[256];
    const char *flag;
    static const int optimizer_flags[] = {TO_OPTIMIZER, TO_MOMENTUM, TO_WEIGHT_DECAY,
                                          TO_NESTEROV, TO_DAMPENING, TO_BETAS, TO_EPS, TO_END};
    if (resuming && (flag = first_given(f, optimizer_flags))) {
        snprintf(msg, sizeof msg, "--%s with --resume: the checkpoint holds the optimizer and its "
                 "settings", flag);
        return usage_error(msg);
    }
    const int sgd = o->kind == NN_OPTIM_SGD;
    if (sgd && (flag = first_given(f, (const int[]){TO_BETAS, TO_EPS, TO_END}))) {
        snprintf(msg, sizeof msg, "--%s applies to --optimizer adam and adamw, not sgd", flag);
        return usage_error(msg);
    }
    if (!sgd && (flag = first_given(f, (const int[]){TO_MOMENTUM, TO_NESTEROV, TO_DAMPENING,
                                                     TO_END}))) {
        snprintf(msg, sizeof msg, "--%s applies to --optimizer sgd, not %s", flag,
                 nn_optim_kind_name(o->kind));
        return usage_error(msg);
    }
    const int cycling = o->schedule == NN_LR_ONE_CYCLE && o->cycle_momentum;
    if (sgd && o->nesterov && !cycling && (o->momentum <= 0.0f || o->dampening != 0.0f))
        return usage_error("--nesterov needs a momentum > 0 and no --dampening");
    if (sgd && o->nesterov && cycling && o->dampening != 0.0f)
        return usage_error("--nesterov needs no --dampening");
    if (cycling && given(f, TO_MOMENTUM))
        return usage_error("--momentum with --schedule onecycle: one-cycle cycles the momentum "
                           "from 0.95 to 0.85 and back (add --no-cycle-momentum to keep yours)");
    if (o->schedule != NN_LR_STEP &&
        (flag = first_given(f, (const int[]){TO_STEP_EPOCHS, TO_GAMMA, TO_END}))) {
        snprintf(msg, sizeof msg, "--%s applies to --schedule step", flag);
        return usage_error(msg);
    }
    if (o->schedule != NN_LR_COSINE && given(f, TO_MIN_LR))
        return usage_error("--min-lr applies to --schedule cosine");
    if (o->schedule == NN_LR_COSINE && o->min_lr > o->lr)
        return usage_error("--min-lr is above --lr: cosine annealing goes down from --lr");
    if (o->schedule != NN_LR_ONE_CYCLE &&
        (flag = first_given(f, (const int[]){TO_MAX_LR, TO_PCT_START, TO_NO_CYCLE_MOMENTUM,
                                             TO_END}))) {
        snprintf(msg, sizeof msg, "--%s applies to --schedule onecycle", flag);
        return usage_error(msg);
    }
    if (o->schedule == NN_LR_ONE_CYCLE && given(f, TO_LR) && given(f, TO_MAX_LR))
        return usage_error("--lr and --max-lr with --schedule onecycle: give one (the peak lr)");
    return 0;
}

void train_optim_describe(FILE *out, const nn_optim *o, const nn_lr_schedule *s) {
    if (o->kind == NN_OPTIM_SGD)
        fprintf(out, "optimizer: sgd lr %g momentum %g dampening %g weight decay %g%s",
                o->lr, o->momentum, o->dampening, o->weight_decay,
                o->nesterov ? " nesterov" : "");
    else
        fprintf(out, "optimizer: %s lr %g betas %g,%g eps %g weight decay %g",
                nn_optim_kind_name(o->kind), o->lr, o->beta1, o->beta2, o->eps,
                o->weight_decay);
    if (!s) fprintf(out, "; schedule: constant\n");
    else if (s->kind == NN_LR_STEP)
        fprintf(out, "; schedule: step x%g every %d epochs\n", s->gamma, s->step_epochs);
    else if (s->kind == NN_LR_COSINE)
        fprintf(out, "; schedule: cosine to %g over %ld steps\n", s->min_lr, s->total_steps);
    else
        fprintf(out, "; schedule: %s peak %g at %g of %ld steps%s\n", schedule_name(s->kind),
                s->base_lr, s->pct_start, s->total_steps,
                s->cycle_momentum ? ", momentum 0.95 -> 0.85 -> 0.95" : "");
}

void train_optim_usage(FILE *out) {
    fprintf(out,
            "  --optimizer sgd|adam|adamw  (default sgd)\n"
            "  --lr X                  learning rate (default 0.01); with onecycle the peak\n"
            "  --momentum X            sgd momentum (default 0.5)\n"
            "  --dampening X --nesterov  sgd (defaults 0, off)\n"
            "  --betas B1,B2 --eps X   adam/adamw (defaults 0.9,0.999 and 1e-8)\n"
            "  --weight-decay X        L2 penalty (sgd, adam; default 0) or decoupled decay (adamw;\n"
            "                          default 0.01)\n"
            "  --schedule constant|step|cosine|onecycle  learning-rate schedule (default constant)\n"
            "  --step-epochs N --gamma X   step: lr x gamma every N epochs (defaults 1, 0.1)\n"
            "  --min-lr X              cosine: down to X over the run, per batch (default 0)\n"
            "  --max-lr X --pct-start X    onecycle: peak lr (default --lr), warm-up fraction\n"
            "                          (default 0.3); like PyTorch's OneCycleLR it cycles the\n"
            "                          momentum (adam: beta1) 0.95 -> 0.85 -> 0.95 unless\n"
            "                          --no-cycle-momentum\n"
            "                          With --resume the optimizer comes from the checkpoint; give\n"
            "                          the original run's --schedule flags and --epochs again.\n");
}
