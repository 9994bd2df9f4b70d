/* isa.c - the instruction set of the kernels: the processor's best or
 * CASSNN_ISA's (nn/isa.h); oneDNN is capped at the same. */
#include "nn/isa.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static nn_isa active;
static char failure[200]; /* why no set can be used; "" when one can */

int nn_isa_supported(nn_isa isa) {
    __builtin_cpu_init();
    if (isa == NN_ISA_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

const char *nn_isa_name(nn_isa isa) { return isa == NN_ISA_AVX512 ? "avx512" : "avx2"; }

static void choose(void) {
    if (!nn_isa_supported(NN_ISA_AVX2)) {
        snprintf(failure, sizeof failure, "this processor lacks AVX2 and FMA, which cassnn "
                 "needs (it is built for x86-64-v3)");
        return;
    }
    active = nn_isa_supported(NN_ISA_AVX512) ? NN_ISA_AVX512 : NN_ISA_AVX2;
    const char *env = getenv("CASSNN_ISA");
    if (env && *env) {
        if (!strcmp(env, "avx2")) {
            active = NN_ISA_AVX2;
        } else if (!strcmp(env, "avx512")) {
            if (!nn_isa_supported(NN_ISA_AVX512))
                snprintf(failure, sizeof failure, "CASSNN_ISA=avx512, but this processor lacks "
                         "AVX-512 (F, BW, VL and DQ)");
        } else {
            snprintf(failure, sizeof failure, "CASSNN_ISA='%.40s': expected avx2 or avx512", env);
        }
    }
    /* before oneDNN generates any kernel: the cap holds from then on */
    dnnl_set_max_cpu_isa(active == NN_ISA_AVX2 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_all);
}

int nn_isa_select(nn_isa *out, cassnn_err *err) {
    pthread_once(&once, choose);
    if (failure[0]) return cassnn_err_set(err, "%s", failure);
    *out = active;
    return 0;
}
