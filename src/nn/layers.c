/* layers.c - forward/backward kernels of every layer (see nn_layers.h). */
#include "cassnn/nn_layers.h"

#include <cblas.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <float.h>
#include <math.h>
#include <string.h>

/* ---- 16-lane vectors --------------------------------------------------------
 * The conv kernels work on short spans (a kernel row of k floats, an output
 * row of out_w floats). These helpers load and store lanes [lo, hi) of a
 * 16-float vector: masked AVX-512 instructions where available (masked-off
 * lanes are never accessed), plain loops otherwise. */
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

/* ---- Conv2d ---------------------------------------------------------------------
 * Forward: without stride or padding, a direct convolution vectorised along
 * output rows and register-blocked over output channels (for these small
 * images it beats im2row + sgemm, which spends its time copying and
 * packing); else im2row + one sgemm per block of NN_CONV_BLOCK images.
 * Backward: when most output gradients are zero (after max-pool, ReLU and
 * dropout), only the non-zero ones are visited, reading windows straight
 * from the input; otherwise sgemm: dweight from im2row patches, din =
 * col2im(weight^T * dout). Nothing is kept from the forward pass but its
 * input. */

static int row_count(const nn_conv_shape *s) { return s->in_c * s->k * s->k; }
static int positions_of(const nn_conv_shape *s) { return s->out_h * s->out_w; }
static int use_direct(const nn_conv_shape *s) { return s->stride == 1 && s->pad == 0; }
/* the sparse weight-gradient path reads k-wide input windows as one vector */
static int use_window_path(const nn_conv_shape *s) {
    return s->stride == 1 && s->pad == 0 && s->k <= 16;
}

long nn_conv2d_scratch_floats(const nn_conv_shape *s) {
    const long positions = positions_of(s), row = row_count(s);
    const long forward = use_direct(s) ? 0 : NN_CONV_BLOCK * positions * (row + s->out_c);
    /* backward: patches of one image and weight^T*dout (dense path), or the
     * non-zero lists (sparse path) */
    const long dense = positions * row * 2;
    const long sparse = 2 * positions + 4L * s->out_c * positions + 2L * s->out_h + 1;
    const long backward = dense > sparse ? dense : sparse;
    return forward > backward ? forward : backward;
}

/* patches[p][(c*k + ky)*k + kx] = in[c][oy*stride - pad + ky][ox*stride - pad + kx]
 * (0 outside the image), p = oy*out_w + ox. */
static void im2row(float *patches, const float *in, const nn_conv_shape *s) {
    const int k = s->k, kk = k * k, row = row_count(s);
    for (int oy = 0; oy < s->out_h; oy++) {
        for (int ox = 0; ox < s->out_w; ox++) {
            float *dst = patches + (long)(oy * s->out_w + ox) * row;
            const int y0 = oy * s->stride - s->pad, x0 = ox * s->stride - s->pad;
            const int inside = x0 >= 0 && x0 + k <= s->in_w && y0 >= 0 && y0 + k <= s->in_h;
            for (int c = 0; c < s->in_c; c++) {
                const float *plane = in + (long)c * s->in_h * s->in_w;
                for (int ky = 0; ky < k; ky++) {
                    const int y = y0 + ky;
                    float *d = dst + c * kk + ky * k;
                    if (inside && k <= 16) {
                        v_store(d, v_load(plane + (long)y * s->in_w + x0, 0, k), k);
                        continue;
                    }
                    for (int kx = 0; kx < k; kx++) {
                        const int x = x0 + kx;
                        d[kx] = (y >= 0 && y < s->in_h && x >= 0 && x < s->in_w)
                                    ? plane[(long)y * s->in_w + x]
                                    : 0.0f;
                    }
                }
            }
        }
    }
}

/* din[c][y][x] = sum over (ky, kx) of dcol[(c*k + ky)*k + kx][oy*out_w + ox]
 * where (y, x) = (oy*stride - pad + ky, ox*stride - pad + kx). */
static void col2im(float *din, const float *dcol, const nn_conv_shape *s) {
    const int k = s->k, P = positions_of(s);
    if (s->stride != 1) {
        memset(din, 0, sizeof(float) * (size_t)s->in_c * s->in_h * s->in_w);
        for (int c = 0; c < s->in_c; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    const float *src = dcol + (long)((c * k + ky) * k + kx) * P;
                    for (int oy = 0; oy < s->out_h; oy++) {
                        const int y = oy * s->stride - s->pad + ky;
                        if (y < 0 || y >= s->in_h) continue;
                        float *d = din + ((long)c * s->in_h + y) * s->in_w;
                        for (int ox = 0; ox < s->out_w; ox++) {
                            const int x = ox * s->stride - s->pad + kx;
                            if (x >= 0 && x < s->in_w) d[x] += src[oy * s->out_w + ox];
                        }
                    }
                }
        return;
    }
    /* Stride 1: each input row is one register accumulator; the term of
     * (ky, kx) is a contiguous run of a dcol row, loaded shifted by kx into
     * the lanes it covers. Every din value is written once: no read-modify-
     * write chains through memory. */
    for (int c = 0; c < s->in_c; c++)
        for (int y = 0; y < s->in_h; y++)
            for (int x0 = 0; x0 < s->in_w; x0 += 16) {
                const int lanes = s->in_w - x0 < 16 ? s->in_w - x0 : 16;
                vec16 acc = v_zero();
                for (int ky = 0; ky < k; ky++) {
                    const int oy = y + s->pad - ky;
                    if (oy < 0 || oy >= s->out_h) continue;
                    for (int kx = 0; kx < k; kx++) {
                        /* lane t holds x = x0 + t, i.e. ox = off + t */
                        const int off = x0 + s->pad - kx;
                        const int lo = off < 0 ? -off : 0;
                        const int hi = s->out_w - off < lanes ? s->out_w - off : lanes;
                        if (lo >= hi) continue;
                        const float *src = dcol + (long)((c * k + ky) * k + kx) * P + oy * s->out_w;
                        /* src + off + t is only dereferenced for lanes lo..hi-1 */
                        acc = v_add(acc, v_load(src + off, lo, hi));
                    }
                }
                v_store(din + ((long)c * s->in_h + y) * s->in_w + x0, acc, lanes);
            }
}

#define DIRECT_GROUP_MAX 12

/* Direct convolution of one image for output channels [oc0, oc0 + G): each
 * input vector is loaded once and feeds G register accumulators. G is a
 * compile-time constant at every call (see conv_forward_direct), so the
 * accumulator array lives in registers. A vector covers 16 outputs of one
 * row, or several whole rows when rows are at most 8 wide (8x8 outputs:
 * two rows per vector instead of half-empty vectors). */
static inline __attribute__((always_inline)) void
conv_direct_group(float *out, const float *in, const float *weight, const float *bias, int oc0,
                  const nn_conv_shape *s, const int G) {
    const int k = s->k, row = row_count(s), OW = s->out_w, W = s->in_w;
    const int rows_per = OW <= 8 ? 16 / OW : 1;
    for (int oy = 0; oy < s->out_h; oy += rows_per) {
        const int rows = s->out_h - oy < rows_per ? s->out_h - oy : rows_per;
        for (int x0 = 0; x0 < OW; x0 += 16) {
            const int width = OW - x0 < 16 ? OW - x0 : 16;
            vec16 acc[DIRECT_GROUP_MAX];
            for (int u = 0; u < G; u++) acc[u] = v_set(bias[oc0 + u]);
            for (int c = 0; c < s->in_c; c++)
                for (int ky = 0; ky < k; ky++) {
                    const float *src = in + ((long)c * s->in_h + oy + ky) * W + x0;
                    const int r0 = (c * k + ky) * k;
                    for (int kx = 0; kx < k; kx++) {
                        vec16 x = v_load(src + kx, 0, width);
                        /* lanes of output row oy+rr come from input row oy+rr+ky */
                        for (int rr = 1; rr < rows; rr++)
                            x = v_load_into(x, src + kx + rr * (W - width), rr * width,
                                            (rr + 1) * width);
                        for (int u = 0; u < G; u++)
                            acc[u] = v_fma(acc[u], weight[(long)(oc0 + u) * row + r0 + kx], x);
                    }
                }
            /* whole rows (rows > 1 means x0 == 0, width == OW) are contiguous */
            for (int u = 0; u < G; u++)
                v_store(out + ((long)(oc0 + u) * s->out_h + oy) * OW + x0, acc[u], rows * width);
        }
    }
}

static void conv_forward_direct(float *out, const float *in, const float *weight,
                                const float *bias, const nn_conv_shape *s) {
    const int groups = (s->out_c + DIRECT_GROUP_MAX - 1) / DIRECT_GROUP_MAX;
    const int size = (s->out_c + groups - 1) / groups;
    for (int oc0 = 0; oc0 < s->out_c; oc0 += size) {
        const int g = s->out_c - oc0 < size ? s->out_c - oc0 : size;
        switch (g) {
#define GROUP_CASE(n) \
    case n: conv_direct_group(out, in, weight, bias, oc0, s, n); break;
            GROUP_CASE(1) GROUP_CASE(2) GROUP_CASE(3) GROUP_CASE(4) GROUP_CASE(5) GROUP_CASE(6)
            GROUP_CASE(7) GROUP_CASE(8) GROUP_CASE(9) GROUP_CASE(10) GROUP_CASE(11) GROUP_CASE(12)
#undef GROUP_CASE
        }
    }
}

void nn_conv2d_forward(float *out, float *scratch, const float *in, const float *weight,
                       const float *bias, int n, const nn_conv_shape *s) {
    const int positions = positions_of(s), row = row_count(s);
    const long in_size = (long)s->in_c * s->in_h * s->in_w;
    const long out_size = (long)s->out_c * positions;
    if (use_direct(s)) {
        for (int i = 0; i < n; i++)
            conv_forward_direct(out + i * out_size, in + i * in_size, weight, bias, s);
        return;
    }
    float *patches = scratch;
    float *gemm_out = scratch + (long)NN_CONV_BLOCK * positions * row;
    for (int b0 = 0; b0 < n; b0 += NN_CONV_BLOCK) {
        const int nb = n - b0 < NN_CONV_BLOCK ? n - b0 : NN_CONV_BLOCK;
        for (int i = 0; i < nb; i++)
            im2row(patches + (long)i * positions * row, in + (b0 + i) * in_size, s);
        /* gemm_out[oc][i*positions + q] = sum_r weight[oc][r] * patches[i*positions + q][r]:
         * the whole block in one sgemm */
        const int cols = nb * positions;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->out_c, cols, row, 1.0f, weight,
                    row, patches, row, 0.0f, gemm_out, cols);
        for (int i = 0; i < nb; i++)
            for (int oc = 0; oc < s->out_c; oc++) {
                const float *src = gemm_out + (long)oc * cols + (long)i * positions;
                float *dst = out + (b0 + i) * out_size + (long)oc * positions;
                const float b = bias[oc];
                for (int q = 0; q < positions; q++) dst[q] = src[q] + b;
            }
    }
}

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

void nn_conv2d_backward(float *din, float *dweight, float *dbias, float *scratch,
                        const float *dout, const float *in, const float *weight, int n,
                        const nn_conv_shape *s) {
    const int P = positions_of(s), row = row_count(s);
    const long in_size = (long)s->in_c * s->in_h * s->in_w;
    const long out_size = (long)s->out_c * P;
    for (int i = 0; i < n; i++) {
        const float *g = dout + i * out_size;
        const float *x = in + i * in_size;
        long nonzero = 0;
        for (long j = 0; j < out_size; j += 16)
            nonzero += __builtin_popcount(nonzero_bits(g + j, out_size - j < 16 ? (int)(out_size - j) : 16));
        /* sparse: ~k*k vector FMAs per non-zero; dense: a BLAS pass over all */
        if (use_window_path(s) && nonzero * 4 < out_size) {
            float *dx = din ? din + i * in_size : NULL;
            conv_backward_sparse(dx, dweight, dbias, scratch, g, x, weight, s);
            continue;
        }
        for (int oc = 0; oc < s->out_c; oc++) {
            float db = 0.0f;
            for (int q = 0; q < P; q++) db += g[(long)oc * P + q];
            dbias[oc] += db;
        }
        im2row(scratch, x, s);
        /* dweight[oc][r] += sum_p dout[oc][p] * patches[p][r] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->out_c, row, P, 1.0f, g, P,
                    scratch, row, 1.0f, dweight, row);
        if (din) {
            /* dcol[r][p] = sum_oc weight[oc][r] * dout[oc][p] */
            float *dcol = scratch + (long)P * row;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, row, P, s->out_c, 1.0f, weight,
                        row, g, P, 0.0f, dcol, P);
            col2im(din + i * in_size, dcol, s);
        }
    }
}

/* ---- pooling ------------------------------------------------------------- */

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
#endif

void nn_maxpool2d_forward(float *out, int32_t *argmax, const float *in, int n,
                          const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * in_plane;
        float *o = out + pl * out_plane;
        int32_t *a = argmax + pl * out_plane;
#ifdef __AVX512F__
        if (s->k == 2 && s->stride == 2) {
            maxpool2x2_plane(o, a, x, s);
            continue;
        }
#endif
        for (int oy = 0; oy < s->out_h; oy++) {
            for (int ox = 0; ox < s->out_w; ox++) {
                const int y0 = oy * s->stride, x0 = ox * s->stride;
                int best_i = y0 * s->in_w + x0;
                float best = x[best_i];
                for (int ky = 0; ky < s->k; ky++) {
                    for (int kx = 0; kx < s->k; kx++) {
                        const int idx = (y0 + ky) * s->in_w + x0 + kx;
                        /* strict > keeps the first maximum, as PyTorch does;
                         * selects, not branches: which element wins is random */
                        const int take = x[idx] > best;
                        best = take ? x[idx] : best;
                        best_i = take ? idx : best_i;
                    }
                }
                o[oy * s->out_w + ox] = best;
                a[oy * s->out_w + ox] = best_i;
            }
        }
    }
}

void nn_maxpool2d_backward(float *din, const float *dout, const int32_t *argmax, int n,
                           const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    memset(din, 0, sizeof(float) * (size_t)(planes * in_plane));
    for (long pl = 0; pl < planes; pl++) {
        float *d = din + pl * in_plane;
        const float *g = dout + pl * out_plane;
        const int32_t *a = argmax + pl * out_plane;
        for (long q = 0; q < out_plane; q++) d[a[q]] += g[q];
    }
}

void nn_avgpool2d_forward(float *out, const float *in, int n, const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    const float inv = 1.0f / (float)(s->k * s->k);
    for (long pl = 0; pl < planes; pl++) {
        const float *x = in + pl * in_plane;
        float *o = out + pl * out_plane;
        for (int oy = 0; oy < s->out_h; oy++) {
            for (int ox = 0; ox < s->out_w; ox++) {
                float sum = 0.0f;
                for (int ky = 0; ky < s->k; ky++)
                    for (int kx = 0; kx < s->k; kx++)
                        sum += x[(oy * s->stride + ky) * s->in_w + ox * s->stride + kx];
                o[oy * s->out_w + ox] = sum * inv;
            }
        }
    }
}

void nn_avgpool2d_backward(float *din, const float *dout, int n, const nn_conv_shape *s) {
    const long in_plane = (long)s->in_h * s->in_w, out_plane = (long)s->out_h * s->out_w;
    const long planes = (long)n * s->in_c;
    const float inv = 1.0f / (float)(s->k * s->k);
    memset(din, 0, sizeof(float) * (size_t)(planes * in_plane));
    for (long pl = 0; pl < planes; pl++) {
        float *d = din + pl * in_plane;
        const float *g = dout + pl * out_plane;
        for (int oy = 0; oy < s->out_h; oy++)
            for (int ox = 0; ox < s->out_w; ox++) {
                const float v = g[oy * s->out_w + ox] * inv;
                for (int ky = 0; ky < s->k; ky++)
                    for (int kx = 0; kx < s->k; kx++)
                        d[(oy * s->stride + ky) * s->in_w + ox * s->stride + kx] += v;
            }
    }
}

/* ---- element-wise --------------------------------------------------------- */

void nn_relu_forward(float *out, const float *in, long count) {
    for (long i = 0; i < count; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void nn_relu_backward(float *din, const float *dout, const float *out, long count) {
    for (long i = 0; i < count; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void nn_dropout_mask(float *mask, long count, float p, nn_rng *rng) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < count; i++) mask[i] = nn_rng_uniform(rng) < p ? 0.0f : scale;
}

void nn_dropout_forward(float *out, const float *in, const float *mask, long count, long inner) {
    for (long m = 0; m < count / inner; m++)
        for (long j = 0; j < inner; j++) out[m * inner + j] = in[m * inner + j] * mask[m];
}

void nn_dropout_backward(float *din, const float *dout, const float *mask, long count,
                         long inner) {
    for (long m = 0; m < count / inner; m++)
        for (long j = 0; j < inner; j++) din[m * inner + j] = dout[m * inner + j] * mask[m];
}

/* ---- Linear ---------------------------------------------------------------- */

void nn_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                       int n, int in_f, int out_f) {
    for (int i = 0; i < n; i++) memcpy(out + (long)i * out_f, bias, sizeof(float) * (size_t)out_f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_f, in_f, 1.0f, in, in_f, weight,
                in_f, 1.0f, out, out_f);
}

void nn_linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                        const float *in, const float *weight, int n, int in_f, int out_f) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out_f; o++) dbias[o] += dout[(long)i * out_f + o];
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_f, in_f, n, 1.0f, dout, out_f, in,
                in_f, 1.0f, dweight, in_f);
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_f, out_f, 1.0f, dout, out_f,
                    weight, in_f, 0.0f, din, in_f);
}

/* ---- BatchNorm2d ------------------------------------------------------------
 * Sums in double: the variance comes from E[x^2] - mean^2, which loses
 * nothing in double for float inputs, and one pass (one barrier in nn_exec)
 * is enough. */

void nn_bn_sums(double *sums, const float *in, int n, int c, long plane) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *x = in + ((long)i * c + ch) * plane;
            double sum = 0.0, squares = 0.0;
            for (long j = 0; j < plane; j++) {
                sum += x[j];
                squares += (double)x[j] * x[j];
            }
            sums[ch] += sum;
            sums[c + ch] += squares;
        }
}

void nn_bn_batch_stats(float *mean_invstd, float *running, const double *sums, long count,
                       int c, float eps, float momentum) {
    for (int ch = 0; ch < c; ch++) {
        const double mean = sums[ch] / (double)count;
        double var = sums[c + ch] / (double)count - mean * mean;
        if (var < 0.0) var = 0.0;
        mean_invstd[ch] = (float)mean;
        mean_invstd[c + ch] = (float)(1.0 / sqrt(var + eps));
        if (running) {
            /* PyTorch raises an error for count 1; here the biased
             * variance stands in for the undefined unbiased one */
            const double unbiased = count > 1 ? var * (double)count / (double)(count - 1) : var;
            running[ch] = (1.0f - momentum) * running[ch] + momentum * (float)mean;
            running[c + ch] = (1.0f - momentum) * running[c + ch] + momentum * (float)unbiased;
        }
    }
}

void nn_bn_running_stats(float *mean_invstd, const float *running, int c, float eps) {
    for (int ch = 0; ch < c; ch++) {
        mean_invstd[ch] = running[ch];
        mean_invstd[c + ch] = (float)(1.0 / sqrt((double)running[c + ch] + eps));
    }
}

void nn_bn_forward(float *out, const float *in, const float *mean_invstd, const float *weight,
                   const float *bias, int n, int c, long plane) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const long off = ((long)i * c + ch) * plane;
            const float scale = mean_invstd[c + ch] * weight[ch];
            const float shift = bias[ch] - mean_invstd[ch] * scale;
            for (long j = 0; j < plane; j++) out[off + j] = in[off + j] * scale + shift;
        }
}

void nn_bn_grad_sums(double *sums, const float *dout, const float *in, const float *mean_invstd,
                     int n, int c, long plane) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const long off = ((long)i * c + ch) * plane;
            const float mean = mean_invstd[ch];
            double sum = 0.0, dot = 0.0;
            for (long j = 0; j < plane; j++) {
                sum += dout[off + j];
                dot += (double)dout[off + j] * (in[off + j] - mean);
            }
            sums[ch] += sum;
            sums[c + ch] += dot;
        }
}

void nn_bn_backward(float *din, float *dweight, float *dbias, const double *sums,
                    const float *dout, const float *in, const float *mean_invstd,
                    const float *weight, long count, int n, int c, long plane) {
    if (dweight)
        for (int ch = 0; ch < c; ch++) {
            dweight[ch] += (float)(sums[c + ch] * mean_invstd[c + ch]);
            dbias[ch] += (float)sums[ch];
        }
    if (!din) return;
    for (int ch = 0; ch < c; ch++) {
        const float mean = mean_invstd[ch], invstd = mean_invstd[c + ch];
        /* d/dx of w*(x - mean)*invstd + b with mean and invstd functions of
         * the whole batch: dx = w*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)) */
        const float dy_mean = (float)(sums[ch] / (double)count);
        const float k = (float)(sums[c + ch] / (double)count) * invstd * invstd;
        const float scale = invstd * weight[ch];
        for (int i = 0; i < n; i++) {
            const long off = ((long)i * c + ch) * plane;
            for (long j = 0; j < plane; j++)
                din[off + j] = (dout[off + j] - dy_mean - (in[off + j] - mean) * k) * scale;
        }
    }
}

/* ---- LogSoftmax + NLL ------------------------------------------------------ */

void nn_logsoftmax_forward(float *out, const float *in, int n, int classes) {
    for (int i = 0; i < n; i++) {
        const float *x = in + (long)i * classes;
        float *o = out + (long)i * classes;
        float max = -FLT_MAX;
        for (int c = 0; c < classes; c++) max = x[c] > max ? x[c] : max;
        double sum = 0.0;
        for (int c = 0; c < classes; c++) sum += exp((double)(x[c] - max));
        const float log_sum = (float)log(sum) + max;
        for (int c = 0; c < classes; c++) o[c] = x[c] - log_sum;
    }
}

void nn_logsoftmax_backward(float *din, const float *dout, const float *out, int n,
                            int classes) {
    for (int i = 0; i < n; i++) {
        const float *g = dout + (long)i * classes;
        const float *o = out + (long)i * classes;
        float *d = din + (long)i * classes;
        float sum = 0.0f;
        for (int c = 0; c < classes; c++) sum += g[c];
        for (int c = 0; c < classes; c++) d[c] = g[c] - expf(o[c]) * sum;
    }
}

double nn_nll_loss(float *dlogp, const float *logp, const int32_t *labels, int n, int classes,
                   float scale) {
    double loss = 0.0;
    if (dlogp) memset(dlogp, 0, sizeof(float) * (size_t)n * (size_t)classes);
    for (int i = 0; i < n; i++) {
        loss -= logp[(long)i * classes + labels[i]];
        if (dlogp) dlogp[(long)i * classes + labels[i]] = -scale;
    }
    return loss;
}
