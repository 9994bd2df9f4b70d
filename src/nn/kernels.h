/* kernels.h - cassnn's own vector kernels per instruction set (private to
 * src/nn). simd_kernels.c is compiled twice, for AVX2 and for AVX-512; the
 * layers call through the table of the set nn_isa_select chose. */
#ifndef CASSNN_NN_KERNELS_H
#define CASSNN_NN_KERNELS_H

#include <stdint.h>

#include "cassnn/nn_isa.h"
#include "cassnn/nn_layers.h"

typedef struct nn_kernels {
    /* Conv2d backward of ONE image from its non-zero output gradients g
     * (stride 1, no padding, k <= 16): dweight and dbias accumulate, dx
     * (when not NULL) is overwritten. scratch: nn_conv2d_sparse_floats. */
    void (*conv2d_backward_sparse)(float *dx, float *dweight, float *dbias, float *scratch,
                                   const float *g, const float *in, const float *weight,
                                   const nn_conv_shape *s);
    long (*count_nonzero)(const float *x, long count);
    /* One plane of 2x2 / stride-2 max pooling (other windows: a portable
     * loop in maxpool2d.c). */
    void (*maxpool2x2_plane)(float *out, int32_t *argmax, const float *in,
                             const nn_conv_shape *s);
} nn_kernels;

extern const nn_kernels nn_kernels_avx2, nn_kernels_avx512;

/* The table of the chosen set (nn_isa_select must have succeeded). */
static inline const nn_kernels *nn_kernels_active(void) {
    nn_isa isa = NN_ISA_AVX2;
    cassnn_err ignored = {0};
    nn_isa_select(&isa, &ignored);
    return isa == NN_ISA_AVX512 ? &nn_kernels_avx512 : &nn_kernels_avx2;
}

#endif
