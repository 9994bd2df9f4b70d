/* kernels.h - cassnn's own vector kernels per instruction set (private to
 * src/nn). simd_kernels.c is compiled twice, for AVX2 and for AVX-512; the
 * layers call through the table of the set nn_isa_select chose. */
#ifndef CASSNN_NN_KERNELS_H
#define CASSNN_NN_KERNELS_H

#include <stdint.h>

#include "nn/isa.h"
#include "nn/layer_kernels.h"

typedef struct nn_kernels {
    /* Conv2d backward of ONE image from its non-zero output gradients g
     * (stride 1, no padding, k <= 16): dweight and dbias accumulate, dx
     * (when not NULL) is overwritten. scratch: nn_conv2d_sparse_floats. */
    void (*conv2d_backward_sparse)(float *dx, float *dweight, float *dbias, float *scratch,
                                   const float *g, const float *in, const float *weight,
                                   const nn_conv_shape *s);
    /* Conv2d dweight and dbias (accumulated) over n images when the input
     * has few channels: see nn_conv2d_small_fits. */
    void (*conv2d_weight_grad_small)(float *dweight, float *dbias, float *scratch,
                                     const float *dout, const float *in, int n,
                                     const nn_conv_shape *s);
    long (*count_nonzero)(const float *x, long count);
    /* One plane of 2x2 / stride-2 max pooling (other windows: a portable
     * loop in maxpool2d.c). */
    void (*maxpool2x2_plane)(float *out, int32_t *argmax, const float *in,
                             const nn_conv_shape *s);
} nn_kernels;

extern const nn_kernels nn_kernels_avx2, nn_kernels_avx512;

/* conv2d_weight_grad_small: images per group, largest kernel (one vector
 * accumulator per kernel column), input channels up to which it beats
 * oneDNN (measured on AVX2, 32 images: 1 channel 22-25 GFLOP/s against
 * oneDNN's 3-5; 3 channels 23 against 27; see the README). */
#define NN_CONV2D_SMALL_GROUP 8
#define NN_CONV2D_SMALL_K 7
#define NN_CONV2D_SMALL_CHANNELS 2
static inline int nn_conv2d_small_fits(const nn_conv_shape *s) {
    return s->stride == 1 && s->k <= NN_CONV2D_SMALL_K && s->in_c <= NN_CONV2D_SMALL_CHANNELS;
}
/* Floats per row of a padded plane: room for 16-lane loads k - 1 past the
 * last output column. */
static inline int nn_conv2d_small_row(const nn_conv_shape *s) {
    const int need = (s->out_w + 15) / 16 * 16 + s->k;
    return need > s->in_w + 2 * s->pad ? need : s->in_w + 2 * s->pad;
}
/* Its scratch: a group of padded planes. */
static inline long nn_conv2d_small_scratch_floats(const nn_conv_shape *s) {
    return (long)NN_CONV2D_SMALL_GROUP * (s->in_h + 2 * s->pad) * nn_conv2d_small_row(s);
}

/* The table of the chosen set (nn_isa_select must have succeeded). */
static inline const nn_kernels *nn_kernels_active(void) {
    nn_isa isa = NN_ISA_AVX2;
    cassnn_err ignored = {0};
    nn_isa_select(&isa, &ignored);
    return isa == NN_ISA_AVX512 ? &nn_kernels_avx512 : &nn_kernels_avx2;
}

#endif
