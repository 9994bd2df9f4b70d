/* exec.c - runs batches through a net: one chunk of the batch per thread,
 * preallocated workspaces, deterministic gradient reduction (see nn.h). */
#include "cassnn/nn.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/nn_layers.h"
#include "cassnn/nn_rng.h"

enum run_mode { RUN_EVAL, RUN_TRAIN, RUN_TRAIN_NO_DROPOUT };

/* One thread's workspaces, sized for its largest chunk. */
typedef struct worker {
    float **out;          /* [layer] output activations; NULL where the layer aliases its input */
    float **gin;          /* [layer] gradient w.r.t. the layer's input */
    float **aux;          /* [layer] dropout masks; batchnorm's mean and 1/std per channel */
    double **bn_sums;     /* [layer] batchnorm: this chunk's per-channel sums (forward,
                           * backward) and the whole batch's, 8 x channels (BN_*) */
    int32_t **argmax;     /* [layer] max-pool argmax */
    float *scratch;       /* conv kernels' scratch, shared by every conv layer */
    float *gout;          /* gradient w.r.t. the log-probabilities */
    float *grads;         /* this chunk's parameter gradients */
    const float **x;      /* [layer+1] activations of the current call */
    const float **g;      /* [layer+1] gradients of the current call */
    double loss;
    long correct;
} worker;

struct nn_exec {
    nn_net *net;
    int threads, max_train_batch, max_eval_batch;
    int started;               /* threads running thread_main (1..started-1) */
    int first_param_layer;     /* backward stops here: nothing below needs a gradient */
    int has_batchnorm;         /* training needs the threads to meet (barrier) */
    uint64_t seed, step;
    worker *workers;

    /* the current call, read by every thread */
    enum run_mode mode;
    const float *x;
    const int32_t *labels;
    float *logp;
    int n;

    pthread_t *tids;
    pthread_barrier_t barrier; /* batchnorm's meeting point, threads > 1 */
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    unsigned generation;
    int pending, quit;
};

static nn_conv_shape shape_of(const nn_layer *l) {
    nn_conv_shape s = {l->in_c, l->in_h, l->in_w, l->out_c, l->out_h, l->out_w,
                       l->k, l->stride, l->pad};
    return s;
}

static long in_size(const nn_layer *l) { return (long)l->in_c * l->in_h * l->in_w; }

/* Offsets into a worker's bn_sums[layer], in units of 2 x channels doubles:
 * its chunk's forward sums, the batch's, its chunk's backward sums, the
 * batch's. */
enum { BN_FWD_CHUNK, BN_FWD_BATCH, BN_BWD_CHUNK, BN_BWD_BATCH, BN_SLOTS };

/* Waits until every thread has written its chunk's sums of batchnorm layer
 * li (slot `chunk`), then adds them up in thread order into slot `chunk`+1
 * of worker w: each thread gets the same bits, whatever the timing. */
static const double *batch_sums(nn_exec *e, worker *w, int li, int chunk) {
    const long c2 = 2L * e->net->layers[li].in_c;
    if (e->threads > 1) pthread_barrier_wait(&e->barrier);
    double *sums = w->bn_sums[li] + (chunk + 1) * c2;
    memcpy(sums, e->workers[0].bn_sums[li] + chunk * c2, sizeof(double) * (size_t)c2);
    for (int t = 1; t < e->threads; t++) {
        const double *part = e->workers[t].bn_sums[li] + chunk * c2;
        for (long j = 0; j < c2; j++) sums[j] += part[j];
    }
    return sums;
}

/* Forward of batchnorm layer li over this chunk; in training the batch's
 * statistics, and thread 0 updates the running ones. */
static void batchnorm_forward(nn_exec *e, worker *w, int t, int li, const float *in, float *out,
                              int cnt) {
    nn_net *net = e->net;
    nn_layer *l = &net->layers[li];
    const long plane = (long)l->in_h * l->in_w;
    float *running = net->buffers + l->buffer_off;
    if (e->mode == RUN_EVAL) {
        nn_bn_running_stats(w->aux[li], running, l->in_c, NN_BN_EPS);
    } else {
        double *chunk = w->bn_sums[li] + BN_FWD_CHUNK * 2L * l->in_c;
        memset(chunk, 0, sizeof(double) * 2 * (size_t)l->in_c);
        nn_bn_sums(chunk, in, cnt, l->in_c, plane);
        const double *sums = batch_sums(e, w, li, BN_FWD_CHUNK);
        nn_bn_batch_stats(w->aux[li], t == 0 ? running : NULL, sums, (long)e->n * plane, l->in_c,
                          NN_BN_EPS, NN_BN_MOMENTUM);
        if (t == 0) l->batches_tracked++;
    }
    nn_bn_forward(out, in, w->aux[li], net->params + l->weight_off, net->params + l->bias_off,
                  cnt, l->in_c, plane);
}

static void batchnorm_backward(nn_exec *e, worker *w, int t, int li, float *din,
                               const float *dout, int cnt) {
    const nn_net *net = e->net;
    const nn_layer *l = &net->layers[li];
    const long plane = (long)l->in_h * l->in_w;
    double *chunk = w->bn_sums[li] + BN_BWD_CHUNK * 2L * l->in_c;
    memset(chunk, 0, sizeof(double) * 2 * (size_t)l->in_c);
    nn_bn_grad_sums(chunk, dout, w->x[li], w->aux[li], cnt, l->in_c, plane);
    const double *sums = batch_sums(e, w, li, BN_BWD_CHUNK);
    /* the parameter gradients are the batch's: thread 0 adds them once */
    nn_bn_backward(din, t == 0 ? w->grads + l->weight_off : NULL,
                   t == 0 ? w->grads + l->bias_off : NULL, sums, dout, w->x[li], w->aux[li],
                   net->params + l->weight_off, (long)e->n * plane, cnt, l->in_c, plane);
}

/* Forward of images [i0, i0+cnt) through every layer. An empty chunk
 * (cnt 0) only takes part in batchnorm's statistics. */
static void forward(nn_exec *e, worker *w, int t, int i0, int cnt) {
    const nn_net *net = e->net;
    const int dropout = e->mode == RUN_TRAIN;
    for (int li = 0; li < net->n_layers; li++) {
        const nn_layer *l = &net->layers[li];
        if (cnt == 0 && l->kind != NN_BATCHNORM2D) continue;
        const float *in = w->x[li];
        float *out = w->out[li];
        const long count = (long)cnt * nn_layer_out_size(l);
        const nn_conv_shape s = shape_of(l);
        switch (l->kind) {
        case NN_CONV2D:
            nn_conv2d_forward(out, w->scratch, in, net->params + l->weight_off,
                              net->params + l->bias_off, cnt, &s);
            break;
        case NN_LINEAR:
            nn_linear_forward(out, in, net->params + l->weight_off, net->params + l->bias_off,
                              cnt, l->in_c, l->out_c);
            break;
        case NN_MAXPOOL2D: nn_maxpool2d_forward(out, w->argmax[li], in, cnt, &s); break;
        case NN_AVGPOOL2D: nn_avgpool2d_forward(out, in, cnt, &s); break;
        case NN_RELU: nn_relu_forward(out, in, count); break;
        case NN_DROPOUT:
        case NN_DROPOUT2D: {
            if (!dropout || l->p == 0.0f) {
                w->x[li + 1] = in;
                continue;
            }
            const long inner = l->kind == NN_DROPOUT2D ? (long)l->in_h * l->in_w : 1;
            const long masks_per_image = nn_layer_out_size(l) / inner;
            for (int i = 0; i < cnt; i++) {
                /* Keyed by the image's index in the whole batch, so the masks
                 * do not depend on how the batch was split across threads. */
                nn_rng rng;
                nn_rng_seed(&rng, e->seed ^ (e->step * 0x9e3779b97f4a7c15ULL),
                            ((uint64_t)(i0 + i) << 16) | (uint64_t)li);
                nn_dropout_mask(w->aux[li] + i * masks_per_image, masks_per_image, l->p, &rng);
            }
            nn_dropout_forward(out, in, w->aux[li], count, inner);
            break;
        }
        case NN_FLATTEN: w->x[li + 1] = in; continue;
        case NN_LOGSOFTMAX: nn_logsoftmax_forward(out, in, cnt, l->in_c); break;
        case NN_BATCHNORM2D: batchnorm_forward(e, w, t, li, in, out, cnt); break;
        }
        w->x[li + 1] = out;
    }
}

static void backward(nn_exec *e, worker *w, int t, int cnt) {
    const nn_net *net = e->net;
    const int dropout = e->mode == RUN_TRAIN;
    w->g[net->n_layers] = w->gout;
    for (int li = net->n_layers - 1; li >= e->first_param_layer; li--) {
        const nn_layer *l = &net->layers[li];
        if (cnt == 0 && l->kind != NN_BATCHNORM2D) continue;
        const float *dout = w->g[li + 1];
        float *din = li > e->first_param_layer ? w->gin[li] : NULL;
        const long count = (long)cnt * nn_layer_out_size(l);
        const nn_conv_shape s = shape_of(l);
        switch (l->kind) {
        case NN_CONV2D:
            nn_conv2d_backward(din, w->grads + l->weight_off, w->grads + l->bias_off, w->scratch,
                               dout, w->x[li], net->params + l->weight_off, cnt, &s);
            break;
        case NN_LINEAR:
            nn_linear_backward(din, w->grads + l->weight_off, w->grads + l->bias_off, dout,
                               w->x[li], net->params + l->weight_off, cnt, l->in_c, l->out_c);
            break;
        case NN_MAXPOOL2D: nn_maxpool2d_backward(din, dout, w->argmax[li], cnt, &s); break;
        case NN_AVGPOOL2D: nn_avgpool2d_backward(din, dout, cnt, &s); break;
        case NN_RELU: nn_relu_backward(din, dout, w->x[li + 1], count); break;
        case NN_DROPOUT:
        case NN_DROPOUT2D:
            if (!dropout || l->p == 0.0f) {
                w->g[li] = dout;
                continue;
            }
            nn_dropout_backward(din, dout, w->aux[li], count,
                                l->kind == NN_DROPOUT2D ? (long)l->in_h * l->in_w : 1);
            break;
        case NN_FLATTEN: w->g[li] = dout; continue;
        case NN_LOGSOFTMAX: nn_logsoftmax_backward(din, dout, w->x[li + 1], cnt, l->in_c); break;
        case NN_BATCHNORM2D: batchnorm_backward(e, w, t, li, din, dout, cnt); break;
        }
        w->g[li] = din;
    }
}

static void run_chunk(nn_exec *e, int t) {
    worker *w = &e->workers[t];
    const nn_net *net = e->net;
    const int i0 = (int)((long)e->n * t / e->threads);
    const int cnt = (int)((long)e->n * (t + 1) / e->threads) - i0;
    const int training = e->mode != RUN_EVAL;
    w->loss = 0.0;
    w->correct = 0;
    if (training) memset(w->grads, 0, sizeof(float) * (size_t)net->n_params);
    if (cnt == 0) {
        /* the other threads wait for this one's (empty) sums at every
         * batchnorm layer */
        if (training && e->has_batchnorm && e->n > 0) {
            forward(e, w, t, i0, 0);
            backward(e, w, t, 0);
        }
        return;
    }
    const long image = (long)net->in_c * net->in_h * net->in_w;
    w->x[0] = e->x + i0 * image;
    forward(e, w, t, i0, cnt);
    const float *logp = w->x[net->n_layers];
    const int classes = net->classes;
    if (e->logp) memcpy(e->logp + (long)i0 * classes, logp, sizeof(float) * (size_t)cnt * classes);
    if (!e->labels) return;
    const int32_t *labels = e->labels + i0;
    for (int i = 0; i < cnt; i++) {
        const float *row = logp + (long)i * classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (row[c] > row[best]) best = c;
        w->correct += best == labels[i];
    }
    w->loss = nn_nll_loss(training ? w->gout : NULL, logp, labels, cnt, classes,
                          1.0f / (float)e->n);
    if (training) backward(e, w, t, cnt);
}

typedef struct thread_arg {
    nn_exec *e;
    int t;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    nn_exec *e = a->e;
    const int t = a->t;
    free(a);
    unsigned seen = 0;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (e->generation == seen && !e->quit) pthread_cond_wait(&e->start_cv, &e->mu);
        if (e->quit) {
            pthread_mutex_unlock(&e->mu);
            return NULL;
        }
        seen = e->generation;
        pthread_mutex_unlock(&e->mu);
        run_chunk(e, t);
        pthread_mutex_lock(&e->mu);
        if (--e->pending == 0) pthread_cond_signal(&e->done_cv);
        pthread_mutex_unlock(&e->mu);
    }
}

/* Runs run_chunk on every thread (the caller is thread 0) and waits. */
static void run_all(nn_exec *e) {
    if (e->threads > 1) {
        pthread_mutex_lock(&e->mu);
        e->pending = e->threads - 1;
        e->generation++;
        pthread_cond_broadcast(&e->start_cv);
        pthread_mutex_unlock(&e->mu);
    }
    run_chunk(e, 0);
    if (e->threads > 1) {
        pthread_mutex_lock(&e->mu);
        while (e->pending > 0) pthread_cond_wait(&e->done_cv, &e->mu);
        pthread_mutex_unlock(&e->mu);
    }
}

static void *alloc_floats(long count, int *failed) {
    if (count <= 0) return NULL;
    /* 64-byte alignment for the vector loads of the kernels and BLAS. */
    size_t bytes = ((size_t)count * sizeof(float) + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (!p) *failed = 1;
    else memset(p, 0, bytes);
    return p;
}

static void free_worker(worker *w, int n_layers) {
    for (int i = 0; i < n_layers; i++) {
        if (w->out) free(w->out[i]);
        if (w->gin) free(w->gin[i]);
        if (w->aux) free(w->aux[i]);
        if (w->argmax) free(w->argmax[i]);
        if (w->bn_sums) free(w->bn_sums[i]);
    }
    free(w->out);
    free(w->gin);
    free(w->aux);
    free(w->argmax);
    free(w->bn_sums);
    free(w->scratch);
    free(w->gout);
    free(w->grads);
    free(w->x);
    free(w->g);
}

static int alloc_worker(nn_exec *e, worker *w) {
    const nn_net *net = e->net;
    const int L = net->n_layers;
    const int train_chunk = (e->max_train_batch + e->threads - 1) / e->threads;
    const int eval_chunk = (e->max_eval_batch + e->threads - 1) / e->threads;
    const int chunk = train_chunk > eval_chunk ? train_chunk : eval_chunk;
    int failed = 0;
    w->out = calloc((size_t)L, sizeof *w->out);
    w->gin = calloc((size_t)L, sizeof *w->gin);
    w->aux = calloc((size_t)L, sizeof *w->aux);
    w->argmax = calloc((size_t)L, sizeof *w->argmax);
    w->bn_sums = calloc((size_t)L, sizeof *w->bn_sums);
    w->x = calloc((size_t)L + 1, sizeof *w->x);
    w->g = calloc((size_t)L + 1, sizeof *w->g);
    if (!w->out || !w->gin || !w->aux || !w->argmax || !w->bn_sums || !w->x || !w->g) return -1;
    long scratch = 0;
    for (int i = 0; i < L; i++) {
        const nn_layer *l = &net->layers[i];
        const long out = nn_layer_out_size(l);
        if (l->kind != NN_FLATTEN) w->out[i] = alloc_floats((long)chunk * out, &failed);
        if (i > e->first_param_layer && l->kind != NN_FLATTEN)
            w->gin[i] = alloc_floats((long)train_chunk * in_size(l), &failed);
        if (l->kind == NN_CONV2D) {
            const nn_conv_shape s = shape_of(l);
            if (nn_conv2d_scratch_floats(&s) > scratch) scratch = nn_conv2d_scratch_floats(&s);
        } else if (l->kind == NN_DROPOUT) {
            w->aux[i] = alloc_floats((long)train_chunk * out, &failed);
        } else if (l->kind == NN_DROPOUT2D) {
            w->aux[i] = alloc_floats((long)train_chunk * l->in_c, &failed);
        } else if (l->kind == NN_BATCHNORM2D) {
            w->aux[i] = alloc_floats(2L * l->in_c, &failed);
            w->bn_sums[i] = calloc((size_t)BN_SLOTS * 2 * (size_t)l->in_c, sizeof(double));
            if (!w->bn_sums[i]) failed = 1;
        } else if (l->kind == NN_MAXPOOL2D) {
            w->argmax[i] = aligned_alloc(64, ((size_t)chunk * out * sizeof(int32_t) + 63) / 64 * 64);
            if (!w->argmax[i]) failed = 1;
        }
    }
    w->scratch = alloc_floats(scratch, &failed);
    w->gout = alloc_floats((long)train_chunk * net->classes, &failed);
    w->grads = alloc_floats(net->n_params, &failed);
    return failed ? -1 : 0;
}

int nn_exec_create(nn_exec **out, nn_net *net, int max_train_batch, int max_eval_batch,
                   int threads, uint64_t seed, cassnn_err *err) {
    *out = NULL;
    if (threads < 1 || threads > 256)
        return cassnn_err_set(err, "nn_exec: thread count %d out of range 1..256", threads);
    if (max_train_batch < 0 || max_eval_batch < 0 || max_train_batch + max_eval_batch == 0)
        return cassnn_err_set(err, "nn_exec: invalid batch sizes %d/%d", max_train_batch,
                              max_eval_batch);
    nn_exec *e = calloc(1, sizeof *e);
    if (!e) return cassnn_err_set(err, "nn_exec: out of memory");
    e->net = net;
    e->threads = threads;
    e->max_train_batch = max_train_batch;
    e->max_eval_batch = max_eval_batch;
    e->seed = seed;
    e->first_param_layer = net->n_layers;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        if (net->layers[i].weight_off >= 0) e->first_param_layer = i;
        if (net->layers[i].kind == NN_BATCHNORM2D) e->has_batchnorm = 1;
    }
    pthread_mutex_init(&e->mu, NULL);
    if (threads > 1) pthread_barrier_init(&e->barrier, NULL, (unsigned)threads);
    pthread_cond_init(&e->start_cv, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    e->workers = calloc((size_t)threads, sizeof *e->workers);
    e->tids = calloc((size_t)threads, sizeof *e->tids);
    if (!e->workers || !e->tids) goto oom;
    for (int t = 0; t < threads; t++)
        if (alloc_worker(e, &e->workers[t])) goto oom;
    /* Our threads already use every core; BLAS threads on top would only
     * contend with them. */
    openblas_set_num_threads(1);
    for (int t = 1; t < threads; t++) {
        thread_arg *a = malloc(sizeof *a);
        if (!a) goto oom;
        a->e = e;
        a->t = t;
        if (pthread_create(&e->tids[t], NULL, thread_main, a)) {
            free(a);
            nn_exec_free(e);
            return cassnn_err_set(err, "nn_exec: cannot start thread %d", t);
        }
        e->started = t + 1;
    }
    *out = e;
    return 0;
oom:
    nn_exec_free(e);
    return cassnn_err_set(err, "nn_exec: out of memory for %d threads' workspaces", threads);
}

void nn_exec_free(nn_exec *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->quit = 1;
    pthread_cond_broadcast(&e->start_cv);
    pthread_mutex_unlock(&e->mu);
    for (int t = 1; t < e->started; t++) pthread_join(e->tids[t], NULL);
    if (e->workers)
        for (int t = 0; t < e->threads; t++) free_worker(&e->workers[t], e->net->n_layers);
    free(e->workers);
    free(e->tids);
    if (e->threads > 1) pthread_barrier_destroy(&e->barrier);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->start_cv);
    pthread_cond_destroy(&e->done_cv);
    free(e);
}

int nn_exec_threads(const nn_exec *e) { return e->threads; }

uint64_t nn_exec_step(const nn_exec *e) { return e->step; }

void nn_exec_set_step(nn_exec *e, uint64_t step) { e->step = step; }

void nn_exec_train_batch(nn_exec *e, const float *x, const int32_t *labels, int n, int dropout,
                         double *loss_mean, int *correct) {
    e->mode = dropout ? RUN_TRAIN : RUN_TRAIN_NO_DROPOUT;
    e->x = x;
    e->labels = labels;
    e->logp = NULL;
    e->n = n;
    run_all(e);
    e->step++;
    /* Thread order, not completion order: the sum is the same every run. */
    float *g = e->net->grads;
    memcpy(g, e->workers[0].grads, sizeof(float) * (size_t)e->net->n_params);
    for (int t = 1; t < e->threads; t++) {
        const float *wg = e->workers[t].grads;
        for (long j = 0; j < e->net->n_params; j++) g[j] += wg[j];
    }
    double loss = 0.0;
    long right = 0;
    for (int t = 0; t < e->threads; t++) {
        loss += e->workers[t].loss;
        right += e->workers[t].correct;
    }
    if (loss_mean) *loss_mean = n ? loss / n : 0.0;
    if (correct) *correct = (int)right;
}

void nn_exec_eval_batch(nn_exec *e, const float *x, const int32_t *labels, int n,
                        float *logp, double *loss_sum, long *correct) {
    e->mode = RUN_EVAL;
    e->x = x;
    e->labels = labels;
    e->logp = logp;
    e->n = n;
    run_all(e);
    for (int t = 0; t < e->threads; t++) {
        if (loss_sum) *loss_sum += e->workers[t].loss;
        if (correct) *correct += e->workers[t].correct;
    }
}
