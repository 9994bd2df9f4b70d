/* dropout.c - Dropout and Dropout2d: kernels (nn/layer_kernels.h) and their layer
 * table entries. */
#include <stdio.h>

#include "nn/rng.h"
#include "nn/layer.h"

void nn_dropout_mask(float *mask, long count, float p, nn_rng *rng) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < count; i++) mask[i] = nn_rng_uniform(rng) < p ? 0.0f : scale;
}

void nn_dropout_forward(float *out, const float *in, const float *mask, long count, long inner) {
    for (long m = 0; m < count / inner; m++)
        for (long j = 0; j < inner; j++) out[m * inner + j] = in[m * inner + j] * mask[m];
}

void nn_dropout_backward(float *din, const float *dout, const float *mask, long count,
                         long inner) {
    for (long m = 0; m < count / inner; m++)
        for (long j = 0; j < inner; j++) din[m * inner + j] = dout[m * inner + j] * mask[m];
}


/* Dropout zeroes single elements, Dropout2d whole channels (one mask value
 * per `inner` floats). */
static long mask_inner(const nn_layer *l) {
    return l->kind == NN_DROPOUT2D ? (long)l->in_h * l->in_w : 1;
}

static int dropout_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err) {
    (void)word;
    l->p = (float)nn_arg(a, 0, "p", 0.5);
    if (!(l->p >= 0.0f && l->p < 1.0f))
        return nn_layer_error(a, err, "dropout probability must be in [0, 1)");
    return 0;
}

static void dropout_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "%s(%.9g)", l->kind == NN_DROPOUT2D ? "dropout2d" : "dropout", l->p);
}

/* The masks of a training chunk. */
static void dropout_workspace(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws) {
    (void)chunk;
    ws->bytes = sizeof(float) * (size_t)train_chunk * (size_t)(nn_layer_out_size(l) / mask_inner(l));
}

static const float *dropout_forward(nn_run *r, const float *in, float *out) {
    const nn_layer *l = r->layer;
    if (!r->dropout || l->p == 0.0f) return in;
    const long inner = mask_inner(l), masks_per_image = nn_layer_out_size(l) / inner;
    float *mask = r->ws;
    for (int i = 0; i < r->n; i++) {
        /* Keyed by the image's index in the whole batch, so the masks do not
         * depend on how the batch was split across threads. */
        nn_rng rng;
        nn_rng_seed(&rng, r->seed ^ (r->step * 0x9e3779b97f4a7c15ULL),
                    ((uint64_t)(r->first + i) << 16) | (uint64_t)r->index);
        nn_dropout_mask(mask + i * masks_per_image, masks_per_image, l->p, &rng);
    }
    nn_dropout_forward(out, in, mask, (long)r->n * nn_layer_out_size(l), inner);
    return out;
}

static const float *dropout_backward(nn_run *r, const float *dout, float *din, const float *in,
                                     const float *out) {
    (void)in;
    (void)out;
    const nn_layer *l = r->layer;
    if (!r->dropout || l->p == 0.0f) return dout;
    nn_dropout_backward(din, dout, r->ws, (long)r->n * nn_layer_out_size(l), mask_inner(l));
    return din;
}

const nn_layer_type nn_dropout_type = {
    .words = {"dropout"},
    .parse = dropout_parse,
    .describe = dropout_describe,
    .workspace = dropout_workspace,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

const nn_layer_type nn_dropout2d_type = {
    .words = {"dropout2d"},
    .parse = dropout_parse,
    .describe = dropout_describe,
    .workspace = dropout_workspace,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
