/* maxpool2d.c - MaxPool2d: kernels (nn_layers.h) and its layer table entry. */
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"
#include "nn/simd.h"

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


/* ---- the layer ------------------------------------------------------------- */

static void maxpool_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "maxpool(%d,s=%d)", l->k, l->stride);
}

/* Which input fed each output of a chunk. */
static void maxpool_workspace(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws) {
    (void)train_chunk;
    ws->bytes = sizeof(int32_t) * (size_t)chunk * (size_t)nn_layer_out_size(l);
}

static const float *maxpool_forward(nn_run *r, const float *in, float *out) {
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_maxpool2d_forward(out, r->ws, in, r->n, &s);
    return out;
}

static const float *maxpool_backward(nn_run *r, const float *dout, float *din, const float *in,
                                     const float *out) {
    (void)in;
    (void)out;
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_maxpool2d_backward(din, dout, r->ws, r->n, &s);
    return din;
}

const nn_layer_type nn_maxpool2d_type = {
    .words = {"maxpool"},
    .parse = nn_pool_parse,
    .shape = nn_window_shape,
    .describe = maxpool_describe,
    .workspace = maxpool_workspace,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};
