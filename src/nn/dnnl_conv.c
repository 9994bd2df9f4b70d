/* dnnl_conv.c - Conv2d's dense kernels through oneDNN (see dnnl_conv.h). */
#include "nn/dnnl_conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/dnnl.h"

/* Plans kept per object: more chunk sizes than a run uses (training chunk,
 * its last batch's, evaluation chunk and its last batch's). */
#define MAX_PLANS 6

/* What an argument of a primitive is to cassnn. */
enum view_dir {
    VIEW_IN,       /* read: reordered into the primitive's layout when it differs */
    VIEW_OUT,      /* written: reordered back when the layout differs */
    VIEW_OUT_ADD,  /* written, then ADDED to the caller's tensor (gradients accumulate) */
};

/* One argument of a primitive: the caller's tensor in cassnn's layout and,
 * when the primitive wants another (or the result is added), a buffer in
 * its layout and the reorder between them. */
typedef struct view {
    enum view_dir dir;
    dnnl_memory_t user;        /* around the caller's pointer, set per call */
    dnnl_memory_t prim;        /* NULL: the primitive uses the caller's tensor as it is */
    dnnl_primitive_t reorder;
    void *buf;
} view;

/* The primitives for chunks of n images. */
typedef struct plan {
    int n;
    unsigned long last_use;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    view f_src, f_weight, f_bias, f_dst;
    view d_ddst, d_weight, d_dsrc;
    view w_src, w_ddst, w_dweight, w_dbias;
    void *scratchpad;          /* the largest of the three primitives' */
    dnnl_memory_t f_scratch, d_scratch, w_scratch;
} plan;

struct nn_dnnl_conv {
    nn_conv_shape s;
    dnnl_stream_t stream;
    unsigned long uses;
    int n_plans;
    plan plans[MAX_PLANS];
};

#define TRY(call)                                                                         \
    do {                                                                                  \
        const dnnl_status_t st_ = (call);                                                 \
        if (st_ != dnnl_success)                                                          \
            return cassnn_err_set(err, "oneDNN: %s failed (status %d)", #call, (int)st_); \
    } while (0)

/* An unrecoverable failure inside a training or inference step (oneDNN
 * out of memory): the step has no way to return an error. */
static void check_run(dnnl_status_t st, const char *what) {
    if (st == dnnl_success) return;
    fprintf(stderr, "cassnn: oneDNN %s failed (status %d)\n", what, (int)st);
    abort();
}

static void *alloc_bytes(size_t bytes) {
    return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
}

static int view_init(view *v, enum view_dir dir, const dnnl_memory_desc_t *user_md,
                     const dnnl_memory_desc_t *prim_md, cassnn_err *err) {
    v->dir = dir;
    TRY(dnnl_memory_create(&v->user, user_md, nn_dnnl_engine(), DNNL_MEMORY_NONE));
    if (dir != VIEW_OUT_ADD && dnnl_memory_desc_equal(user_md, prim_md)) return 0;
    if (!(v->buf = alloc_bytes(dnnl_memory_desc_get_size(prim_md))))
        return cassnn_err_set(err, "oneDNN: out of memory for a reorder buffer");
    TRY(dnnl_memory_create(&v->prim, prim_md, nn_dnnl_engine(), v->buf));
    dnnl_primitive_attr_t attr = NULL;
    if (dir == VIEW_OUT_ADD) {
        dnnl_post_ops_t ops;
        TRY(dnnl_primitive_attr_create(&attr));
        TRY(dnnl_post_ops_create(&ops));
        TRY(dnnl_post_ops_append_sum(ops, 1.0f));
        TRY(dnnl_primitive_attr_set_post_ops(attr, ops));
        dnnl_post_ops_destroy(ops);
    }
    dnnl_primitive_desc_t pd;
    const dnnl_status_t st =
        dir == VIEW_IN ? dnnl_reorder_primitive_desc_create(&pd, user_md, nn_dnnl_engine(), prim_md, nn_dnnl_engine(), attr)
                       : dnnl_reorder_primitive_desc_create(&pd, prim_md, nn_dnnl_engine(), user_md, nn_dnnl_engine(), attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    TRY(st);
    const dnnl_status_t created = dnnl_primitive_create(&v->reorder, pd);
    dnnl_primitive_desc_destroy(pd);
    TRY(created);
    return 0;
}

static void view_free(view *v) {
    if (v->reorder) dnnl_primitive_destroy(v->reorder);
    if (v->prim) dnnl_memory_destroy(v->prim);
    if (v->user) dnnl_memory_destroy(v->user);
    free(v->buf);
}

static void reorder(dnnl_stream_t stream, view *v) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, v->dir == VIEW_IN ? v->user : v->prim},
                               {DNNL_ARG_TO, v->dir == VIEW_IN ? v->prim : v->user}};
    check_run(dnnl_primitive_execute(v->reorder, stream, 2, args), "reorder");
}

/* The memory to pass for the caller's tensor p (reordered when an input). */
static dnnl_memory_t view_bind(dnnl_stream_t stream, view *v, const void *p) {
    check_run(dnnl_memory_set_data_handle_v2(v->user, (void *)p, stream), "set handle");
    if (!v->prim) return v->user;
    if (v->dir == VIEW_IN) reorder(stream, v);
    return v->prim;
}

/* After the primitive: an output in its own layout goes back (or is added). */
static void view_finish(dnnl_stream_t stream, view *v) {
    if (v->prim) reorder(stream, v);
}

static int md_init(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                   dnnl_format_tag_t tag, cassnn_err *err) {
    TRY(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
    return 0;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

/* The bias: the second weights-like argument. */
static const dnnl_memory_desc_t *query_bias(const_dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 1);
}

/* A primitive from its descriptor, with a user-managed scratchpad of
 * *scratch_bytes (the largest so far is kept). */
static int make_primitive(dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim, const void *desc,
                          const_dnnl_primitive_desc_t hint, size_t *scratch_bytes,
                          cassnn_err *err) {
    dnnl_primitive_attr_t attr;
    TRY(dnnl_primitive_attr_create(&attr));
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    const dnnl_status_t st = dnnl_primitive_desc_create(pd, desc, attr, nn_dnnl_engine(), hint);
    dnnl_primitive_attr_destroy(attr);
    TRY(st);
    TRY(dnnl_primitive_create(prim, *pd));
    const size_t bytes = dnnl_memory_desc_get_size(query(*pd, dnnl_query_scratchpad_md));
    if (bytes > *scratch_bytes) *scratch_bytes = bytes;
    return 0;
}

/* Descriptors of cassnn's layouts and the primitives' ("any": their choice). */
typedef struct descs {
    dnnl_memory_desc_t src, weight, bias, dst;           /* NCHW, OIHW, X, NCHW */
    dnnl_memory_desc_t any_src, any_weight, any_dst;
    dnnl_dims_t strides, pad;
} descs;

static int descs_init(descs *d, const nn_conv_shape *s, int n, cassnn_err *err) {
    const dnnl_dims_t src = {n, s->in_c, s->in_h, s->in_w};
    const dnnl_dims_t weight = {s->out_c, s->in_c, s->k, s->k};
    const dnnl_dims_t bias = {s->out_c};
    const dnnl_dims_t dst = {n, s->out_c, s->out_h, s->out_w};
    d->strides[0] = d->strides[1] = s->stride;
    d->pad[0] = d->pad[1] = s->pad;
    return md_init(&d->src, 4, src, dnnl_nchw, err) || md_init(&d->weight, 4, weight, dnnl_oihw, err) ||
           md_init(&d->bias, 1, bias, dnnl_x, err) || md_init(&d->dst, 4, dst, dnnl_nchw, err) ||
           md_init(&d->any_src, 4, src, dnnl_format_tag_any, err) ||
           md_init(&d->any_weight, 4, weight, dnnl_format_tag_any, err) ||
           md_init(&d->any_dst, 4, dst, dnnl_format_tag_any, err);
}

/* PyTorch pads the right/bottom edge only as far as whole strides reach. */
static void right_pad(const nn_conv_shape *s, dnnl_dims_t r) {
    r[0] = (long)(s->out_h - 1) * s->stride + s->k - s->in_h - s->pad;
    r[1] = (long)(s->out_w - 1) * s->stride + s->k - s->in_w - s->pad;
}

static int scratch_memory(dnnl_memory_t *m, const_dnnl_primitive_desc_t pd, void *buf,
                          cassnn_err *err) {
    TRY(dnnl_memory_create(m, query(pd, dnnl_query_scratchpad_md), nn_dnnl_engine(), buf));
    return 0;
}

static int plan_build(plan *p, const nn_conv_shape *s, int n, cassnn_err *err) {
    memset(p, 0, sizeof *p);
    p->n = n;
    descs d;
    if (descs_init(&d, s, n, err)) return -1;
    dnnl_dims_t rpad;
    right_pad(s, rpad);
    dnnl_convolution_desc_t fd, bd, wd;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL, wpd = NULL;
    size_t scratch = 0;
    int rc = -1;
    if (dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                           &d.any_src, &d.any_weight, &d.bias, &d.any_dst,
                                           d.strides, d.pad, rpad) != dnnl_success ||
        dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &d.any_src,
                                                 &d.any_weight, &d.any_dst, d.strides, d.pad,
                                                 rpad) != dnnl_success ||
        dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &d.any_src,
                                                    &d.any_weight, &d.bias, &d.any_dst,
                                                    d.strides, d.pad, rpad) != dnnl_success) {
        cassnn_err_set(err, "oneDNN: cannot describe a %dx%d convolution", s->k, s->k);
        goto done;
    }
    if (make_primitive(&fpd, &p->fwd, &fd, NULL, &scratch, err) ||
        make_primitive(&bpd, &p->bwd_data, &bd, fpd, &scratch, err) ||
        make_primitive(&wpd, &p->bwd_weights, &wd, fpd, &scratch, err))
        goto done;
    if (view_init(&p->f_src, VIEW_IN, &d.src, query(fpd, dnnl_query_src_md), err) ||
        view_init(&p->f_weight, VIEW_IN, &d.weight, query(fpd, dnnl_query_weights_md), err) ||
        view_init(&p->f_bias, VIEW_IN, &d.bias, query_bias(fpd, dnnl_query_weights_md), err) ||
        view_init(&p->f_dst, VIEW_OUT, &d.dst, query(fpd, dnnl_query_dst_md), err) ||
        view_init(&p->d_ddst, VIEW_IN, &d.dst, query(bpd, dnnl_query_diff_dst_md), err) ||
        view_init(&p->d_weight, VIEW_IN, &d.weight, query(bpd, dnnl_query_weights_md), err) ||
        view_init(&p->d_dsrc, VIEW_OUT, &d.src, query(bpd, dnnl_query_diff_src_md), err) ||
        view_init(&p->w_src, VIEW_IN, &d.src, query(wpd, dnnl_query_src_md), err) ||
        view_init(&p->w_ddst, VIEW_IN, &d.dst, query(wpd, dnnl_query_diff_dst_md), err) ||
        view_init(&p->w_dweight, VIEW_OUT_ADD, &d.weight, query(wpd, dnnl_query_diff_weights_md),
                  err) ||
        view_init(&p->w_dbias, VIEW_OUT_ADD, &d.bias, query_bias(wpd, dnnl_query_diff_weights_md), err))
        goto done;
    if (!(p->scratchpad = alloc_bytes(scratch))) {
        cassnn_err_set(err, "oneDNN: out of memory for a scratchpad");
        goto done;
    }
    if (scratch_memory(&p->f_scratch, fpd, p->scratchpad, err) ||
        scratch_memory(&p->d_scratch, bpd, p->scratchpad, err) ||
        scratch_memory(&p->w_scratch, wpd, p->scratchpad, err))
        goto done;
    rc = 0;
done:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    return rc;
}

static void plan_free(plan *p) {
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd_data) dnnl_primitive_destroy(p->bwd_data);
    if (p->bwd_weights) dnnl_primitive_destroy(p->bwd_weights);
    view *views[] = {&p->f_src,  &p->f_weight, &p->f_bias, &p->f_dst,     &p->d_ddst, &p->d_weight,
                     &p->d_dsrc, &p->w_src,    &p->w_ddst, &p->w_dweight, &p->w_dbias};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) view_free(views[i]);
    if (p->f_scratch) dnnl_memory_destroy(p->f_scratch);
    if (p->d_scratch) dnnl_memory_destroy(p->d_scratch);
    if (p->w_scratch) dnnl_memory_destroy(p->w_scratch);
    free(p->scratchpad);
    memset(p, 0, sizeof *p);
}

int nn_dnnl_conv_create(nn_dnnl_conv **out, const nn_conv_shape *s, cassnn_err *err) {
    *out = NULL;
    if (!nn_dnnl_engine()) return cassnn_err_set(err, "oneDNN: cannot create a CPU engine");
    nn_dnnl_conv *c = calloc(1, sizeof *c);
    if (!c) return cassnn_err_set(err, "oneDNN: out of memory");
    c->s = *s;
    if (dnnl_stream_create(&c->stream, nn_dnnl_engine(), dnnl_stream_default_flags) != dnnl_success) {
        free(c);
        return cassnn_err_set(err, "oneDNN: cannot create a stream");
    }
    *out = c;
    return 0;
}

void nn_dnnl_conv_free(nn_dnnl_conv *c) {
    if (!c) return;
    for (int i = 0; i < c->n_plans; i++) plan_free(&c->plans[i]);
    dnnl_stream_destroy(c->stream);
    free(c);
}

/* The plan for n images: kept, or built in the least recently used slot. */
static plan *plan_for(nn_dnnl_conv *c, int n, cassnn_err *err) {
    plan *slot = &c->plans[0];
    for (int i = 0; i < c->n_plans; i++) {
        if (c->plans[i].n == n) {
            c->plans[i].last_use = ++c->uses;
            return &c->plans[i];
        }
        if (c->plans[i].last_use < slot->last_use) slot = &c->plans[i];
    }
    if (c->n_plans < MAX_PLANS) slot = &c->plans[c->n_plans++];
    else plan_free(slot);
    if (plan_build(slot, &c->s, n, err)) {
        plan_free(slot);
        slot->n = 0;
        return NULL;
    }
    slot->last_use = ++c->uses;
    return slot;
}

int nn_dnnl_conv_prepare(nn_dnnl_conv *c, int n, cassnn_err *err) {
    if (n <= 0) return 0;
    const int threads = nn_dnnl_single_thread();
    const plan *p = plan_for(c, n, err);
    nn_dnnl_threads_restore(threads);
    return p ? 0 : -1;
}

/* Runs in nn_dnnl_single_thread() mode (the callers below). */
static plan *plan_or_die(nn_dnnl_conv *c, int n) {
    cassnn_err err = {0};
    plan *p = plan_for(c, n, &err);
    if (!p) {
        fprintf(stderr, "cassnn: conv for %d images: %s\n", n, err.msg);
        abort();
    }
    return p;
}

static void run(nn_dnnl_conv *c, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    check_run(dnnl_primitive_execute(prim, c->stream, nargs, args), "convolution");
}

void nn_dnnl_conv_forward(nn_dnnl_conv *c, float *out, const float *in, const float *weight,
                          const float *bias, int n) {
    const int threads = nn_dnnl_single_thread();
    plan *p = plan_or_die(c, n);
    const dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, view_bind(c->stream, &p->f_src, in)},
        {DNNL_ARG_WEIGHTS, view_bind(c->stream, &p->f_weight, weight)},
        {DNNL_ARG_BIAS, view_bind(c->stream, &p->f_bias, bias)},
        {DNNL_ARG_DST, view_bind(c->stream, &p->f_dst, out)},
        {DNNL_ARG_SCRATCHPAD, p->f_scratch}};
    run(c, p->fwd, 5, args);
    view_finish(c->stream, &p->f_dst);
    dnnl_stream_wait(c->stream);
    nn_dnnl_threads_restore(threads);
}

void nn_dnnl_conv_backward_data(nn_dnnl_conv *c, float *din, const float *dout,
                                const float *weight, int n) {
    const int threads = nn_dnnl_single_thread();
    plan *p = plan_or_die(c, n);
    const dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DIFF_DST, view_bind(c->stream, &p->d_ddst, dout)},
        {DNNL_ARG_WEIGHTS, view_bind(c->stream, &p->d_weight, weight)},
        {DNNL_ARG_DIFF_SRC, view_bind(c->stream, &p->d_dsrc, din)},
        {DNNL_ARG_SCRATCHPAD, p->d_scratch}};
    run(c, p->bwd_data, 4, args);
    view_finish(c->stream, &p->d_dsrc);
    dnnl_stream_wait(c->stream);
    nn_dnnl_threads_restore(threads);
}

void nn_dnnl_conv_backward_weights(nn_dnnl_conv *c, float *dweight, float *dbias,
                                   const float *dout, const float *in, int n) {
    const int threads = nn_dnnl_single_thread();
    plan *p = plan_or_die(c, n);
    const dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, view_bind(c->stream, &p->w_src, in)},
        {DNNL_ARG_DIFF_DST, view_bind(c->stream, &p->w_ddst, dout)},
        {DNNL_ARG_DIFF_WEIGHTS, view_bind(c->stream, &p->w_dweight, dweight)},
        {DNNL_ARG_DIFF_BIAS, view_bind(c->stream, &p->w_dbias, dbias)},
        {DNNL_ARG_SCRATCHPAD, p->w_scratch}};
    run(c, p->bwd_weights, 5, args);
    view_finish(c->stream, &p->w_dweight);
    view_finish(c->stream, &p->w_dbias);
    dnnl_stream_wait(c->stream);
    nn_dnnl_threads_restore(threads);
}
