/* conv2d.c - Conv2d: kernels (nn_layers.h) and its layer table entry. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"
#include "nn/simd.h"

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

/* ---- the layer ------------------------------------------------------------- */

static int conv_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err) {
    (void)word;
    if (a->n == 0 || a->keys[0][0] != '\0')
        return nn_layer_error(a, err, "conv needs (out_channels, k=K)");
    return nn_arg_int(a, 0, "out", 0, 1, &l->out_c, err) ||
           nn_arg_int(a, 1, "k", 0, 1, &l->k, err) ||
           nn_arg_int(a, 2, "s", 1, 1, &l->stride, err) ||
           nn_arg_int(a, 3, "p", 0, 0, &l->pad, err);
}

static int conv_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    if (nn_window_shape(l, a, err)) return -1;
    if ((double)l->out_c * l->in_c * l->k * l->k > (1 << 28))
        return nn_layer_error(a, err, "too many weights");
    l->weight_size = (long)l->out_c * l->in_c * l->k * l->k;
    l->bias_size = l->out_c;
    return 0;
}

static void conv_describe(const nn_layer *l, char *buf, size_t cap) {
    snprintf(buf, cap, "%s=conv(%d,k=%d,s=%d,p=%d)", l->name, l->out_c, l->k, l->stride, l->pad);
}

static int conv_weight_shape(const nn_layer *l, int64_t shape[4]) {
    shape[0] = l->out_c;
    shape[1] = l->in_c;
    shape[2] = shape[3] = l->k;
    return 4;
}

static void conv_init(nn_layer *l, float *weight, float *bias, float *buffers, uint64_t seed,
                      int index) {
    (void)buffers;
    nn_init_fan_in(l, weight, bias, (long)l->in_c * l->k * l->k, seed, index);
}

static void conv_workspace(const nn_layer *l, int chunk, int train_chunk, nn_workspace *ws) {
    (void)chunk;
    (void)train_chunk;
    const nn_conv_shape s = nn_shape_of(l);
    ws->scratch_floats = nn_conv2d_scratch_floats(&s);
}

static const float *conv_forward(nn_run *r, const float *in, float *out) {
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_conv2d_forward(out, r->scratch, in, r->weight, r->bias, r->n, &s);
    return out;
}

static const float *conv_backward(nn_run *r, const float *dout, float *din, const float *in,
                                  const float *out) {
    (void)out;
    const nn_conv_shape s = nn_shape_of(r->layer);
    nn_conv2d_backward(din, r->dweight, r->dbias, r->scratch, dout, in, r->weight, r->n, &s);
    return din;
}

const nn_layer_type nn_conv2d_type = {
    .words = {"conv"},
    .prefix = "conv",
    .parse = conv_parse,
    .shape = conv_shape,
    .describe = conv_describe,
    .weight_shape = conv_weight_shape,
    .init = conv_init,
    .workspace = conv_workspace,
    .forward = conv_forward,
    .backward = conv_backward,
};
