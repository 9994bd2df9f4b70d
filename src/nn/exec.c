/* exec.c - runs batches through a net: one chunk of the batch per thread,
 * preallocated workspaces, deterministic gradient reduction (see nn.h).
 * Every layer runs through its entry in the layer table (layer.h). */
#include "cassnn/nn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nn/isa.h"
#include "nn/layer.h"

enum run_mode { RUN_EVAL, RUN_TRAIN, RUN_TRAIN_NO_DROPOUT };

/* Eval mode runs a thread's chunk in pieces of this many images (or of
 * the training chunk, if larger): workspaces for 32 images, not for half
 * of a 1000-image test batch, and activations that stay in the caches. */
#define EVAL_PIECE 32

/* One thread's workspaces, sized for its largest chunk. */
typedef struct worker {
    float **out;          /* [layer] output activations; NULL for NN_LAYER_ALIAS layers */
    float **gin;          /* [layer] gradient w.r.t. the layer's input */
    void **ws;            /* [layer] the layer's own workspace (nn_layer_type.workspace) */
    float *scratch;       /* the layers' scratch, shared by every layer */
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
    int eval_piece;            /* images per forward pass in eval mode */
    int started;               /* threads running thread_main (1..started-1) */
    int first_param_layer;     /* backward stops here: nothing below needs a gradient */
    int has_sync;              /* training needs the threads to meet (barrier) */
    uint64_t seed, step;
    worker *workers;

    /* the current call, read by every thread */
    enum run_mode mode;
    const float *x;
    const int32_t *labels;
    float *logp;
    int n;

    pthread_t *tids;
    pthread_barrier_t barrier; /* NN_LAYER_SYNC layers' meeting point, threads > 1 */
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    unsigned generation;
    int pending, quit;
};

void nn_exec_sum_threads(const nn_run *r, const double *mine, double *sum, long count) {
    nn_exec *e = r->exec;
    const size_t offset = (size_t)((const char *)mine - (const char *)r->ws);
    if (e->threads > 1) pthread_barrier_wait(&e->barrier);
    memcpy(sum, (const char *)e->workers[0].ws[r->index] + offset, sizeof(double) * (size_t)count);
    for (int t = 1; t < e->threads; t++) {
        const double *part = (const double *)((const char *)e->workers[t].ws[r->index] + offset);
        for (long j = 0; j < count; j++) sum[j] += part[j];
    }
}

/* The call of layer li on thread t's chunk [i0, i0 + cnt). */
static nn_run run_of(nn_exec *e, int t, int li, int i0, int cnt) {
    nn_net *net = e->net;
    nn_layer *l = &net->layers[li];
    worker *w = &e->workers[t];
    const int params = l->weight_off >= 0;
    nn_run r = {
        .exec = e, .layer = l, .index = li, .thread = t, .n = cnt, .first = i0, .batch = e->n,
        .train = e->mode != RUN_EVAL, .dropout = e->mode == RUN_TRAIN,
        .seed = e->seed, .step = e->step, .ws = w->ws[li], .scratch = w->scratch,
        .weight = params ? net->params + l->weight_off : NULL,
        .bias = params ? net->params + l->bias_off : NULL,
        .dweight = params ? w->grads + l->weight_off : NULL,
        .dbias = params ? w->grads + l->bias_off : NULL,
        .running = l->buffer_off >= 0 ? net->buffers + l->buffer_off : NULL,
    };
    return r;
}

/* Forward of images [i0, i0+cnt) through every layer. An empty chunk
 * (cnt 0) only takes part in the NN_LAYER_SYNC layers' meetings. */
static void forward(nn_exec *e, worker *w, int t, int i0, int cnt) {
    const nn_net *net = e->net;
    for (int li = 0; li < net->n_layers; li++) {
        const nn_layer_type *type = nn_type_of(&net->layers[li]);
        if (cnt == 0 && !(type->flags & NN_LAYER_SYNC)) continue;
        nn_run r = run_of(e, t, li, i0, cnt);
        w->x[li + 1] = type->forward(&r, w->x[li], w->out[li]);
    }
}

static void backward(nn_exec *e, worker *w, int t, int i0, int cnt) {
    const nn_net *net = e->net;
    w->g[net->n_layers] = w->gout;
    for (int li = net->n_layers - 1; li >= e->first_param_layer; li--) {
        const nn_layer_type *type = nn_type_of(&net->layers[li]);
        if (cnt == 0 && !(type->flags & NN_LAYER_SYNC)) continue;
        nn_run r = run_of(e, t, li, i0, cnt);
        float *din = li > e->first_param_layer ? w->gin[li] : NULL;
        w->g[li] = type->backward(&r, w->g[li + 1], din, w->x[li], w->x[li + 1]);
    }
}

/* Forward of images [i0, i0+cnt), the log-probabilities out, and the loss
 * and correct count added up; in training also the loss gradient (gout). */
static void forward_and_loss(nn_exec *e, worker *w, int t, int i0, int cnt) {
    const nn_net *net = e->net;
    const int training = e->mode != RUN_EVAL;
    w->x[0] = e->x + (long)i0 * net->in_c * net->in_h * net->in_w;
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
    w->loss += nn_nll_loss(training ? w->gout : NULL, logp, labels, cnt, classes,
                           1.0f / (float)e->n);
}

static void run_chunk(nn_exec *e, int t) {
    worker *w = &e->workers[t];
    const int i0 = (int)((long)e->n * t / e->threads);
    const int cnt = (int)((long)e->n * (t + 1) / e->threads) - i0;
    w->loss = 0.0;
    w->correct = 0;
    if (e->mode == RUN_EVAL) {
        /* no batch statistics in eval mode: the chunk goes through in pieces
         * that fit the workspaces (and the caches) */
        for (int p = 0; p < cnt; p += e->eval_piece)
            forward_and_loss(e, w, t, i0 + p, cnt - p < e->eval_piece ? cnt - p : e->eval_piece);
        return;
    }
    memset(w->grads, 0, sizeof(float) * (size_t)e->net->n_params);
    if (cnt == 0) {
        /* the other threads wait for this one's (empty) sums at every
         * NN_LAYER_SYNC layer */
        if (e->has_sync && e->n > 0) {
            forward(e, w, t, i0, 0);
            backward(e, w, t, i0, 0);
        }
        return;
    }
    forward_and_loss(e, w, t, i0, cnt);
    backward(e, w, t, i0, cnt);
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

static void free_worker(const nn_net *net, worker *w) {
    for (int i = 0; i < net->n_layers; i++) {
        if (w->out) free(w->out[i]);
        if (w->gin) free(w->gin[i]);
        if (w->ws && w->ws[i]) {
            const nn_layer_type *type = nn_type_of(&net->layers[i]);
            if (type->release) type->release(&net->layers[i], w->ws[i]);
            free(w->ws[i]);
        }
    }
    free(w->out);
    free(w->gin);
    free(w->ws);
    free(w->scratch);
    free(w->gout);
    free(w->grads);
    free(w->x);
    free(w->g);
}

static int alloc_worker(nn_exec *e, worker *w, cassnn_err *err) {
    const nn_net *net = e->net;
    const int L = net->n_layers;
    const int train_chunk = (e->max_train_batch + e->threads - 1) / e->threads;
    int eval_chunk = (e->max_eval_batch + e->threads - 1) / e->threads;
    if (eval_chunk > e->eval_piece) eval_chunk = e->eval_piece;
    const int chunk = train_chunk > eval_chunk ? train_chunk : eval_chunk;
    int failed = 0;
    w->out = calloc((size_t)L, sizeof *w->out);
    w->gin = calloc((size_t)L, sizeof *w->gin);
    w->ws = calloc((size_t)L, sizeof *w->ws);
    w->x = calloc((size_t)L + 1, sizeof *w->x);
    w->g = calloc((size_t)L + 1, sizeof *w->g);
    if (!w->out || !w->gin || !w->ws || !w->x || !w->g) goto oom;
    long scratch = 0;
    for (int i = 0; i < L; i++) {
        const nn_layer *l = &net->layers[i];
        const nn_layer_type *type = nn_type_of(l);
        if (!(type->flags & NN_LAYER_ALIAS)) {
            w->out[i] = alloc_floats((long)chunk * nn_layer_out_size(l), &failed);
            if (i > e->first_param_layer)
                w->gin[i] = alloc_floats((long)train_chunk * nn_layer_in_size(l), &failed);
        }
        nn_workspace need = {0, 0};
        if (type->workspace) type->workspace(l, chunk, train_chunk, &need);
        if (need.bytes) w->ws[i] = alloc_floats((long)((need.bytes + 3) / 4), &failed);
        if (need.scratch_floats > scratch) scratch = need.scratch_floats;
        if (failed) goto oom;
        if (type->prepare && type->prepare(l, w->ws[i], chunk, train_chunk, err)) {
            free(w->ws[i]);
            w->ws[i] = NULL;
            return -1;
        }
    }
    w->scratch = alloc_floats(scratch, &failed);
    w->gout = alloc_floats((long)train_chunk * net->classes, &failed);
    w->grads = alloc_floats(net->n_params, &failed);
    if (!failed) return 0;
oom:
    return cassnn_err_set(err, "nn_exec: out of memory for %d threads' workspaces", e->threads);
}

int nn_exec_create(nn_exec **out, nn_net *net, int max_train_batch, int max_eval_batch,
                   int threads, uint64_t seed, cassnn_err *err) {
    *out = NULL;
    if (threads < 1 || threads > 256)
        return cassnn_err_set(err, "nn_exec: thread count %d out of range 1..256", threads);
    if (max_train_batch < 0 || max_eval_batch < 0 || max_train_batch + max_eval_batch == 0)
        return cassnn_err_set(err, "nn_exec: invalid batch sizes %d/%d", max_train_batch,
                              max_eval_batch);
    nn_isa isa;
    if (nn_isa_select(&isa, err)) return -1;
    nn_exec *e = calloc(1, sizeof *e);
    if (!e) return cassnn_err_set(err, "nn_exec: out of memory");
    e->net = net;
    e->threads = threads;
    e->max_train_batch = max_train_batch;
    e->max_eval_batch = max_eval_batch;
    e->seed = seed;
    const int train_chunk = (max_train_batch + threads - 1) / threads;
    e->eval_piece = train_chunk > EVAL_PIECE ? train_chunk : EVAL_PIECE;
    e->first_param_layer = net->n_layers;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        if (net->layers[i].weight_off >= 0) e->first_param_layer = i;
        if (nn_type_of(&net->layers[i])->flags & NN_LAYER_SYNC) e->has_sync = 1;
    }
    pthread_mutex_init(&e->mu, NULL);
    if (threads > 1) pthread_barrier_init(&e->barrier, NULL, (unsigned)threads);
    pthread_cond_init(&e->start_cv, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    e->workers = calloc((size_t)threads, sizeof *e->workers);
    e->tids = calloc((size_t)threads, sizeof *e->tids);
    if (!e->workers || !e->tids) goto oom;
    for (int t = 0; t < threads; t++)
        if (alloc_worker(e, &e->workers[t], err)) {
            nn_exec_free(e);
            return -1;
        }
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
        for (int t = 0; t < e->threads; t++) free_worker(e->net, &e->workers[t]);
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
