/* nn_train.h - the training loop, independent of where images come from.
 *
 * A trainer pulls normalised batches from an nn_batch_source (in-memory
 * images here; the Cassandra feed implements the same interface), runs them
 * through an nn_exec, steps an nn_optim and reports progress through a
 * callback, so the CLI prints and the library never does.
 */
#ifndef CASSNN_NN_TRAIN_H
#define CASSNN_NN_TRAIN_H

#include <stdint.h>

#include "cassnn/error.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"

typedef struct nn_batch_source {
    void *ctx;
    /* Images per epoch (for progress lines). */
    long (*size)(void *ctx);
    /* Rewinds for epoch (1-based); a shuffling source draws its order here. */
    int (*begin_epoch)(void *ctx, int epoch, cassnn_err *err);
    /* Writes up to max images (normalised float NCHW) and their labels;
     * returns how many, 0 at the end of the epoch, -1 with err set. */
    int (*next)(void *ctx, float *x, int32_t *labels, int max, cassnn_err *err);
} nn_batch_source;

/* In-memory source over uint8 images: x = (pixel/255 - mean) / std, in
 * order or shuffled per epoch with the nn_rng stream (seed, epoch). The
 * arrays are borrowed, not copied. */
typedef struct nn_memory_source {
    const uint8_t *pixels;
    const int16_t *labels;
    long count, image_size;
    int shuffle;
    uint64_t seed;
    float lut[256];          /* pixel value -> normalised float */
    uint32_t *order;
    long pos;
} nn_memory_source;

int nn_memory_source_init(nn_memory_source *m, const uint8_t *pixels, const int16_t *labels,
                          long count, long image_size, float mean, float std, int shuffle,
                          uint64_t seed, cassnn_err *err);
void nn_memory_source_free(nn_memory_source *m);
nn_batch_source nn_memory_source_batches(nn_memory_source *m);

/* The MNIST normalisation of the PyTorch example. */
#define NN_MNIST_MEAN 0.1307f
#define NN_MNIST_STD 0.3081f

/* Learning-rate schedule, evaluated before every optimizer step. */
typedef enum nn_lr_schedule_kind {
    NN_LR_CONSTANT,
    NN_LR_STEP,       /* lr * gamma^(epoch-1 / step_epochs), like StepLR stepped per epoch */
    NN_LR_COSINE,     /* CosineAnnealingLR over all steps down to min_lr, stepped per batch */
    NN_LR_ONE_CYCLE,  /* OneCycleLR (cosine, default pct_start 0.3, div 25, final div 1e4),
                       * stepped per batch; with cycle_momentum (PyTorch's default) the
                       * SGD momentum or Adam beta1 goes from max_momentum down to
                       * base_momentum while the lr rises, and back */
} nn_lr_schedule_kind;

typedef struct nn_lr_schedule {
    nn_lr_schedule_kind kind;
    float base_lr;        /* constant/step/cosine: the initial lr; one-cycle: max_lr */
    int step_epochs;      /* step */
    float gamma;          /* step */
    float min_lr;         /* cosine eta_min */
    long total_steps;     /* cosine and one-cycle: epochs * batches per epoch */
    float pct_start, div_factor, final_div_factor; /* one-cycle */
    int cycle_momentum;                   /* one-cycle */
    float base_momentum, max_momentum;    /* one-cycle with cycle_momentum (0.85, 0.95) */
} nn_lr_schedule;

/* The learning rate for optimizer step `step` (0-based, counted over the
 * whole run) within `epoch` (1-based). */
float nn_lr_at(const nn_lr_schedule *s, long step, int epoch);

/* One-cycle with cycle_momentum: the momentum (SGD) or beta1 (Adam) for
 * step `step`; -1 for any other schedule. */
float nn_momentum_at(const nn_lr_schedule *s, long step);

/* Sets the optimizer's lr (and momentum / beta1 when s cycles it) for its
 * next step, within `epoch`. Fails when s cycles the momentum of an SGD
 * optimizer created without momentum buffers (create it with momentum
 * max_momentum, as OneCycleLR sets it). */
int nn_schedule_apply(const nn_lr_schedule *s, nn_optim *opt, int epoch, cassnn_err *err);

typedef struct nn_train_config {
    int batch_size;
    int log_interval;          /* report every this many batches (0 = never) */
    const nn_lr_schedule *lr;  /* NULL: keep the optimizer's lr */
    long first_batch;          /* batch index the source starts at (a resumed epoch); 0 normally */
} nn_train_config;

/* What a progress callback sees, in PyTorch's terms. */
typedef struct nn_train_progress {
    int epoch;
    long batch_idx;            /* 0-based batch within the epoch */
    int batch_len;             /* images in this batch */
    long dataset_size;         /* images per epoch */
    long batches_per_epoch;
    double loss;               /* mean loss of this batch */
} nn_train_progress;

typedef void (*nn_train_log_fn)(void *user, const nn_train_progress *p);

typedef struct nn_epoch_stats {
    long images, batches, correct;
    double loss_mean;          /* mean over images of the per-batch mean losses */
    double seconds;            /* wall time of the epoch's training steps */
} nn_epoch_stats;

/* One epoch over src. The buffers for one batch are allocated once per
 * epoch; the steps themselves do not allocate. Errors: the source's, or a
 * label outside 0..classes-1 (naming the batch and position). */
int nn_train_epoch(nn_exec *e, nn_net *net, nn_optim *opt, nn_batch_source *src, int epoch,
                   const nn_train_config *cfg, nn_train_log_fn log, void *user,
                   nn_epoch_stats *stats, cassnn_err *err);

typedef struct nn_eval_stats {
    long images, correct;
    double loss_sum;           /* summed NLL; average = loss_sum / images */
    double seconds;
} nn_eval_stats;

/* Evaluates the whole source (one pass, epoch 1 of the source) in batches of
 * batch_size (<= the exec's max_eval_batch). */
int nn_evaluate(nn_exec *e, const nn_net *net, nn_batch_source *src, int batch_size,
                nn_eval_stats *stats, cassnn_err *err);

#endif
