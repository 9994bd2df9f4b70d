/* train.c - batch sources, learning-rate schedules and the epoch loop (see nn_train.h). */
#include "cassnn/nn_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/rng.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- in-memory source ------------------------------------------------------ */

int nn_memory_source_init(nn_memory_source *m, const uint8_t *pixels, const int16_t *labels,
                          long count, long image_size, float mean, float std, int shuffle,
                          uint64_t seed, cassnn_err *err) {
    memset(m, 0, sizeof *m);
    if (count < 0 || count > UINT32_MAX || image_size <= 0 || !(std > 0.0f))
        return cassnn_err_set(err, "memory source: invalid count %ld, image size %ld or std %g",
                              count, image_size, std);
    m->pixels = pixels;
    m->labels = labels;
    m->count = count;
    m->image_size = image_size;
    m->shuffle = shuffle;
    m->seed = seed;
    for (int v = 0; v < 256; v++) m->lut[v] = ((float)v / 255.0f - mean) / std;
    m->order = malloc(sizeof *m->order * (size_t)(count ? count : 1));
    if (!m->order) return cassnn_err_set(err, "memory source: out of memory for %ld images", count);
    for (long i = 0; i < count; i++) m->order[i] = (uint32_t)i;
    return 0;
}

void nn_memory_source_free(nn_memory_source *m) {
    free(m->order);
    memset(m, 0, sizeof *m);
}

static long memory_size(void *ctx) { return ((nn_memory_source *)ctx)->count; }

static int memory_begin(void *ctx, int epoch, cassnn_err *err) {
    (void)err;
    nn_memory_source *m = ctx;
    m->pos = 0;
    if (m->shuffle) {
        /* a fresh permutation per epoch, reproducible from (seed, epoch) */
        nn_rng rng;
        nn_rng_seed(&rng, m->seed, 0x5348554646ULL + (uint64_t)epoch);
        for (long i = 0; i < m->count; i++) m->order[i] = (uint32_t)i;
        for (long i = m->count - 1; i > 0; i--) {
            const uint32_t j = nn_rng_below(&rng, (uint32_t)i + 1);
            const uint32_t t = m->order[i];
            m->order[i] = m->order[j];
            m->order[j] = t;
        }
    }
    return 0;
}

static int memory_next(void *ctx, float *x, int32_t *labels, int max, cassnn_err *err) {
    (void)err;
    nn_memory_source *m = ctx;
    int n = 0;
    for (; n < max && m->pos < m->count; n++, m->pos++) {
        const long idx = m->order[m->pos];
        const uint8_t *px = m->pixels + idx * m->image_size;
        float *dst = x + (long)n * m->image_size;
        for (long k = 0; k < m->image_size; k++) dst[k] = m->lut[px[k]];
        labels[n] = m->labels ? m->labels[idx] : -1;
    }
    return n;
}

nn_batch_source nn_memory_source_batches(nn_memory_source *m) {
    nn_batch_source s = {m, memory_size, memory_begin, memory_next};
    return s;
}

/* ---- learning-rate schedules ------------------------------------------------------ */

static float anneal_cos(float start, float end, double pct) {
    return (float)(end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0));
}

/* OneCycleLR's phases: 0 (warm-up, up to step pct_start*total - 1) or 1
 * (the rest); *pct = how far into it step is. */
static int one_cycle_phase(const nn_lr_schedule *s, long step, double *pct) {
    const double warm_end = (double)s->pct_start * (double)s->total_steps - 1.0;
    const double last = (double)s->total_steps - 1.0;
    /* PyTorch divides by zero for a phase of length 0 (a warm-up of one
     * step, a run of one step); the end of the phase stands in for it */
    if ((double)step <= warm_end) {
        *pct = warm_end > 0.0 ? (double)step / warm_end : 1.0;
        return 0;
    }
    *pct = last > warm_end ? ((double)step - warm_end) / (last - warm_end) : 1.0;
    return 1;
}

float nn_lr_at(const nn_lr_schedule *s, long step, int epoch) {
    switch (s->kind) {
    case NN_LR_CONSTANT: return s->base_lr;
    case NN_LR_STEP:
        return s->base_lr * powf(s->gamma, (float)((epoch - 1) / (s->step_epochs > 0 ? s->step_epochs : 1)));
    case NN_LR_COSINE: {
        const double t = step < s->total_steps ? (double)step : (double)s->total_steps;
        return s->min_lr + (s->base_lr - s->min_lr) * (float)((1.0 + cos(M_PI * t / (double)s->total_steps)) / 2.0);
    }
    case NN_LR_ONE_CYCLE: {
        /* torch.optim.lr_scheduler.OneCycleLR, two phases, cosine annealing */
        const float initial = s->base_lr / s->div_factor;
        const float final_lr = initial / s->final_div_factor;
        double pct;
        if (one_cycle_phase(s, step, &pct) == 0) return anneal_cos(initial, s->base_lr, pct);
        return anneal_cos(s->base_lr, final_lr, pct);
    }
    }
    return s->base_lr;
}

float nn_momentum_at(const nn_lr_schedule *s, long step) {
    if (s->kind != NN_LR_ONE_CYCLE || !s->cycle_momentum) return -1.0f;
    double pct;
    if (one_cycle_phase(s, step, &pct) == 0) return anneal_cos(s->max_momentum, s->base_momentum, pct);
    return anneal_cos(s->base_momentum, s->max_momentum, pct);
}

int nn_schedule_apply(const nn_lr_schedule *s, nn_optim *opt, int epoch, cassnn_err *err) {
    opt->lr = nn_lr_at(s, opt->step, epoch);
    const float momentum = nn_momentum_at(s, opt->step);
    if (momentum < 0.0f) return 0;
    if (opt->kind != NN_OPTIM_SGD) {
        opt->beta1 = momentum;
    } else if (!opt->buf1) {
        return cassnn_err_set(err, "one-cycle momentum cycling needs SGD with momentum buffers "
                              "(create it with momentum %g)", s->max_momentum);
    } else {
        opt->momentum = momentum;
    }
    return 0;
}

/* ---- the loops ---------------------------------------------------------------------- */

static int check_labels(const int32_t *labels, int n, int classes, long batch, cassnn_err *err) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return cassnn_err_set(err, "batch %ld image %d: label %d outside 0..%d", batch, i,
                                  labels[i], classes - 1);
    return 0;
}

typedef struct batch_buffers {
    float *x;
    int32_t *labels;
} batch_buffers;

static int buffers_alloc(batch_buffers *b, const nn_net *net, int batch, cassnn_err *err) {
    const long image = (long)net->in_c * net->in_h * net->in_w;
    b->x = malloc(sizeof(float) * (size_t)(image * batch));
    b->labels = malloc(sizeof(int32_t) * (size_t)batch);
    if (!b->x || !b->labels) {
        free(b->x);
        free(b->labels);
        return cassnn_err_set(err, "out of memory for a batch of %d images", batch);
    }
    return 0;
}

static void buffers_free(batch_buffers *b) {
    free(b->x);
    free(b->labels);
}

int nn_train_epoch(nn_exec *e, nn_net *net, nn_optim *opt, nn_batch_source *src, int epoch,
                   const nn_train_config *cfg, nn_train_log_fn log, void *user,
                   nn_epoch_stats *stats, cassnn_err *err) {
    memset(stats, 0, sizeof *stats);
    batch_buffers b;
    if (cfg->batch_size <= 0) return cassnn_err_set(err, "train: batch size must be > 0");
    if (buffers_alloc(&b, net, cfg->batch_size, err)) return -1;
    int rc = -1;
    const long size = src->size(src->ctx);
    nn_train_progress p = {.epoch = epoch, .dataset_size = size,
                           .batches_per_epoch = (size + cfg->batch_size - 1) / cfg->batch_size};
    double loss_weighted = 0.0;
    const double start = now_seconds();
    if (src->begin_epoch(src->ctx, epoch, err)) goto done;
    for (long batch = cfg->first_batch;; batch++) {
        const int n = src->next(src->ctx, b.x, b.labels, cfg->batch_size, err);
        if (n < 0) goto done;
        if (n == 0) break;
        if (check_labels(b.labels, n, net->classes, batch, err)) goto done;
        if (cfg->lr && nn_schedule_apply(cfg->lr, opt, epoch, err)) goto done;
        double loss;
        int correct;
        nn_exec_train_batch(e, b.x, b.labels, n, 1, &loss, &correct);
        nn_optim_step(opt, net->params, net->grads);
        stats->images += n;
        stats->batches++;
        stats->correct += correct;
        loss_weighted += loss * n;
        if (log && cfg->log_interval > 0 && batch % cfg->log_interval == 0) {
            p.batch_idx = batch;
            p.batch_len = n;
            p.loss = loss;
            log(user, &p);
        }
    }
    stats->seconds = now_seconds() - start;
    stats->loss_mean = stats->images ? loss_weighted / (double)stats->images : 0.0;
    rc = 0;
done:
    buffers_free(&b);
    return rc;
}

int nn_evaluate(nn_exec *e, const nn_net *net, nn_batch_source *src, int batch_size,
                nn_eval_stats *stats, cassnn_err *err) {
    memset(stats, 0, sizeof *stats);
    batch_buffers b;
    if (batch_size <= 0) return cassnn_err_set(err, "evaluate: batch size must be > 0");
    if (buffers_alloc(&b, net, batch_size, err)) return -1;
    int rc = -1;
    const double start = now_seconds();
    if (src->begin_epoch(src->ctx, 1, err)) goto done;
    for (long batch = 0;; batch++) {
        const int n = src->next(src->ctx, b.x, b.labels, batch_size, err);
        if (n < 0) goto done;
        if (n == 0) break;
        if (check_labels(b.labels, n, net->classes, batch, err)) goto done;
        nn_exec_eval_batch(e, b.x, b.labels, n, NULL, &stats->loss_sum, &stats->correct);
        stats->images += n;
    }
    stats->seconds = now_seconds() - start;
    rc = 0;
done:
    buffers_free(&b);
    return rc;
}
