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

/* The optimizer blob: nn_state's optimizer metadata plus where the run
 * stood (cassnn.* keys), and each buffer as <state name>.<param name>. */

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
        const char *state;
        const float *buf = nn_optim_buffer(opt, which, &state);
        if (!buf) continue;
        for (int i = 0; i < count; i++) {
            nn_net_param(net, i, &params[i]);
            snprintf(names[n], sizeof names[n], "%s.%s", state, params[i].name);
            entries[n] = (nn_st_entry){names[n], params[i].ndim, params[i].shape,
                                       buf + (params[i].data - net->params), NULL};
            n++;
        }
    }
    char v[NN_STATE_OPTIM_META][32], run[4][32];
    const char *meta[2 * NN_STATE_OPTIM_META + 8];
    nn_state_optim_meta(opt, v, meta);
    snprintf(run[0], sizeof run[0], "%d", ts->epoch);
    snprintf(run[1], sizeof run[1], "%ld", ts->next_batch);
    snprintf(run[2], sizeof run[2], "%llu", (unsigned long long)ts->seed);
    snprintf(run[3], sizeof run[3], "%d", ts->batch_size);
    static const char *const run_keys[4] = {"cassnn.epoch", "cassnn.next_batch", "cassnn.seed",
                                            "cassnn.batch_size"};
    for (int i = 0; i < 4; i++) {
        meta[2 * NN_STATE_OPTIM_META + 2 * i] = run_keys[i];
        meta[2 * NN_STATE_OPTIM_META + 2 * i + 1] = run[i];
    }
    int rc = nn_st_write(out, len, entries, n, meta, NN_STATE_OPTIM_META + 4, err);
    free(params);
    free(entries);
    free(names);
    return rc;
}

/* An integer metadata value; errors name the key. */
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
    uint64_t epoch = 0, next_batch = 0, seed = 0, batch_size = 0;
    if (meta_u64(&st, "cassnn.epoch", &epoch, err) ||
        meta_u64(&st, "cassnn.next_batch", &next_batch, err) ||
        meta_u64(&st, "cassnn.seed", &seed, err) ||
        meta_u64(&st, "cassnn.batch_size", &batch_size, err))
        goto done;
    if (nn_state_optim_from_meta(opt, net, &st, err)) {
        cassnn_err_wrap(err, "optimizer blob");
        goto done;
    }
    for (int which = 0; which < 2; which++) {
        const char *state;
        float *buf = nn_optim_buffer(opt, which, &state);
        if (!buf) continue;
        for (int i = 0; i < nn_net_param_count(net); i++) {
            nn_param p;
            char name[64];
            nn_net_param(net, i, &p);
            snprintf(name, sizeof name, "%s.%s", state, p.name);
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
