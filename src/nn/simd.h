/* simd.h - 16-lane float vectors for the kernels (private to src/nn).
 * The conv kernels work on short spans (a kernel row of k floats, an output
 * row of out_w floats). These helpers load and store lanes [lo, hi) of a
 * 16-float vector: masked AVX-512 instructions where available (masked-off
 * lanes are never accessed), plain loops otherwise. */
#ifndef CASSNN_NN_SIMD_H
#define CASSNN_NN_SIMD_H

#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#ifdef __AVX512F__
typedef __m512 vec16;
static inline __mmask16 lane_mask(int lo, int hi) {
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}
static inline vec16 v_zero(void) { return _mm512_setzero_ps(); }
static inline vec16 v_set(float x) { return _mm512_set1_ps(x); }
/* lanes [lo, hi) = p[lane], others 0; p + lo .. p + hi - 1 must be valid */
static inline vec16 v_load(const float *p, int lo, int hi) {
    return _mm512_maskz_loadu_ps(lane_mask(lo, hi), p);
}
/* v with lanes [lo, hi) replaced by p[lane] */
static inline vec16 v_load_into(vec16 v, const float *p, int lo, int hi) {
    return _mm512_mask_loadu_ps(v, lane_mask(lo, hi), p);
}
static inline vec16 v_fma(vec16 acc, float a, vec16 x) {
    return _mm512_fmadd_ps(_mm512_set1_ps(a), x, acc);
}
static inline vec16 v_add(vec16 a, vec16 b) { return _mm512_add_ps(a, b); }
static inline vec16 v_mul(vec16 a, vec16 b) { return _mm512_mul_ps(a, b); }
static inline void v_store(float *p, vec16 v, int n) {
    _mm512_mask_storeu_ps(p, lane_mask(0, n), v);
}
static inline void v_store_add(float *p, vec16 v, int n) {
    const __mmask16 m = lane_mask(0, n);
    _mm512_mask_storeu_ps(p, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), v));
}
/* bit t set where p[t] != 0, for t < n <= 16 */
static inline uint32_t nonzero_bits(const float *p, int n) {
    return _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(lane_mask(0, n), p), _mm512_setzero_ps(),
                              _CMP_NEQ_UQ);
}
#else
typedef struct vec16 {
    float f[16];
} vec16;
static inline vec16 v_zero(void) { return (vec16){{0}}; }
static inline vec16 v_set(float x) {
    vec16 v;
    for (int t = 0; t < 16; t++) v.f[t] = x;
    return v;
}
static inline vec16 v_load(const float *p, int lo, int hi) {
    vec16 v = {{0}};
    for (int t = lo; t < hi; t++) v.f[t] = p[t];
    return v;
}
static inline vec16 v_load_into(vec16 v, const float *p, int lo, int hi) {
    for (int t = lo; t < hi; t++) v.f[t] = p[t];
    return v;
}
static inline vec16 v_fma(vec16 acc, float a, vec16 x) {
    for (int t = 0; t < 16; t++) acc.f[t] += a * x.f[t];
    return acc;
}
static inline vec16 v_add(vec16 a, vec16 b) {
    for (int t = 0; t < 16; t++) a.f[t] += b.f[t];
    return a;
}
static inline vec16 v_mul(vec16 a, vec16 b) {
    for (int t = 0; t < 16; t++) a.f[t] *= b.f[t];
    return a;
}
static inline void v_store(float *p, vec16 v, int n) {
    for (int t = 0; t < n; t++) p[t] = v.f[t];
}
static inline void v_store_add(float *p, vec16 v, int n) {
    for (int t = 0; t < n; t++) p[t] += v.f[t];
}
static inline uint32_t nonzero_bits(const float *p, int n) {
    uint32_t bits = 0;
    for (int t = 0; t < n; t++) bits |= (uint32_t)(p[t] != 0.0f) << t;
    return bits;
}
#endif

#endif
