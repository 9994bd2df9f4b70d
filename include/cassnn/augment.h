/* augment.h - seeded, reproducible data augmentation of training batches.
 *
 * Each image of a batch is moved by its own random transform: an integer
 * shift of up to max_shift pixels on each axis (like torchvision's
 * RandomCrop(size, padding=max_shift)) and, when max_rotate or max_scale
 * is set, a small affine transform (rotation, scaling) about the image's
 * centre, sampled bilinearly. Pixels that come from outside the image get
 * the background value (the normalised 0).
 *
 * The transform of an image depends only on (seed, epoch, the image's
 * position in the epoch), never on threads or batch sizes, so a run is
 * reproducible and a resumed run draws exactly what the interrupted one
 * would have drawn.
 *
 * Augmenting works on normalised float NCHW batches, so it wraps any batch
 * source (data_augment_source): the feed of images in memory and the
 * Cassandra stream alike.
 */
#ifndef CASSNN_AUGMENT_H
#define CASSNN_AUGMENT_H

#include <stdint.h>

#include "cassnn/error.h"
#include "cassnn/nn_train.h"

typedef struct data_augment {
    int max_shift;       /* pixels per axis, uniform in [-max_shift, max_shift]; 0: none */
    float max_rotate;    /* degrees, uniform in [-max_rotate, max_rotate]; 0: none */
    float max_scale;     /* scale uniform in [1 - max_scale, 1 + max_scale]; 0: none */
} data_augment;

/* 1 when a does anything. */
int data_augment_active(const data_augment *a);

/* Parses "none" or a comma list of shift=N, rotate=DEG, scale=F (e.g.
 * "shift=2" or "shift=2,rotate=10,scale=0.1"). Errors name the bad part. */
int data_augment_parse(const char *text, data_augment *out, cassnn_err *err);

/* Writes a as the text data_augment_parse reads ("none" when inactive). */
void data_augment_format(const data_augment *a, char *out, size_t cap);

/* The shape of the images and how they are drawn. */
typedef struct data_augment_frame {
    int channels, rows, cols;
    float fill;          /* a background pixel's value after normalisation */
    uint64_t seed;
} data_augment_frame;

/* One image moved by (dx, dy): out(x, y) = in(x - dx, y - dy), so a
 * positive dx moves the content right and a positive dy down; pixels from
 * outside get f->fill. in and out do not overlap. */
void data_augment_shift(const float *in, float *out, const data_augment_frame *f, int dx,
                        int dy);

/* Augments n images of x in place (float NCHW); image i is the image at
 * position first + i of the epoch. scratch holds one image
 * (channels * rows * cols floats). */
void data_augment_images(const data_augment *a, const data_augment_frame *f, int epoch,
                         long first, float *x, int n, float *scratch);

/* A batch source that augments the batches of another. */
typedef struct data_augment_source {
    nn_batch_source inner;
    data_augment augment;
    data_augment_frame frame;
    int epoch;
    long position;       /* images handed out this epoch, plus a resumed run's start */
    long resume_at;      /* the next epoch starts at this image (resume) */
    float *scratch;
} data_augment_source;

/* inner is borrowed (it must outlive s). Errors: a bad shape, out of memory. */
int data_augment_source_init(data_augment_source *s, nn_batch_source inner,
                             const data_augment *a, const data_augment_frame *f,
                             cassnn_err *err);

/* The next epoch begun starts at image `images` of the epoch, as the inner
 * source does after its own resume_at (one epoch only). */
void data_augment_source_resume_at(data_augment_source *s, long images);

nn_batch_source data_augment_source_batches(data_augment_source *s);

void data_augment_source_free(data_augment_source *s);

#endif
