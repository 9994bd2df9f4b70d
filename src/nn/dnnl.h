/* dnnl.h - what the engine's oneDNN users share (private to src/nn): the CPU
 * engine and the single-thread rule. oneDNN (Debian's is built on OpenMP)
 * fixes a primitive's thread count when it is created and runs on OpenMP
 * teams; nn_exec's threads already use every core, so each oneDNN call runs
 * on one thread, inside the calling thread. */
#ifndef CASSNN_NN_DNNL_H
#define CASSNN_NN_DNNL_H

#include <oneapi/dnnl/dnnl.h>

/* The CPU engine, created once (after nn_isa_select capped oneDNN's
 * instruction set); NULL if oneDNN cannot create one. */
dnnl_engine_t nn_dnnl_engine(void);

/* Makes oneDNN calls in this thread single-threaded; returns the caller's
 * OpenMP setting for nn_dnnl_threads_restore. */
int nn_dnnl_single_thread(void);
void nn_dnnl_threads_restore(int saved);

/* Row-major C = alpha * op(A) * op(B) + beta * C through oneDNN's sgemm
 * (its kernels for the chosen instruction set), on this thread. */
void nn_dnnl_sgemm(char transa, char transb, long m, long n, long k, float alpha,
                   const float *a, long lda, const float *b, long ldb, float beta, float *c,
                   long ldc);

#endif
