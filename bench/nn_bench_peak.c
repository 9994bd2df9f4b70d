/* nn_bench_peak - the machine's single-precision FMA peak, for
 * bench/nn_bench.sh to express every throughput as a fraction of it.
 *
 *   nn_bench_peak [--threads N] [--seconds S]
 *
 * Each thread runs a loop of independent vector FMAs (12 accumulator
 * registers with AVX2, 24 with AVX-512: enough chains to cover the FMA
 * latency on every unit, few enough to stay in registers) for S seconds
 * (default 0.5), with AVX2 (8 lanes) and, where the processor has it,
 * AVX-512 (16 lanes); the best of three runs counts. An FMA is 2 FLOPs per
 * lane. The rate is per second of the thread's own CPU time, summed over the
 * threads: what the cores do while they run, also on a machine that others
 * are using (the README says how busy it was). Prints one line per
 * instruction set:
 *   peak isa=avx2 threads=2 gflops=...
 */
#include <getopt.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "nn/isa.h"

#define INNER 1000L

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }

typedef struct job {
    nn_isa isa;
    double seconds;
    double gflops;  /* per second of this thread's CPU time */
    float sink;
} job;

/* FLOPs done in `seconds`; the sums land in *sink so nothing is optimised away. */
__attribute__((target("avx2,fma"))) static double fma_avx2(double seconds, float *sink) {
    enum { CHAINS = 12 };
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    long loops = 0;
    const double end = now() + seconds;
    do {
        for (long i = 0; i < INNER; i++)
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
        loops++;
    } while (now() < end);
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    *sink = _mm256_cvtss_f32(s);
    return (double)loops * INNER * CHAINS * 8 * 2;
}

__attribute__((target("avx512f"))) static double fma_avx512(double seconds, float *sink) {
    enum { CHAINS = 24 };
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    long loops = 0;
    const double end = now() + seconds;
    do {
        for (long i = 0; i < INNER; i++)
            for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
        loops++;
    } while (now() < end);
    __m512 s = acc[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)loops * INNER * CHAINS * 16 * 2;
}

static void *run_job(void *p) {
    job *j = p;
    const double start = now();
    const double flops = j->isa == NN_ISA_AVX512 ? fma_avx512(j->seconds, &j->sink)
                                                 : fma_avx2(j->seconds, &j->sink);
    j->gflops = flops / (now() - start) / 1e9;
    return NULL;
}

/* GFLOP/s of `threads` threads running at once. */
static double measure(nn_isa isa, int threads, double seconds) {
    job jobs[256];
    pthread_t tids[256];
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){.isa = isa, .seconds = seconds};
        pthread_create(&tids[t], NULL, run_job, &jobs[t]);
    }
    double gflops = 0.0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        gflops += jobs[t].gflops;
    }
    return gflops;
}

int main(int argc, char **argv) {
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    double seconds = 0.5;
    static const struct option opts[] = {{"threads", required_argument, 0, 't'},
                                         {"seconds", required_argument, 0, 's'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't') threads = atoi(optarg);
        else if (c == 's') seconds = atof(optarg);
        else {
            fprintf(stderr, "usage: nn_bench_peak [--threads N] [--seconds S]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || !(seconds > 0)) {
        fprintf(stderr, "nn_bench_peak: threads must be 1..256 and seconds > 0\n");
        return 2;
    }
    const nn_isa sets[] = {NN_ISA_AVX2, NN_ISA_AVX512};
    for (int i = 0; i < 2; i++) {
        if (!nn_isa_supported(sets[i])) continue;
        double best = 0.0;
        for (int rep = 0; rep < 3; rep++) {
            const double g = measure(sets[i], threads, seconds);
            if (g > best) best = g;
        }
        printf("peak isa=%s threads=%d gflops=%.1f\n", nn_isa_name(sets[i]), threads, best);
    }
    return 0;
}
