/* state.c - networks and optimizers to and from safetensors (see nn_state.h). */
#include "cassnn/nn_state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/nn_safetensors.h"

/* A net has two tensors per layer with parameters (five for batchnorm2d);
 * the optimizer up to two buffers per parameter. */
#define MAX_TENSORS 256

/* The safetensors entry of a state_dict tensor (int64 for a count). */
static nn_st_entry state_entry(const nn_param *p) {
    if (p->count) return (nn_st_entry){p->name, p->ndim, p->shape, p->count, "I64"};
    return (nn_st_entry){p->name, p->ndim, p->shape, p->data, NULL};
}

int nn_state_save_net(const nn_net *net, uint8_t **buf, size_t *len, cassnn_err *err) {
    char input[48];
    snprintf(input, sizeof input, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    const char *meta[] = {"format", "cassnn", "model", net->description, "input", input};
    return nn_state_save_net_meta(net, meta, 3, buf, len, err);
}

int nn_state_save_net_meta(const nn_net *net, const char *const *meta, size_t meta_count,
                           uint8_t **buf, size_t *len, cassnn_err *err) {
    const int count = nn_net_state_count(net);
    if (count > MAX_TENSORS) return cassnn_err_set(err, "save: more than %d tensors", MAX_TENSORS);
    nn_param params[MAX_TENSORS];
    nn_st_entry entries[MAX_TENSORS];
    for (int i = 0; i < count; i++) {
        nn_net_state_tensor(net, i, &params[i]);
        entries[i] = state_entry(&params[i]);
    }
    return nn_st_write(buf, len, entries, (size_t)count, meta, meta_count, err);
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Checks that st holds exactly net's state_dict (names, F32 or I64 for a
 * count, shapes). */
static int check_params(const nn_net *net, const nn_safetensors *st, cassnn_err *err) {
    const int count = nn_net_state_count(net);
    for (int i = 0; i < count; i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        const nn_st_tensor *t = nn_st_find(st, p.name);
        const char *dtype = p.count ? "I64" : "F32";
        if (!t) return cassnn_err_set(err, "state: tensor '%s' is missing", p.name);
        if (strcmp(t->dtype, dtype))
            return cassnn_err_set(err, "state: tensor '%s' is %s, expected %s", p.name, t->dtype,
                                  dtype);
        int same = t->ndim == p.ndim;
        for (int d = 0; same && d < p.ndim; d++) same = t->shape[d] == p.shape[d];
        if (!same) {
            char have[96], want[96];
            format_shape(have, sizeof have, t->ndim, t->shape);
            format_shape(want, sizeof want, p.ndim, p.shape);
            return cassnn_err_set(err, "state: tensor '%s' has shape %s, the model needs %s",
                                  p.name, have, want);
        }
    }
    if (st->count != (size_t)count) {
        for (size_t i = 0; i < st->count; i++) {
            int known = 0;
            for (int j = 0; j < count && !known; j++) {
                nn_param p;
                nn_net_state_tensor(net, j, &p);
                known = !strcmp(p.name, st->tensors[i].name);
            }
            if (!known)
                return cassnn_err_set(err, "state: unexpected tensor '%s' (not a parameter of "
                                      "the model)", st->tensors[i].name);
        }
    }
    return 0;
}

static void copy_params(nn_net *net, const nn_safetensors *st) {
    for (int i = 0; i < nn_net_state_count(net); i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        const nn_st_tensor *t = nn_st_find(st, p.name);
        if (p.count) memcpy(p.count, t->data, sizeof(int64_t));
        else memcpy(p.data, t->data, sizeof(float) * (size_t)p.size);
    }
}

int nn_state_read_net(nn_net *net, const nn_safetensors *st, cassnn_err *err) {
    if (check_params(net, st, err)) return -1;
    copy_params(net, st);
    return 0;
}

int nn_state_load_params(nn_net *net, const uint8_t *buf, size_t len, cassnn_err *err) {
    nn_safetensors st;
    if (nn_st_parse(&st, buf, len, err)) return -1;
    int rc = nn_state_read_net(net, &st, err);
    nn_st_free(&st);
    return rc;
}

int nn_state_load_net(nn_net *net, const uint8_t *buf, size_t len, const char *fallback_model,
                      int in_c, int in_h, int in_w, cassnn_err *err) {
    memset(net, 0, sizeof *net);
    nn_safetensors st;
    if (nn_st_parse(&st, buf, len, err)) return -1;
    int rc = -1;
    const char *model = nn_st_meta(&st, "model"), *input = nn_st_meta(&st, "input");
    if (model) {
        char tail;
        if (!input || sscanf(input, "%dx%dx%d%c", &in_c, &in_h, &in_w, &tail) != 3) {
            cassnn_err_set(err, "state: metadata 'input' is '%s', expected CxHxW",
                           input ? input : "(missing)");
            goto done;
        }
    } else if (!fallback_model) {
        cassnn_err_set(err, "state: the blob names no model (no 'model' metadata); give one");
        goto done;
    } else {
        model = fallback_model;
    }
    if (nn_net_create(net, model, in_c, in_h, in_w, err)) {
        cassnn_err_wrap(err, "state");
        goto done;
    }
    if (nn_state_read_net(net, &st, err)) {
        nn_net_free(net);
        goto done;
    }
    rc = 0;
done:
    nn_st_free(&st);
    return rc;
}

/* ---- optimizer ---------------------------------------------------------------- */

void nn_state_optim_meta(const nn_optim *o, char v[NN_STATE_OPTIM_META][32],
                         const char *meta[2 * NN_STATE_OPTIM_META]) {
    static const char *const keys[NN_STATE_OPTIM_META] = {
        "optimizer", "lr", "momentum", "dampening", "weight_decay",
        "nesterov",  "beta1", "beta2", "eps",     "step"};
    snprintf(v[0], 32, "%s", nn_optim_kind_name(o->kind));
    snprintf(v[1], 32, "%.9g", o->lr);
    snprintf(v[2], 32, "%.9g", o->momentum);
    snprintf(v[3], 32, "%.9g", o->dampening);
    snprintf(v[4], 32, "%.9g", o->weight_decay);
    snprintf(v[5], 32, "%d", o->nesterov);
    snprintf(v[6], 32, "%.9g", o->beta1);
    snprintf(v[7], 32, "%.9g", o->beta2);
    snprintf(v[8], 32, "%.9g", o->eps);
    snprintf(v[9], 32, "%ld", o->step);
    for (int i = 0; i < NN_STATE_OPTIM_META; i++) {
        meta[2 * i] = keys[i];
        meta[2 * i + 1] = v[i];
    }
}

int nn_state_save_optim(const nn_optim *o, const nn_net *net, uint8_t **buf, size_t *len,
                        cassnn_err *err) {
    if (o->n != net->n_params)
        return cassnn_err_set(err, "save optimizer: it has %ld parameters, the model %ld", o->n,
                              net->n_params);
    const int count = nn_net_param_count(net);
    if (2 * count > MAX_TENSORS) return cassnn_err_set(err, "save optimizer: too many tensors");
    char names[MAX_TENSORS][64];
    nn_param params[MAX_TENSORS / 2];
    nn_st_entry entries[MAX_TENSORS];
    size_t n = 0;
    if (o->step > 0) {
        for (int i = 0; i < count; i++) {
            nn_net_param(net, i, &params[i]);
            const long off = params[i].data - net->params;
            for (int which = 0; which < 2; which++) {
                const char *b;
                const float *data = nn_optim_buffer(o, which, &b);
                if (!data) continue;
                snprintf(names[n], sizeof names[n], "state.%d.%s", i, b);
                entries[n] = (nn_st_entry){names[n], params[i].ndim, params[i].shape, data + off, NULL};
                n++;
            }
        }
    }
    char v[NN_STATE_OPTIM_META][32];
    const char *meta[2 * NN_STATE_OPTIM_META + 2] = {"format", "cassnn-optimizer"};
    nn_state_optim_meta(o, v, meta + 2);
    return nn_st_write(buf, len, entries, n, meta, NN_STATE_OPTIM_META + 1, err);
}

static int meta_number(const nn_safetensors *st, const char *key, double *out, cassnn_err *err) {
    const char *s = nn_st_meta(st, key);
    if (!s) return cassnn_err_set(err, "optimizer state: metadata '%s' is missing", key);
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(*out))
        return cassnn_err_set(err, "optimizer state: metadata '%s' = '%.40s' is not a number", key, s);
    return 0;
}

int nn_state_optim_from_meta(nn_optim *o, const nn_net *net, const nn_safetensors *st,
                             cassnn_err *err) {
    memset(o, 0, sizeof *o);
    const char *kind = nn_st_meta(st, "optimizer");
    double lr, momentum, dampening, wd, nesterov, beta1, beta2, eps, step;
    if (!kind) return cassnn_err_set(err, "optimizer state: metadata 'optimizer' is missing");
    if (meta_number(st, "lr", &lr, err) || meta_number(st, "momentum", &momentum, err) ||
        meta_number(st, "dampening", &dampening, err) ||
        meta_number(st, "weight_decay", &wd, err) || meta_number(st, "nesterov", &nesterov, err) ||
        meta_number(st, "beta1", &beta1, err) || meta_number(st, "beta2", &beta2, err) ||
        meta_number(st, "eps", &eps, err) || meta_number(st, "step", &step, err))
        return -1;
    if (step < 0 || step > 1e15 || step != floor(step))
        return cassnn_err_set(err, "optimizer state: step %g is not a count", step);
    int made;
    if (!strcmp(kind, "sgd"))
        made = nn_optim_sgd(o, net->n_params, (float)lr, (float)momentum, (float)dampening,
                            (float)wd, nesterov != 0, err);
    else if (!strcmp(kind, "adam") || !strcmp(kind, "adamw"))
        made = nn_optim_adam(o, net->n_params, (float)lr, (float)beta1, (float)beta2, (float)eps,
                             (float)wd, !strcmp(kind, "adamw"), err);
    else
        made = cassnn_err_set(err, "optimizer state: unknown optimizer '%.20s'", kind);
    if (made) return -1;
    o->step = (long)step;
    return 0;
}

int nn_state_load_optim(nn_optim *o, const nn_net *net, const uint8_t *buf, size_t len,
                        cassnn_err *err) {
    memset(o, 0, sizeof *o);
    nn_safetensors st;
    if (nn_st_parse(&st, buf, len, err)) return -1;
    int rc = -1;
    const char *format = nn_st_meta(&st, "format");
    if (!format || strcmp(format, "cassnn-optimizer")) {
        cassnn_err_set(err, "optimizer state: not a cassnn optimizer blob (metadata format '%s')",
                       format ? format : "(missing)");
        goto done;
    }
    nn_optim loaded;
    if (nn_state_optim_from_meta(&loaded, net, &st, err)) goto done;
    /* every buffer this optimizer keeps must be there once it has stepped */
    size_t expected = 0;
    for (int i = 0; i < nn_net_param_count(net); i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        const long off = p.data - net->params;
        for (int which = 0; which < 2; which++) {
            const char *b;
            float *data = nn_optim_buffer(&loaded, which, &b);
            if (!data || loaded.step == 0) continue;
            char name[64];
            snprintf(name, sizeof name, "state.%d.%s", i, b);
            if (nn_st_read_f32(&st, name, p.ndim, p.shape, data + off, err)) {
                nn_optim_free(&loaded);
                goto done;
            }
            expected++;
        }
    }
    if (st.count != expected) {
        cassnn_err_set(err, "optimizer state: %zu tensors, expected %zu for this model and "
                       "optimizer", st.count, expected);
        nn_optim_free(&loaded);
        goto done;
    }
    *o = loaded;
    rc = 0;
done:
    nn_st_free(&st);
    return rc;
}

/* ---- files ------------------------------------------------------------------------ */

int nn_state_save_net_file(const nn_net *net, const char *path, cassnn_err *err) {
    uint8_t *buf;
    size_t len;
    if (nn_state_save_net(net, &buf, &len, err)) return -1;
    int rc = nn_file_write(path, buf, len, err);
    free(buf);
    return rc;
}

int nn_state_load_net_file(nn_net *net, const char *path, const char *fallback_model, int in_c,
                           int in_h, int in_w, cassnn_err *err) {
    uint8_t *buf;
    size_t len;
    memset(net, 0, sizeof *net);
    if (nn_file_read(path, &buf, &len, err)) return -1;
    int rc = nn_state_load_net(net, buf, len, fallback_model, in_c, in_h, in_w, err);
    free(buf);
    return rc ? cassnn_err_wrap(err, "%s", path) : 0;
}

int nn_state_save_optim_file(const nn_optim *o, const nn_net *net, const char *path,
                             cassnn_err *err) {
    uint8_t *buf;
    size_t len;
    if (nn_state_save_optim(o, net, &buf, &len, err)) return -1;
    int rc = nn_file_write(path, buf, len, err);
    free(buf);
    return rc;
}

int nn_state_load_optim_file(nn_optim *o, const nn_net *net, const char *path, cassnn_err *err) {
    uint8_t *buf;
    size_t len;
    memset(o, 0, sizeof *o);
    if (nn_file_read(path, &buf, &len, err)) return -1;
    int rc = nn_state_load_optim(o, net, buf, len, err);
    free(buf);
    return rc ? cassnn_err_wrap(err, "%s", path) : 0;
}
