/* simd.h - 16-lane float vectors for cassnn's own kernels (private to
 * src/nn), for the instruction set the including file is compiled for:
 * AVX-512 (one zmm register, masked loads and stores) when __AVX512F__ is
 * defined, else AVX2 (two ymm registers, maskload / maskstore). The kernels
 * work on short spans (a kernel row of k floats, an output row of out_w
 * floats): the helpers load and store lanes [lo, hi) of a vector, and
 * masked-off lanes are never accessed. Only simd_kernels.c includes it (see
 * nn/kernels.h). */
#ifndef CASSNN_NN_SIMD_H
#define CASSNN_NN_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#ifdef __AVX512F__
typedef __m512 vec16;
static inline __mmask16 lane_mask(int lo, int hi) {
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}
static inline vec16 v_zero(void) { return _mm512_setzero_ps(); }
/* lanes [lo, hi) = p[lane], others 0; p + lo .. p + hi - 1 must be valid */
static inline vec16 v_load(const float *p, int lo, int hi) {
    return _mm512_maskz_loadu_ps(lane_mask(lo, hi), p);
}
static inline vec16 v_fma(vec16 acc, float a, vec16 x) {
    return _mm512_fmadd_ps(_mm512_set1_ps(a), x, acc);
}
static inline vec16 v_loadu(const float *p) { return _mm512_loadu_ps(p); }
static inline vec16 v_fmav(vec16 acc, vec16 a, vec16 b) { return _mm512_fmadd_ps(a, b, acc); }
static inline float v_sum(vec16 v) { return _mm512_reduce_add_ps(v); }
static inline vec16 v_add(vec16 a, vec16 b) { return _mm512_add_ps(a, b); }
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
    __m256 lo, hi;
} vec16;
/* all-ones in lanes [lo, hi) of the 8-lane half that starts at lane `base` */
static inline __m256i half_mask(int lo, int hi, int base) {
    const __m256i lane = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm256_set1_epi32(base));
    return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
}
static inline vec16 v_zero(void) { return (vec16){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline vec16 v_load(const float *p, int lo, int hi) {
    return (vec16){_mm256_maskload_ps(p, half_mask(lo, hi, 0)),
                   _mm256_maskload_ps(p + 8, half_mask(lo, hi, 8))};
}
static inline vec16 v_fma(vec16 acc, float a, vec16 x) {
    const __m256 s = _mm256_set1_ps(a);
    return (vec16){_mm256_fmadd_ps(s, x.lo, acc.lo), _mm256_fmadd_ps(s, x.hi, acc.hi)};
}
static inline vec16 v_add(vec16 a, vec16 b) {
    return (vec16){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
/* all 16 lanes, no mask */
static inline vec16 v_loadu(const float *p) {
    return (vec16){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
static inline vec16 v_fmav(vec16 acc, vec16 a, vec16 b) {
    return (vec16){_mm256_fmadd_ps(a.lo, b.lo, acc.lo), _mm256_fmadd_ps(a.hi, b.hi, acc.hi)};
}
static inline float v_sum(vec16 v) {
    const __m256 s = _mm256_add_ps(v.lo, v.hi);
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    const __m128 h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
static inline void v_store(float *p, vec16 v, int n) {
    _mm256_maskstore_ps(p, half_mask(0, n, 0), v.lo);
    _mm256_maskstore_ps(p + 8, half_mask(0, n, 8), v.hi);
}
static inline void v_store_add(float *p, vec16 v, int n) {
    v_store(p, v_add(v_load(p, 0, n), v), n);
}
static inline uint32_t nonzero_bits(const float *p, int n) {
    const vec16 v = v_load(p, 0, n);
    const __m256 z = _mm256_setzero_ps();
    return (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v.lo, z, _CMP_NEQ_UQ)) |
           (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v.hi, z, _CMP_NEQ_UQ)) << 8;
}
#endif

#endif
