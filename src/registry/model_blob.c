/* model_blob.c - a net and its optimizer as safetensors blobs (see registry.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/nn_safetensors.h"
#include "cassnn/nn_state.h"
#include "cassnn/registry.h"

int registry_net_encode(const nn_net *net, uint8_t **out, size_t *len, cassnn_err *err) {
    char input[48];
    snprintf(input, sizeof input, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    const char *meta[] = {"cassnn.model", net->description, "cassnn.input", input};
    /* the whole state_dict: batchnorm's running statistics included */
    return nn_state_save_net_meta(net, meta, 2, out, len, err);
}

int registry_net_decode(const uint8_t *blob, size_t len, nn_net *net, cassnn_err *err) {
    memset(net, 0, sizeof *net);
    nn_safetensors st;
    if (nn_st_parse(&st, blob, len, err)) return cassnn_err_wrap(err, "network blob");
    int rc = -1, c, h, w;
    const char *model = nn_st_meta(&st, "cassnn.model"), *input = nn_st_meta(&st, "cassnn.input");
    if (!model || !input || sscanf(input, "%dx%dx%d", &c, &h, &w) != 3) {
        cassnn_err_set(err, "network blob: metadata cassnn.model / cassnn.input missing or bad");
        goto done;
    }
    if (nn_net_create(net, model, c, h, w, err)) {
        cassnn_err_wrap(err, "network blob");
        goto done;
    }
    if (nn_state_read_net(net, &st, err)) {
        cassnn_err_wrap(err, "network blob");
        nn_net_free(net);
        goto done;
    }
    rc = 0;
done:
    nn_st_free(&st);
    return rc;
}

/* Buffer tensors of an optimizer: prefix.<param name> for each buffer. */
static const char *buffer_prefix(const nn_optim *o, int which) {
    if (o->kind == NN_OPTIM_SGD) return which == 0 ? "momentum_buffer" : NULL;
    return which == 0 ? "exp_avg" : "exp_avg_sq";
}

static float *buffer_data(const nn_optim *o, int which) { return which == 0 ? o->buf1 : o->buf2; }

int registry_optim_encode(const nn_optim *opt, const nn_net *net, const registry_train_state *ts,
                          uint8_t **out, size_t *len, cassnn_err *err) {
    const int count = nn_net_param_count(net);
    nn_param *params = calloc((size_t)(count ? count : 1), sizeof *params);
    nn_st_entry *entries = calloc((size_t)(2 * count + 1), sizeof *entries);
    char(*names)[64] = calloc((size_t)(2 * count + 1), sizeof *names);
    if (!params || !entries || !names) {
        free(params);
        free(entries);
        free(names);
        return cassnn_err_set(err, "optimizer blob: out of memory");
    }
    size_t n = 0;
    for (int which = 0; which < 2; which++) {
        const float *buf = buffer_data(opt, which);
        if (!buf || !buffer_prefix(opt, which)) continue;
        for (int i = 0; i < count; i++) {
            nn_net_param(net, i, &params[i]);
            snprintf(names[n], sizeof names[n], "%s.%s", buffer_prefix(opt, which), params[i].name);
            entries[n] = (nn_st_entry){names[n], params[i].ndim, params[i].shape,
                                       buf + (params[i].data - net->params), NULL};
            n++;
        }
    }
    char v[14][40];
    snprintf(v[0], sizeof v[0], "%s", nn_optim_kind_name(opt->kind));
    snprintf(v[1], sizeof v[1], "%.9g", opt->lr);
    snprintf(v[2], sizeof v[2], "%.9g", opt->weight_decay);
    snprintf(v[3], sizeof v[3], "%.9g", opt->momentum);
    snprintf(v[4], sizeof v[4], "%.9g", opt->dampening);
    snprintf(v[5], sizeof v[5], "%d", opt->nesterov);
    snprintf(v[6], sizeof v[6], "%.9g", opt->beta1);
    snprintf(v[7], sizeof v[7], "%.9g", opt->beta2);
    snprintf(v[8], sizeof v[8], "%.9g", opt->eps);
    snprintf(v[9], sizeof v[9], "%ld", opt->step);
    snprintf(v[10], sizeof v[10], "%d", ts->epoch);
    snprintf(v[11], sizeof v[11], "%ld", ts->next_batch);
    snprintf(v[12], sizeof v[12], "%llu", (unsigned long long)ts->seed);
    snprintf(v[13], sizeof v[13], "%d", ts->batch_size);
    const char *meta[] = {"optimizer", v[0], "lr", v[1], "weight_decay", v[2], "momentum", v[3],
                          "dampening", v[4], "nesterov", v[5], "beta1", v[6], "beta2", v[7],
                          "eps", v[8], "step", v[9], "cassnn.epoch", v[10],
                          "cassnn.next_batch", v[11], "cassnn.seed", v[12],
                          "cassnn.batch_size", v[13]};
    int rc = nn_st_write(out, len, entries, n, meta, 14, err);
    free(params);
    free(entries);
    free(names);
    return rc;
}

/* A numeric metadata value; errors name the key. */
static int meta_number(const nn_safetensors *st, const char *key, double *out, cassnn_err *err) {
    const char *text = nn_st_meta(st, key);
    char *end;
    if (!text) return cassnn_err_set(err, "optimizer blob: metadata %s missing", key);
    errno = 0;
    *out = strtod(text, &end);
    if (end == text || *end || errno)
        return cassnn_err_set(err, "optimizer blob: metadata %s '%s' is not a number", key, text);
    return 0;
}

static int meta_u64(const nn_safetensors *st, const char *key, uint64_t *out, cassnn_err *err) {
    const char *text = nn_st_meta(st, key);
    char *end;
    if (!text) return cassnn_err_set(err, "optimizer blob: metadata %s missing", key);
    errno = 0;
    *out = strtoull(text, &end, 10);
    if (end == text || *end || errno)
        return cassnn_err_set(err, "optimizer blob: metadata %s '%s' is not an integer", key, text);
    return 0;
}

int registry_optim_decode(const uint8_t *blob, size_t len, const nn_net *net, nn_optim *opt,
                          registry_train_state *ts, cassnn_err *err) {
    memset(opt, 0, sizeof *opt);
    nn_safetensors st;
    if (nn_st_parse(&st, blob, len, err)) return cassnn_err_wrap(err, "optimizer blob");
    int rc = -1;
    double lr = 0, wd = 0, mom = 0, damp = 0, nest = 0, b1 = 0, b2 = 0, eps = 0;
    uint64_t step = 0, epoch = 0, next_batch = 0, seed = 0, batch_size = 0;
    const char *kind = nn_st_meta(&st, "optimizer");
    if (!kind) {
        cassnn_err_set(err, "optimizer blob: metadata optimizer missing");
        goto done;
    }
    if (meta_number(&st, "lr", &lr, err) || meta_number(&st, "weight_decay", &wd, err) ||
        meta_number(&st, "momentum", &mom, err) || meta_number(&st, "dampening", &damp, err) ||
        meta_number(&st, "nesterov", &nest, err) || meta_number(&st, "beta1", &b1, err) ||
        meta_number(&st, "beta2", &b2, err) || meta_number(&st, "eps", &eps, err) ||
        meta_u64(&st, "step", &step, err) || meta_u64(&st, "cassnn.epoch", &epoch, err) ||
        meta_u64(&st, "cassnn.next_batch", &next_batch, err) ||
        meta_u64(&st, "cassnn.seed", &seed, err) ||
        meta_u64(&st, "cassnn.batch_size", &batch_size, err))
        goto done;
    if (!strcmp(kind, "sgd")) {
        if (nn_optim_sgd(opt, net->n_params, (float)lr, (float)mom, (float)damp, (float)wd,
                         nest != 0.0, err))
            goto done;
    } else if (!strcmp(kind, "adam") || !strcmp(kind, "adamw")) {
        if (nn_optim_adam(opt, net->n_params, (float)lr, (float)b1, (float)b2, (float)eps,
                          (float)wd, !strcmp(kind, "adamw"), err))
            goto done;
    } else {
        cassnn_err_set(err, "optimizer blob: unknown optimizer '%s'", kind);
        goto done;
    }
    opt->step = (long)step;
    for (int which = 0; which < 2; which++) {
        float *buf = buffer_data(opt, which);
        if (!buf || !buffer_prefix(opt, which)) continue;
        for (int i = 0; i < nn_net_param_count(net); i++) {
            nn_param p;
            char name[64];
            nn_net_param(net, i, &p);
            snprintf(name, sizeof name, "%s.%s", buffer_prefix(opt, which), p.name);
            if (nn_st_read_f32(&st, name, p.ndim, p.shape, buf + (p.data - net->params), err)) {
                cassnn_err_wrap(err, "optimizer blob");
                nn_optim_free(opt);
                goto done;
            }
        }
    }
    if (ts)
        *ts = (registry_train_state){(int)epoch, (long)next_batch, seed, (int)batch_size};
    rc = 0;
done:
    nn_st_free(&st);
    return rc;
}
