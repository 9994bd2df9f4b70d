/* simd_kernels.c - cassnn's own vector kernels, compiled once per
 * instruction set (src/nn/CMakeLists.txt: -march=x86-64-v3 and
 * -march=x86-64-v4, each defining NN_KERNELS as the name of its table) and
 * chosen at run time (nn/kernels.h): Conv2d's backward over the non-zero
 * output gradients only, and the 2x2 max-pool. */
#include <string.h>

#include "nn/kernels.h"
#include "nn/simd.h"

static int row_count(const nn_conv_shape *s) { return s->in_c * s->k * s->k; }
static int positions_of(const nn_conv_shape *s) { return s->out_h * s->out_w; }


/* The non-zero output gradients of one image: output channel, position,
 * value; `sorted` is scratch for scatter_rows (out_c*P + 2*out_h + 1 ints). */
typedef struct grad_list {
    int32_t *oc, *q;
    float *v;
    int32_t *sorted;
    int n;
} grad_list;

/* din = sum over the listed gradients of gradient * weight[oc] placed at the
 * output position's window. Computed per input row in a register: the
 * window row of weights is loaded shifted into the lanes it covers (masked
 * load), so nothing is read back from memory that was just written (a
 * scatter of overlapping windows stalls on store forwarding). */
static void scatter_rows(float *din, const grad_list *list, const float *weight,
                         const nn_conv_shape *s) {
    const int k = s->k, row = row_count(s), OH = s->out_h;
    /* counting sort by output row: row oy's entries are by_row[start[oy] ..
     * start[oy+1]) */
    int32_t *by_row = list->sorted, *start = by_row + list->n, *fill = start + OH + 1;
    memset(start, 0, sizeof(int32_t) * (size_t)(OH + 1));
    for (int j = 0; j < list->n; j++) start[list->q[j] / s->out_w + 1]++;
    for (int oy = 0; oy < OH; oy++) start[oy + 1] += start[oy];
    memcpy(fill, start, sizeof(int32_t) * (size_t)OH);
    for (int j = 0; j < list->n; j++) by_row[fill[list->q[j] / s->out_w]++] = j;
    for (int c = 0; c < s->in_c; c++)
        for (int y = 0; y < s->in_h; y++)
            for (int x0 = 0; x0 < s->in_w; x0 += 16) {
                const int lanes = s->in_w - x0 < 16 ? s->in_w - x0 : 16;
                /* two chains: the FMA latency, not the loads, bounds one */
                vec16 acc0 = v_zero(), acc1 = v_zero();
                for (int ky = 0; ky < k; ky++) {
                    const int oy = y - ky;
                    if (oy < 0 || oy >= OH) continue;
                    const float *wk = weight + (c * k + ky) * k;
                    for (int b = start[oy]; b < start[oy + 1]; b++) {
                        const int j = by_row[b];
                        /* lanes ox-x0 .. ox-x0+k-1 hold weight row kx = 0..k-1 */
                        const int shift = list->q[j] % s->out_w - x0;
                        const int lo = shift > 0 ? shift : 0;
                        const int hi = shift + k < lanes ? shift + k : lanes;
                        if (lo >= hi) continue;
                        const float *w = wk + (long)list->oc[j] * row;
                        /* w - shift + t is only dereferenced for lanes lo..hi-1 */
                        const vec16 term = v_load(w - shift, lo, hi);
                        if (b & 1) acc1 = v_fma(acc1, list->v[j], term);
                        else acc0 = v_fma(acc0, list->v[j], term);
                    }
                }
                const vec16 acc = v_add(acc0, acc1);
                v_store(din + ((long)c * s->in_h + y) * s->in_w + x0, acc, lanes);
            }
}

/* Backward of one image from its non-zero output gradients: for each output
 * channel, the list of (position, gradient); then per input channel and
 * kernel row a register accumulator over that list for dweight; din (when
 * wanted) from the list of all of them (scatter_rows). */
static void conv_backward_sparse(float *dx, float *dweight, float *dbias, float *scratch,
                                 const float *g, const float *in, const float *weight,
                                 const nn_conv_shape *s) {
    const int k = s->k, P = positions_of(s), row = row_count(s);
    int32_t *offsets = (int32_t *)scratch; /* window origin in the input plane */
    float *vs = scratch + P;
    /* the list of all non-zeros (for din) after the per-channel one */
    const long most = (long)s->out_c * P;
    int32_t *rest = (int32_t *)scratch + 2 * P;
    grad_list list = {rest, rest + most, (float *)(rest + 2 * most), rest + 3 * most, 0};
    for (int oc = 0; oc < s->out_c; oc++) {
        const float *go = g + (long)oc * P;
        /* the non-zeros, found 16 positions at a time with a vector compare:
         * no mispredicted branch per zero */
        int m = 0;
        for (int base = 0; base < P; base += 16) {
            uint32_t bits = nonzero_bits(go + base, P - base < 16 ? P - base : 16);
            while (bits) {
                const int q = base + __builtin_ctz(bits);
                bits &= bits - 1;
                offsets[m] = (q / s->out_w) * s->in_w + q % s->out_w;
                vs[m++] = go[q];
                if (dx) {
                    list.oc[list.n] = oc;
                    list.q[list.n] = q;
                    list.v[list.n++] = go[q];
                }
            }
        }
        if (m == 0) continue;
        float db = 0.0f;
        for (int j = 0; j < m; j++) db += vs[j];
        dbias[oc] += db;
        for (int c = 0; c < s->in_c; c++) {
            const float *plane = in + (long)c * s->in_h * s->in_w;
            float *dw = dweight + (long)oc * row + c * k * k;
            for (int ky = 0; ky < k; ky++) {
                const float *rowp = plane + (long)ky * s->in_w;
                /* four independent chains hide the FMA latency */
                vec16 a0 = v_zero(), a1 = v_zero(), a2 = v_zero(), a3 = v_zero();
                int j = 0;
                for (; j + 4 <= m; j += 4) {
                    a0 = v_fma(a0, vs[j], v_load(rowp + offsets[j], 0, k));
                    a1 = v_fma(a1, vs[j + 1], v_load(rowp + offsets[j + 1], 0, k));
                    a2 = v_fma(a2, vs[j + 2], v_load(rowp + offsets[j + 2], 0, k));
                    a3 = v_fma(a3, vs[j + 3], v_load(rowp + offsets[j + 3], 0, k));
                }
                for (; j < m; j++) a0 = v_fma(a0, vs[j], v_load(rowp + offsets[j], 0, k));
                v_store_add(dw + ky * k, v_add(v_add(a0, a1), v_add(a2, a3)), k);
            }
        }
    }
    if (dx) scatter_rows(dx, &list, weight, s);
}


/* One (output channel, input channel, kernel row) of conv_weight_grad_small
 * over a group of gn padded planes: acc[kx] += dout row * input row shifted
 * by kx. k is a compile-time constant at every call (the switch below), so
 * the accumulators live in registers. */
static inline __attribute__((always_inline)) void
weight_grad_row(float *dw, float *db, const float *g, long g_step, const float *x, long x_step,
                int gn, int stride, const nn_conv_shape *s, const int k) {
    const int OW = s->out_w;
    vec16 acc[NN_CONV2D_SMALL_K], bias = v_zero();
    for (int kx = 0; kx < k; kx++) acc[kx] = v_zero();
    for (int i = 0; i < gn; i++, g += g_step, x += x_step)
        for (int oy = 0; oy < s->out_h; oy++)
            for (int x0 = 0; x0 < OW; x0 += 16) {
                const vec16 d = v_load(g + oy * OW + x0, 0, OW - x0 < 16 ? OW - x0 : 16);
                const float *xr = x + (long)oy * stride + x0;
                for (int kx = 0; kx < k; kx++) acc[kx] = v_fmav(acc[kx], d, v_loadu(xr + kx));
                if (db) bias = v_add(bias, d);
            }
    for (int kx = 0; kx < k; kx++) dw[kx] += v_sum(acc[kx]);
    if (db) *db += v_sum(bias);
}

/* Weight and bias gradients of a convolution whose input has one channel
 * (oneDNN is slow there): for each (output channel, input channel, kernel
 * row), one vector accumulator per kernel column runs over the output
 * gradient rows of a group of images against the matching rows of their
 * zero-padded input planes, so each output gradient vector loaded feeds k
 * FMAs. */
static void conv_weight_grad_small(float *dweight, float *dbias, float *scratch, const float *dout,
                                   const float *in, int n, const nn_conv_shape *s) {
    const int k = s->k, pad = s->pad;
    const int rows = s->in_h + 2 * pad, stride = nn_conv2d_small_row(s);
    const long plane = (long)rows * stride, in_plane = (long)s->in_h * s->in_w;
    const long out_plane = (long)s->out_h * s->out_w;
    for (int g0 = 0; g0 < n; g0 += NN_CONV2D_SMALL_GROUP) {
        const int gn = n - g0 < NN_CONV2D_SMALL_GROUP ? n - g0 : NN_CONV2D_SMALL_GROUP;
        for (int c = 0; c < s->in_c; c++) {
            memset(scratch, 0, sizeof(float) * (size_t)(gn * plane));
            for (int i = 0; i < gn; i++)
                for (int y = 0; y < s->in_h; y++)
                    memcpy(scratch + i * plane + (long)(y + pad) * stride + pad,
                           in + ((long)(g0 + i) * s->in_c + c) * in_plane + (long)y * s->in_w,
                           sizeof(float) * (size_t)s->in_w);
            for (int oc = 0; oc < s->out_c; oc++)
                for (int ky = 0; ky < k; ky++) {
                    float *dw = dweight + (((long)oc * s->in_c + c) * k + ky) * k;
                    float *db = c == 0 && ky == 0 ? dbias + oc : NULL;
                    const float *g = dout + ((long)g0 * s->out_c + oc) * out_plane;
                    const long g_step = (long)s->out_c * out_plane;
                    const float *x = scratch + (long)ky * stride;
                    switch (k) {
#define K_CASE(K) \
    case K: weight_grad_row(dw, db, g, g_step, x, plane, gn, stride, s, K); break;
                        K_CASE(1) K_CASE(2) K_CASE(3) K_CASE(4) K_CASE(5) K_CASE(6) K_CASE(7)
#undef K_CASE
                    }
                }
        }
    }
}

static long count_nonzero(const float *x, long count) {
    long nonzero = 0;
    for (long j = 0; j < count; j += 16)
        nonzero += __builtin_popcount(nonzero_bits(x + j, count - j < 16 ? (int)(count - j) : 16));
    return nonzero;
}

#ifdef __AVX512F__
/* 2x2 windows with stride 2, 16 outputs at a time: even and odd columns of
 * two input rows are separated with a permute, then the four candidates are
 * compared in window order (first maximum wins, as in PyTorch). */
static void maxpool2x2_plane(float *o, int32_t *a, const float *x, const nn_conv_shape *s) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const int W = s->in_w;
    for (int oy = 0; oy < s->out_h; oy++) {
        const float *r0 = x + (long)(2 * oy) * W, *r1 = r0 + W;
        for (int ox0 = 0; ox0 < s->out_w; ox0 += 16) {
            const int n = s->out_w - ox0 < 16 ? s->out_w - ox0 : 16;
            const int in_lo = 2 * n < 16 ? 2 * n : 16, in_hi = 2 * n - in_lo;
            const float *p0 = r0 + 2 * ox0, *p1 = r1 + 2 * ox0;
            const __m512 a_lo = v_load(p0, 0, in_lo), a_hi = v_load(p0 + 16, 0, in_hi);
            const __m512 b_lo = v_load(p1, 0, in_lo), b_hi = v_load(p1 + 16, 0, in_hi);
            const __m512 c00 = _mm512_permutex2var_ps(a_lo, even, a_hi);
            const __m512 c01 = _mm512_permutex2var_ps(a_lo, odd, a_hi);
            const __m512 c10 = _mm512_permutex2var_ps(b_lo, even, b_hi);
            const __m512 c11 = _mm512_permutex2var_ps(b_lo, odd, b_hi);
            /* lane t: input column 2t of the chunk */
            const __m512i base = _mm512_add_epi32(even, _mm512_set1_epi32(2 * oy * W + 2 * ox0));
            __m512 best = c00;
            __m512i idx = base;
            __mmask16 m = _mm512_cmp_ps_mask(c01, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, m, c01);
            idx = _mm512_mask_add_epi32(idx, m, base, _mm512_set1_epi32(1));
            m = _mm512_cmp_ps_mask(c10, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, m, c10);
            idx = _mm512_mask_add_epi32(idx, m, base, _mm512_set1_epi32(W));
            m = _mm512_cmp_ps_mask(c11, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, m, c11);
            idx = _mm512_mask_add_epi32(idx, m, base, _mm512_set1_epi32(W + 1));
            const __mmask16 out_lanes = lane_mask(0, n);
            _mm512_mask_storeu_ps(o + oy * s->out_w + ox0, out_lanes, best);
            _mm512_mask_storeu_epi32(a + oy * s->out_w + ox0, out_lanes, idx);
        }
    }
}
#else
/* The same with 8 outputs at a time: the even and odd columns of 16 input
 * floats come from a shuffle within 128-bit lanes and a cross-lane
 * permute; partial chunks use masked loads and stores. */
static void maxpool2x2_plane(float *o, int32_t *a, const float *x, const nn_conv_shape *s) {
    const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const int W = s->in_w;
    for (int oy = 0; oy < s->out_h; oy++) {
        const float *r0 = x + (long)(2 * oy) * W, *r1 = r0 + W;
        for (int ox0 = 0; ox0 < s->out_w; ox0 += 8) {
            const int n = s->out_w - ox0 < 8 ? s->out_w - ox0 : 8;
            const int in_lo = 2 * n < 8 ? 2 * n : 8, in_hi = 2 * n - in_lo;
            const __m256i m_lo = half_mask(0, in_lo, 0), m_hi = half_mask(0, in_hi, 0);
            const float *p0 = r0 + 2 * ox0, *p1 = r1 + 2 * ox0;
            const __m256 a_lo = _mm256_maskload_ps(p0, m_lo), a_hi = _mm256_maskload_ps(p0 + 8, m_hi);
            const __m256 b_lo = _mm256_maskload_ps(p1, m_lo), b_hi = _mm256_maskload_ps(p1 + 8, m_hi);
            /* shuffle: [0 2 8 10 | 4 6 12 14], the permute puts them in order */
            const __m256 c00 = _mm256_castpd_ps(_mm256_permute4x64_pd(
                _mm256_castps_pd(_mm256_shuffle_ps(a_lo, a_hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xd8));
            const __m256 c01 = _mm256_castpd_ps(_mm256_permute4x64_pd(
                _mm256_castps_pd(_mm256_shuffle_ps(a_lo, a_hi, _MM_SHUFFLE(3, 1, 3, 1))), 0xd8));
            const __m256 c10 = _mm256_castpd_ps(_mm256_permute4x64_pd(
                _mm256_castps_pd(_mm256_shuffle_ps(b_lo, b_hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xd8));
            const __m256 c11 = _mm256_castpd_ps(_mm256_permute4x64_pd(
                _mm256_castps_pd(_mm256_shuffle_ps(b_lo, b_hi, _MM_SHUFFLE(3, 1, 3, 1))), 0xd8));
            const __m256i base = _mm256_add_epi32(even, _mm256_set1_epi32(2 * oy * W + 2 * ox0));
            /* in window order; strict > keeps the first maximum (PyTorch) */
            __m256 best = c00;
            __m256i idx = base;
            const __m256 cand[3] = {c01, c10, c11};
            const int step[3] = {1, W, W + 1};
            for (int j = 0; j < 3; j++) {
                const __m256 gt = _mm256_cmp_ps(cand[j], best, _CMP_GT_OQ);
                best = _mm256_blendv_ps(best, cand[j], gt);
                idx = _mm256_blendv_epi8(idx, _mm256_add_epi32(base, _mm256_set1_epi32(step[j])),
                                         _mm256_castps_si256(gt));
            }
            const __m256i out_lanes = half_mask(0, n, 0);
            _mm256_maskstore_ps(o + oy * s->out_w + ox0, out_lanes, best);
            _mm256_maskstore_epi32(a + oy * s->out_w + ox0, out_lanes, idx);
        }
    }
}
#endif

const nn_kernels NN_KERNELS = {
    .conv2d_backward_sparse = conv_backward_sparse,
    .conv2d_weight_grad_small = conv_weight_grad_small,
    .count_nonzero = count_nonzero,
    .maxpool2x2_plane = maxpool2x2_plane,
};
