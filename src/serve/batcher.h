/* batcher.h - the dynamic batcher: jobs (one request's images) from any
 * thread are queued to one inference thread, which runs the images of
 * consecutive jobs on the same model in one forward pass of at most
 * max_batch images (a job larger than that runs alone), waiting at most
 * max_wait_us after the oldest queued job for the batch to fill. */
#ifndef CASSNN_SERVE_BATCHER_H
#define CASSNN_SERVE_BATCHER_H

#include <stdint.h>

#include "cassnn/error.h"
#include "metrics.h"
#include "model.h"

typedef struct serve_job {
    serve_model *model;         /* the job's reference, taken by its submitter */
    int n;                      /* images */
    const uint8_t *pixels;      /* n * model->image values 0..255 */
    float *logp;                /* out: n * classes log-probabilities */
    /* Called on the inference thread once logp is written; the job (and
     * what it points at) belongs to the submitter again from then on. */
    void (*done)(struct serve_job *job);
    int64_t queued_ns;
    struct serve_job *next;
} serve_job;

typedef struct serve_batcher serve_batcher;

int serve_batcher_create(serve_batcher **out, int max_batch, int max_wait_us,
                         serve_metrics *metrics, cassnn_err *err);
/* Queues job; never waits for inference. job->n must be at most the
 * model's max_images. */
void serve_batcher_submit(serve_batcher *b, serve_job *job);
/* Runs what is queued, then stops the thread and frees b. */
void serve_batcher_stop(serve_batcher *b);

#endif
