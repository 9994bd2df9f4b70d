/* blob.c - networks and optimizers to and from blobs of either format (see
 * blob.h): nets and optimizers map onto a blob_dict here, once; the
 * containers (safetensors.c, pickle_torch.c) turn dicts into bytes. */
#include "cassnn/blob.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob/pickle_torch.h"
#include "blob/safetensors.h"

const blob_model blob_tutorial_model = {"tutorial", 1, 28, 28};

/* The optimizer's metadata keys, in the order they are written. */
static const char *const optim_keys[] = {"optimizer", "lr",    "momentum", "dampening",
                                         "weight_decay", "nesterov", "beta1", "beta2",
                                         "eps",       "step"};
#define N_OPTIM_KEYS (sizeof optim_keys / sizeof optim_keys[0])
static const char *const run_keys[] = {"cassnn.epoch", "cassnn.next_batch", "cassnn.seed",
                                       "cassnn.batch_size"};

const char *blob_format_name(blob_format f) {
    return f == BLOB_PICKLE ? "pickle" : "safetensors";
}

int blob_format_parse(const char *name, blob_format *out, cassnn_err *err) {
    if (!strcmp(name, "safetensors")) *out = BLOB_SAFETENSORS;
    else if (!strcmp(name, "pickle")) *out = BLOB_PICKLE;
    else return cassnn_err_set(err, "blob format '%s': expected safetensors or pickle", name);
    return 0;
}

int blob_detect(const uint8_t *buf, size_t len, blob_format *out, cassnn_err *err) {
    if (len > BLOB_MAX_BYTES)
        return cassnn_err_set(err, "blob of %zu bytes is over the %zu-byte limit", len, BLOB_MAX_BYTES);
    if (blob_pickle_detect(buf, len)) *out = BLOB_PICKLE;
    else if (blob_st_detect(buf, len)) *out = BLOB_SAFETENSORS;
    else if (len >= 4 && !memcmp(buf, "PK\x03\x04", 4))
        return cassnn_err_set(err, "a zip archive (torch.save's default format) is not read: "
                                   "save the state_dict with safetensors or pickle.dumps");
    else
        return cassnn_err_set(err, "%zu bytes that are neither safetensors nor a pickle "
                                   "(protocol 2-5)", len);
    return 0;
}

/* Parses buf in its format; *kind says network or optimizer for a pickle
 * (a safetensors blob says so only through its metadata). */
static int parse(const uint8_t *buf, size_t len, blob_dict *d, blob_format *f,
                 blob_pickle_kind *kind, cassnn_err *err) {
    memset(d, 0, sizeof *d);
    if (blob_detect(buf, len, f, err)) return -1;
    if (*f == BLOB_SAFETENSORS) {
        if (blob_st_parse(d, buf, len, err)) return -1;
        *kind = blob_dict_meta(d, "optimizer") ? BLOB_PICKLE_OPTIM : BLOB_PICKLE_NET;
        return 0;
    }
    return blob_pickle_parse(d, kind, buf, len, err);
}

int blob_parse(const uint8_t *buf, size_t len, blob_dict *d, blob_format *format,
               cassnn_err *err) {
    blob_pickle_kind kind;
    return parse(buf, len, d, format, &kind, err);
}

/* ---- networks ---------------------------------------------------------------------- */

/* The net's state_dict as a dict pointing into it, with its metadata.
 * (int64 for BatchNorm's count.) */
static int net_dict(const nn_net *net, blob_dict *d, cassnn_err *err) {
    memset(d, 0, sizeof *d);
    char input[48];
    snprintf(input, sizeof input, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    if (blob_dict_set_meta(d, "cassnn.model", net->description, err) ||
        blob_dict_set_meta(d, "cassnn.input", input, err))
        return -1;
    for (int i = 0; i < nn_net_state_count(net); i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        if (blob_dict_add(d, p.name, p.count ? "I64" : "F32", p.ndim, p.shape,
                          p.count ? (const void *)p.count : (const void *)p.data, err))
            return -1;
    }
    return 0;
}

int blob_net_encode(const nn_net *net, blob_format f, uint8_t **out, size_t *len,
                    cassnn_err *err) {
    blob_dict d;
    int rc = net_dict(net, &d, err);
    if (rc == 0)
        rc = f == BLOB_PICKLE ? blob_pickle_write_net(&d, out, len, err)
                              : blob_st_write(&d, out, len, err);
    blob_dict_free(&d);
    return rc ? cassnn_err_wrap(err, "network blob") : 0;
}

/* Checks that d holds exactly net's state_dict (names, F32 or I64 for a
 * count, shapes), naming the first tensor that does not fit. */
static int check_net(const nn_net *net, const blob_dict *d, cassnn_err *err) {
    const int count = nn_net_state_count(net);
    for (int i = 0; i < count; i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        const blob_tensor *t = blob_dict_find(d, p.name);
        const char *dtype = p.count ? "I64" : "F32";
        if (!t) return cassnn_err_set(err, "tensor '%s' is missing", p.name);
        if (strcmp(t->dtype, dtype))
            return cassnn_err_set(err, "tensor '%s' is %s, expected %s", p.name, t->dtype, dtype);
        int same = t->ndim == p.ndim;
        for (int k = 0; same && k < p.ndim; k++) same = t->shape[k] == p.shape[k];
        if (!same) {
            char have[96], want[96];
            blob_format_shape(have, sizeof have, t->ndim, t->shape);
            blob_format_shape(want, sizeof want, p.ndim, p.shape);
            return cassnn_err_set(err, "tensor '%s' has shape %s, the model needs %s", p.name,
                                  have, want);
        }
    }
    for (size_t i = 0; d->count != (size_t)count && i < d->count; i++) {
        int known = 0;
        for (int j = 0; j < count && !known; j++) {
            nn_param p;
            nn_net_state_tensor(net, j, &p);
            known = !strcmp(p.name, d->tensors[i].name);
        }
        if (!known)
            return cassnn_err_set(err, "unexpected tensor '%s' (not in the model's state_dict)",
                                  d->tensors[i].name);
    }
    return 0;
}

static void copy_net(nn_net *net, const blob_dict *d) {
    for (int i = 0; i < nn_net_state_count(net); i++) {
        nn_param p;
        nn_net_state_tensor(net, i, &p);
        const blob_tensor *t = blob_dict_find(d, p.name);
        memcpy(p.count ? (void *)p.count : (void *)p.data, t->data, t->nbytes);
    }
}

/* Network metadata under its current keys, or a pre-unification file's. */
static void net_meta(const blob_dict *d, const char **model, const char **input) {
    *model = blob_dict_meta(d, "cassnn.model");
    *input = blob_dict_meta(d, "cassnn.input");
    const char *format = blob_dict_meta(d, "format");
    if (!*model && format && !strcmp(format, "cassnn")) {
        *model = blob_dict_meta(d, "model");
        *input = blob_dict_meta(d, "input");
    }
}

static int parse_net(const uint8_t *buf, size_t len, blob_dict *d, blob_format *f,
                     cassnn_err *err) {
    blob_pickle_kind kind;
    if (parse(buf, len, d, f, &kind, err)) return -1;
    if (kind == BLOB_PICKLE_OPTIM) {
        blob_dict_free(d);
        return cassnn_err_set(err, "this is an optimizer blob, not a network");
    }
    return 0;
}

int blob_net_decode(const uint8_t *buf, size_t len, const blob_model *fallback, nn_net *net,
                    cassnn_err *err) {
    memset(net, 0, sizeof *net);
    blob_dict d;
    blob_format f = BLOB_SAFETENSORS;
    if (parse_net(buf, len, &d, &f, err)) return cassnn_err_wrap(err, "network blob");
    int rc = -1, c, h, w;
    char tail;
    const char *model, *input;
    net_meta(&d, &model, &input);
    if (model) {
        if (!input || sscanf(input, "%dx%dx%d%c", &c, &h, &w, &tail) != 3) {
            cassnn_err_set(err, "metadata cassnn.input is '%s', expected CxHxW",
                           input ? input : "(missing)");
            goto done;
        }
    } else if (!fallback) {
        cassnn_err_set(err, "the blob names no model (no cassnn.model metadata): give its "
                            "description");
        goto done;
    } else {
        model = fallback->description;
        c = fallback->in_c, h = fallback->in_h, w = fallback->in_w;
    }
    if (nn_net_create(net, model, c, h, w, err)) goto done;
    if (check_net(net, &d, err)) {
        nn_net_free(net);
        goto done;
    }
    copy_net(net, &d);
    rc = 0;
done:
    blob_dict_free(&d);
    return rc ? cassnn_err_wrap(err, "network blob (%s)", blob_format_name(f)) : 0;
}

int blob_net_load(nn_net *net, const uint8_t *buf, size_t len, cassnn_err *err) {
    blob_dict d;
    blob_format f;
    if (parse_net(buf, len, &d, &f, err)) return cassnn_err_wrap(err, "network blob");
    int rc = check_net(net, &d, err);
    if (rc == 0) copy_net(net, &d);
    blob_dict_free(&d);
    return rc ? cassnn_err_wrap(err, "network blob (%s)", blob_format_name(f)) : 0;
}

/* ---- optimizers -------------------------------------------------------------------- */

/* The shortest decimal text that reads back as the same float. */
static void float_text(char *out, size_t cap, float v) {
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(out, cap, "%.*g", digits, (double)v);
        if (strtof(out, NULL) == v) return;
    }
}

int blob_optim_encode(const nn_optim *o, const nn_net *net, const blob_run_state *run,
                      blob_format f, uint8_t **out, size_t *len, cassnn_err *err) {
    if (o->n != net->n_params)
        return cassnn_err_set(err, "optimizer blob: the optimizer has %ld parameters, the model %ld",
                              o->n, net->n_params);
    char v[N_OPTIM_KEYS + 4][32];
    snprintf(v[0], 32, "%s", nn_optim_kind_name(o->kind));
    const float numbers[] = {o->lr, o->momentum, o->dampening, o->weight_decay};
    for (int i = 0; i < 4; i++) float_text(v[1 + i], 32, numbers[i]);
    snprintf(v[5], 32, "%d", o->nesterov);
    float_text(v[6], 32, o->beta1);
    float_text(v[7], 32, o->beta2);
    float_text(v[8], 32, o->eps);
    snprintf(v[9], 32, "%ld", o->step);
    if (run) {
        snprintf(v[10], 32, "%d", run->epoch);
        snprintf(v[11], 32, "%ld", run->next_batch);
        snprintf(v[12], 32, "%llu", (unsigned long long)run->seed);
        snprintf(v[13], 32, "%d", run->batch_size);
    }
    blob_dict d = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < N_OPTIM_KEYS; i++) rc = blob_dict_set_meta(&d, optim_keys[i], v[i], err);
    for (size_t i = 0; rc == 0 && run && i < 4; i++) rc = blob_dict_set_meta(&d, run_keys[i], v[N_OPTIM_KEYS + i], err);
    const int count = nn_net_param_count(net);
    for (int i = 0; rc == 0 && o->step > 0 && i < count; i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        for (int which = 0; rc == 0 && which < 2; which++) {
            const char *b;
            const float *data = nn_optim_buffer(o, which, &b);
            char name[64];
            snprintf(name, sizeof name, "state.%d.%s", i, b ? b : "");
            if (data) rc = blob_dict_add(&d, name, "F32", p.ndim, p.shape, data + (p.data - net->params), err);
        }
    }
    if (rc == 0)
        rc = f == BLOB_PICKLE ? blob_pickle_write_optim(&d, count, out, len, err)
                              : blob_st_write(&d, out, len, err);
    blob_dict_free(&d);
    return rc ? cassnn_err_wrap(err, "optimizer blob") : 0;
}

static int meta_number(const blob_dict *d, const char *key, double *out, cassnn_err *err) {
    const char *s = blob_dict_meta(d, key);
    if (!s) return cassnn_err_set(err, "metadata '%s' is missing", key);
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(*out))
        return cassnn_err_set(err, "metadata '%s' = '%.40s' is not a number", key, s);
    return 0;
}

static int meta_count(const blob_dict *d, const char *key, double max, double *out,
                      cassnn_err *err) {
    if (meta_number(d, key, out, err)) return -1;
    if (*out < 0 || *out > max || *out != floor(*out))
        return cassnn_err_set(err, "metadata '%s' = %g is not a count", key, *out);
    return 0;
}

/* The optimizer the metadata describes, for net; buffers zero. */
static int optim_from_meta(nn_optim *o, const nn_net *net, const blob_dict *d, cassnn_err *err) {
    const char *kind = blob_dict_meta(d, "optimizer");
    double x[N_OPTIM_KEYS];
    if (!kind) {
        const char *model, *input;
        net_meta(d, &model, &input);
        return cassnn_err_set(err, model ? "this is a network blob, not an optimizer"
                                         : "metadata 'optimizer' is missing");
    }
    for (size_t i = 1; i < N_OPTIM_KEYS - 1; i++)
        if (meta_number(d, optim_keys[i], &x[i], err)) return -1;
    if (meta_count(d, "step", 1e15, &x[N_OPTIM_KEYS - 1], err)) return -1;
    int rc;
    if (!strcmp(kind, "sgd"))
        rc = nn_optim_sgd(o, net->n_params, (float)x[1], (float)x[2], (float)x[3], (float)x[4],
                          x[5] != 0, err);
    else if (!strcmp(kind, "adam") || !strcmp(kind, "adamw"))
        rc = nn_optim_adam(o, net->n_params, (float)x[1], (float)x[6], (float)x[7], (float)x[8],
                           (float)x[4], !strcmp(kind, "adamw"), err);
    else
        rc = cassnn_err_set(err, "unknown optimizer '%.20s'", kind);
    if (rc == 0) o->step = (long)x[N_OPTIM_KEYS - 1];
    return rc;
}

/* Reads every buffer o keeps from d: state.<i>.<buffer>, or a registry
 * row's older <buffer>.<parameter name>; all must be there once o has
 * stepped, and d must hold nothing else. */
static int read_buffers(nn_optim *o, const nn_net *net, const blob_dict *d, cassnn_err *err) {
    char *used = calloc(d->count + 1, 1);
    if (!used) return cassnn_err_set(err, "out of memory");
    int rc = 0;
    for (int i = 0; rc == 0 && i < nn_net_param_count(net); i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        for (int which = 0; rc == 0 && which < 2; which++) {
            const char *b;
            float *data = nn_optim_buffer(o, which, &b);
            if (!data) continue;
            char name[64], legacy[96];
            snprintf(name, sizeof name, "state.%d.%s", i, b);
            snprintf(legacy, sizeof legacy, "%s.%s", b, p.name);
            const blob_tensor *t = blob_dict_find(d, name);
            if (!t) t = blob_dict_find(d, legacy);
            if (!t && o->step == 0) continue;
            rc = blob_dict_read_f32(d, t ? t->name : name, p.ndim, p.shape,
                                    data + (p.data - net->params), err);
            if (rc == 0) used[t - d->tensors] = 1;
        }
    }
    for (size_t i = 0; rc == 0 && i < d->count; i++)
        if (!used[i])
            rc = cassnn_err_set(err, "unexpected tensor '%s' for a %s optimizer of this model",
                                d->tensors[i].name, nn_optim_kind_name(o->kind));
    free(used);
    return rc;
}

static int read_run(const blob_dict *d, blob_run_state *run, int *has_run, cassnn_err *err) {
    double v[4];
    if (has_run) *has_run = 0;
    if (!blob_dict_meta(d, run_keys[0])) return 0;
    static const double max[4] = {1e9, 1e15, 18446744073709551615.0, 1e9};
    for (int i = 0; i < 4; i++)
        if (meta_count(d, run_keys[i], max[i], &v[i], err)) return -1;
    if (run) {
        /* the seed is a full 64-bit value: read it as an integer, not a double */
        *run = (blob_run_state){(int)v[0], (long)v[1], strtoull(blob_dict_meta(d, run_keys[2]), NULL, 10),
                                (int)v[3]};
    }
    if (has_run) *has_run = 1;
    return 0;
}

int blob_optim_decode(const uint8_t *buf, size_t len, const nn_net *net, nn_optim *o,
                      blob_run_state *run, int *has_run, cassnn_err *err) {
    memset(o, 0, sizeof *o);
    blob_dict d;
    blob_format f = BLOB_SAFETENSORS;
    blob_pickle_kind kind;
    if (parse(buf, len, &d, &f, &kind, err)) return cassnn_err_wrap(err, "optimizer blob");
    nn_optim loaded = {0};
    int rc = -1;
    const char *params = blob_dict_meta(&d, "params");
    if (kind == BLOB_PICKLE_NET && f == BLOB_PICKLE) {
        cassnn_err_set(err, "this is a network blob, not an optimizer");
    } else if (params && atoi(params) != nn_net_param_count(net)) {
        cassnn_err_set(err, "the optimizer has %s parameter tensors, the model %d", params,
                       nn_net_param_count(net));
    } else if (optim_from_meta(&loaded, net, &d, err) == 0) {
        if (read_buffers(&loaded, net, &d, err) || read_run(&d, run, has_run, err))
            nn_optim_free(&loaded);
        else
            rc = 0;
    }
    blob_dict_free(&d);
    if (rc) return cassnn_err_wrap(err, "optimizer blob (%s)", blob_format_name(f));
    *o = loaded;
    return 0;
}

/* ---- files ------------------------------------------------------------------------ */

int blob_file_read(const char *path, uint8_t **out, size_t *len, cassnn_err *err) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cassnn_err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = cap > BLOB_MAX_BYTES ? NULL : realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    const int failed = ferror(f);
    fclose(f);
    if (!buf) return cassnn_err_set(err, "%s: out of memory or over %zu bytes", path, BLOB_MAX_BYTES);
    if (failed) {
        free(buf);
        return cassnn_err_set(err, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

int blob_file_write(const char *path, const uint8_t *buf, size_t len, cassnn_err *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return cassnn_err_set(err, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return cassnn_err_set(err, "%s: %s", tmp, strerror(errno));
    const int ok = fwrite(buf, 1, len, f) == len;
    const int closed = fclose(f) == 0;
    if (!ok || !closed || rename(tmp, path)) {
        const int e = errno;
        unlink(tmp);
        return cassnn_err_set(err, "%s: write failed: %s", path, strerror(e));
    }
    return 0;
}

int blob_net_save_file(const nn_net *net, blob_format f, const char *path, cassnn_err *err) {
    uint8_t *buf;
    size_t len;
    if (blob_net_encode(net, f, &buf, &len, err)) return -1;
    int rc = blob_file_write(path, buf, len, err);
    free(buf);
    return rc;
}

int blob_net_load_file(const char *path, const blob_model *fallback, nn_net *net,
                       cassnn_err *err) {
    uint8_t *buf;
    size_t len;
    memset(net, 0, sizeof *net);
    if (blob_file_read(path, &buf, &len, err)) return -1;
    int rc = blob_net_decode(buf, len, fallback, net, err);
    free(buf);
    return rc ? cassnn_err_wrap(err, "%s", path) : 0;
}
