/* batcher.c - the dynamic batcher (see batcher.h). */
#include "batcher.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct serve_batcher {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    serve_job *head, *tail;     /* FIFO */
    long queued_images;
    int stop;
    int max_batch, max_wait_us;
    serve_metrics *metrics;
    float *x, *logp;            /* the forward pass's input and output */
    size_t x_cap, logp_cap;
    pthread_t thread;
};

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Grows *buf to hold n floats; 0, or -1 when out of memory. */
static int reserve(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    float *p = realloc(*buf, n * sizeof *p);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* One forward pass over the jobs first..(not including) end, all on one
 * model; then each job's done. */
static void run(serve_batcher *b, serve_job *first, int images) {
    serve_model *m = first->model;
    const int classes = m->net.classes;
    const float scale = 1.0f / (255.0f * m->std), shift = m->mean / m->std;
    const int ok = reserve(&b->x, &b->x_cap, (size_t)images * m->image) == 0 &&
                   reserve(&b->logp, &b->logp_cap, (size_t)images * (size_t)classes) == 0;
    float *x = b->x;
    for (serve_job *j = first; ok && j; j = j->next)
        for (size_t i = 0; i < (size_t)j->n * m->image; i++)
            *x++ = (float)j->pixels[i] * scale - shift;
    if (ok) {
        nn_exec_eval_batch(m->exec, b->x, NULL, images, b->logp, NULL, NULL);
        metrics_batch(b->metrics, images);
    }
    const float *out = b->logp;
    for (serve_job *j = first, *next; j; j = next) {
        next = j->next;
        const size_t n = (size_t)j->n * (size_t)classes;
        if (ok) memcpy(j->logp, out, n * sizeof *out);
        else for (size_t i = 0; i < n; i++) j->logp[i] = NAN; /* "failed" */
        out += n;
        j->done(j);
    }
}

static void *loop(void *arg) {
    serve_batcher *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stop) pthread_cond_wait(&b->wake, &b->lock);
        if (!b->head) break; /* stopped and drained */
        /* wait for a full batch, at most max_wait_us after the oldest job */
        const int64_t deadline = b->head->queued_ns + (int64_t)b->max_wait_us * 1000;
        while (!b->stop && b->queued_images < b->max_batch) {
            const int64_t left = deadline - now_ns();
            if (left <= 0) break;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            const int64_t ns = until.tv_nsec + left;
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            if (pthread_cond_timedwait(&b->wake, &b->lock, &until) == ETIMEDOUT) break;
        }
        /* take consecutive jobs of the first one's model while they fit */
        serve_job *first = b->head, *last = first;
        int images = first->n;
        while (last->next && last->next->model == first->model &&
               images + last->next->n <= b->max_batch) {
            last = last->next;
            images += last->n;
        }
        b->head = last->next;
        if (!b->head) b->tail = NULL;
        last->next = NULL;
        b->queued_images -= images;
        pthread_mutex_unlock(&b->lock);
        run(b, first, images);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int serve_batcher_create(serve_batcher **out, int max_batch, int max_wait_us,
                         serve_metrics *metrics, cassnn_err *err) {
    serve_batcher *b = calloc(1, sizeof *b);
    if (!b) return cassnn_err_set(err, "out of memory for the batcher");
    b->max_batch = max_batch;
    b->max_wait_us = max_wait_us;
    b->metrics = metrics;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->wake, NULL);
    if (pthread_create(&b->thread, NULL, loop, b)) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->wake);
        free(b);
        return cassnn_err_set(err, "cannot start the inference thread");
    }
    *out = b;
    return 0;
}

void serve_batcher_submit(serve_batcher *b, serve_job *job) {
    job->next = NULL;
    job->queued_ns = now_ns();
    pthread_mutex_lock(&b->lock);
    if (b->tail) b->tail->next = job;
    else b->head = job;
    b->tail = job;
    b->queued_images += job->n;
    /* the thread waits for the first job, and for a full batch */
    if (b->head == job || b->queued_images >= b->max_batch) pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
}

void serve_batcher_stop(serve_batcher *b) {
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->wake);
    free(b->x);
    free(b->logp);
    free(b);
}
