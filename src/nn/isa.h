/* isa.h (private to src/nn) - which instruction set the engine's kernels use.
 *
 * cassnn is built for x86-64 with AVX2 and FMA (-march=x86-64-v3) and also
 * carries AVX-512 kernels (compiled for x86-64-v4): the executor picks the
 * best set the processor has when the first one is created, or the one
 * CASSNN_ISA names (avx2 or avx512), e.g. CASSNN_ISA=avx2 to run the AVX2
 * kernels on an AVX-512 machine (the tests do both). oneDNN, which runs the
 * dense convolutions, is capped at the same set. Thread-safe; chosen once
 * per process.
 */
#ifndef CASSNN_NN_ISA_H
#define CASSNN_NN_ISA_H

#include "cassnn/error.h"

typedef enum nn_isa { NN_ISA_AVX2, NN_ISA_AVX512 } nn_isa;

/* The set in use: 0 with *out set, or -1 with err when CASSNN_ISA names a
 * set this processor lacks or an unknown one, or the processor lacks AVX2. */
int nn_isa_select(nn_isa *out, cassnn_err *err);

/* Whether this processor has the set (AVX-512: F, BW, VL, DQ). */
int nn_isa_supported(nn_isa isa);

/* "avx2", "avx512" */
const char *nn_isa_name(nn_isa isa);

#endif
