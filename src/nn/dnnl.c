/* dnnl.c - the oneDNN engine, the single-thread rule and sgemm (dnnl.h). */
#include "nn/dnnl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/isa.h"

/* GNU OpenMP's (libgomp, the runtime Debian's oneDNN is built on), declared
 * here rather than through omp.h, which clang builds lack. */
int omp_get_max_threads(void);
void omp_set_num_threads(int threads);

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_create(void) {
    nn_isa isa;
    cassnn_err ignored = {0};
    nn_isa_select(&isa, &ignored); /* caps oneDNN first; nn_exec reports a failure */
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

dnnl_engine_t nn_dnnl_engine(void) {
    pthread_once(&engine_once, engine_create);
    return engine;
}

int nn_dnnl_single_thread(void) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    return saved;
}

void nn_dnnl_threads_restore(int saved) { omp_set_num_threads(saved); }

void nn_dnnl_sgemm(char transa, char transb, long m, long n, long k, float alpha,
                   const float *a, long lda, const float *b, long ldb, float beta, float *c,
                   long ldc) {
    const int saved = nn_dnnl_single_thread();
    const dnnl_status_t st = dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    nn_dnnl_threads_restore(saved);
    if (st != dnnl_success) {
        /* only invalid arguments fail, and the callers pass valid ones */
        fprintf(stderr, "cassnn: oneDNN sgemm failed (status %d)\n", (int)st);
        abort();
    }
}
