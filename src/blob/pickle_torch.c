/* pickle_torch.c - PyTorch's pickled state_dicts to and from a blob_dict
 * (see blob/pickle_torch.h); the pickle machine itself is pickle_vm.c. */
#include "blob/pickle_torch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_vm.h"

int blob_pickle_detect(const uint8_t *buf, size_t len) {
    return len >= 3 && buf[0] == 0x80 && buf[1] >= 2 && buf[1] <= 5;
}

/* ---- reading ---------------------------------------------------------------------- */

/* A str as a C string (no NUL inside, shorter than cap). */
static int c_string(const pk_obj *o, char *out, size_t cap, const char *what, cassnn_err *err) {
    if (o->kind != PK_STR) return cassnn_err_set(err, "pickle: %s is a %s, expected str", what, pk_kind_name(o->kind));
    if (o->u.s.len >= cap || memchr(o->u.s.p, 0, o->u.s.len))
        return cassnn_err_set(err, "pickle: %s is longer than %zu bytes or holds a NUL", what, cap - 1);
    memcpy(out, o->u.s.p, o->u.s.len);
    out[o->u.s.len] = '\0';
    return 0;
}

/* Copies t out contiguous (row-major) into memory d owns; *budget bounds
 * the bytes all tensors of a blob may take. */
static int add_tensor(blob_dict *d, const char *name, const pk_tensor *t, size_t *budget,
                      cassnn_err *err) {
    const size_t elem = t->storage->elem;
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) numel *= (size_t)t->shape[i];
    if (numel > *budget / elem)
        return cassnn_err_set(err, "pickle: tensor '%s' makes the tensors larger than 4x the blob", name);
    *budget -= numel * elem;
    uint8_t *data = malloc(numel ? numel * elem : 1);
    if (!data) return cassnn_err_set(err, "pickle: out of memory for tensor '%s'", name);
    if (blob_dict_own(d, data, err)) return -1;
    int64_t idx[BLOB_MAX_DIMS] = {0};
    for (size_t k = 0; k < numel; k++) {
        uint64_t at = (uint64_t)t->offset;
        for (int i = 0; i < t->ndim; i++) at += (uint64_t)idx[i] * (uint64_t)t->stride[i];
        memcpy(data + k * elem, t->storage->data + at * elem, elem);
        for (int i = t->ndim - 1; i >= 0 && ++idx[i] == t->shape[i]; i--) idx[i] = 0;
    }
    return blob_dict_add(d, name, t->storage->dtype, t->ndim, t->shape, data, err)
               ? cassnn_err_wrap(err, "pickle")
               : 0;
}

/* A dict of str -> str (cassnn's metadata) into d's metadata. */
static int read_meta(blob_dict *d, const pk_obj *meta, cassnn_err *err) {
    if (meta->kind != PK_DICT) return cassnn_err_set(err, "pickle: cassnn metadata is not a dict");
    for (size_t i = 0; i < meta->u.dict.n; i++) {
        char key[64], value[4096];
        if (c_string(meta->u.dict.keys[i], key, sizeof key, "a cassnn metadata key", err) ||
            c_string(meta->u.dict.values[i], value, sizeof value, "a cassnn metadata value", err) ||
            blob_dict_set_meta(d, key, value, err))
            return -1;
    }
    return 0;
}

static int read_net(blob_dict *d, const pk_obj *top, size_t *budget, cassnn_err *err) {
    for (size_t i = 0; i < top->u.dict.n; i++) {
        char name[256];
        const pk_obj *v = top->u.dict.values[i];
        if (c_string(top->u.dict.keys[i], name, sizeof name, "a state_dict key", err)) return -1;
        if (v->kind != PK_TENSOR)
            return cassnn_err_set(err, "pickle: state_dict entry '%s' is a %s, expected a tensor",
                                  name, pk_kind_name(v->kind));
        if (blob_dict_find(d, name))
            return cassnn_err_set(err, "pickle: state_dict entry '%s' appears twice", name);
        if (add_tensor(d, name, &v->u.tensor, budget, err)) return -1;
    }
    const pk_obj *meta = top->u.dict.attrs ? pk_dict_get(top->u.dict.attrs, "cassnn") : NULL;
    return meta ? read_meta(d, meta, err) : 0;
}

/* A number as metadata text: the shortest form that reads back the same. */
static int set_number(blob_dict *d, const char *key, double v, cassnn_err *err) {
    char text[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    return blob_dict_set_meta(d, key, text, err);
}

static int group_number(blob_dict *d, const pk_obj *group, const char *key, cassnn_err *err) {
    const pk_obj *v = pk_dict_get(group, key);
    double x;
    if (!v) return blob_dict_meta(d, key) ? 0 : blob_dict_set_meta(d, key, "0", err);
    if (pk_number(v, &x) || !isfinite(x))
        return cassnn_err_set(err, "pickle: param_groups[0]['%s'] is not a number", key);
    return set_number(d, key, x, err);
}

/* Python truthiness of an optional flag of the group (absent = false). */
static int group_flag(const pk_obj *group, const char *key) {
    const pk_obj *v = pk_dict_get(group, key);
    return v && (v->kind == PK_BOOL || v->kind == PK_INT) && v->u.i != 0;
}

static const char *optimizer_kind(const pk_obj *group) {
    if (!pk_dict_get(group, "betas")) return pk_dict_get(group, "momentum") ? "sgd" : NULL;
    if (pk_dict_get(group, "decoupled_weight_decay"))
        return group_flag(group, "decoupled_weight_decay") ? "adamw" : "adam";
    return pk_dict_get(group, "differentiable") ? "adam" : "adamw";
}

static int read_group(blob_dict *d, const pk_obj *group, int *n_params, cassnn_err *err) {
    if (group->kind != PK_DICT) return cassnn_err_set(err, "pickle: param_groups[0] is not a dict");
    const pk_obj *params = pk_dict_get(group, "params");
    if (!params || params->kind != PK_LIST)
        return cassnn_err_set(err, "pickle: param_groups[0] has no 'params' list");
    for (size_t i = 0; i < params->u.seq.n; i++)
        if (params->u.seq.items[i]->kind != PK_INT || params->u.seq.items[i]->u.i != (int64_t)i)
            return cassnn_err_set(err, "pickle: param_groups[0]['params'] is not 0..%zu in order",
                                  params->u.seq.n - 1);
    if (params->u.seq.n > BLOB_MAX_TENSORS)
        return cassnn_err_set(err, "pickle: more than %d parameters", BLOB_MAX_TENSORS);
    *n_params = (int)params->u.seq.n;
    static const char *const refused[] = {"amsgrad", "maximize"};
    for (int i = 0; i < 2; i++)
        if (group_flag(group, refused[i]))
            return cassnn_err_set(err, "pickle: the optimizer uses %s, which cassnn does not have",
                                  refused[i]);
    const char *kind = optimizer_kind(group);
    if (!kind) return cassnn_err_set(err, "pickle: param_groups[0] has neither momentum (SGD) "
                                          "nor betas (Adam)");
    if (!blob_dict_meta(d, "optimizer") && blob_dict_set_meta(d, "optimizer", kind, err)) return -1;
    const pk_obj *betas = pk_dict_get(group, "betas");
    double b[2];
    if (betas) {
        if ((betas->kind != PK_TUPLE && betas->kind != PK_LIST) || betas->u.seq.n != 2 ||
            pk_number(betas->u.seq.items[0], &b[0]) || pk_number(betas->u.seq.items[1], &b[1]))
            return cassnn_err_set(err, "pickle: param_groups[0]['betas'] is not two numbers");
        if (set_number(d, "beta1", b[0], err) || set_number(d, "beta2", b[1], err)) return -1;
    }
    static const char *const numbers[] = {"lr", "momentum", "dampening", "weight_decay", "eps",
                                          "beta1", "beta2"};
    for (int i = 0; i < 7; i++)
        if (group_number(d, group, numbers[i], err)) return -1;
    return blob_dict_set_meta(d, "nesterov", group_flag(group, "nesterov") ? "1" : "0", err);
}

/* Adam's per-parameter step: a number or a scalar tensor. */
static int step_value(const pk_obj *v, double *out) {
    if (pk_number(v, out) == 0) return 0;
    if (v->kind != PK_TENSOR || v->u.tensor.ndim != 0) return -1;
    const pk_tensor *t = &v->u.tensor;
    const uint8_t *p = t->storage->data + (size_t)t->offset * t->storage->elem;
    if (!strcmp(t->storage->dtype, "F32")) {
        float f;
        memcpy(&f, p, 4);
        *out = f;
    } else if (!strcmp(t->storage->dtype, "F64")) {
        memcpy(out, p, 8);
    } else if (!strcmp(t->storage->dtype, "I64")) {
        int64_t i;
        memcpy(&i, p, 8);
        *out = (double)i;
    } else {
        return -1;
    }
    return 0;
}

static int read_optim(blob_dict *d, const pk_obj *top, size_t *budget, cassnn_err *err) {
    const pk_obj *state = pk_dict_get(top, "state"), *groups = pk_dict_get(top, "param_groups");
    const pk_obj *meta = pk_dict_get(top, "cassnn");
    if (meta && read_meta(d, meta, err)) return -1;
    if (!state || state->kind != PK_DICT || !groups || groups->kind != PK_LIST)
        return cassnn_err_set(err, "pickle: optimizer state_dict without a 'state' dict and a "
                                   "'param_groups' list");
    if (groups->u.seq.n != 1)
        return cassnn_err_set(err, "pickle: %zu parameter groups (cassnn keeps one)", groups->u.seq.n);
    int n_params = 0;
    if (read_group(d, groups->u.seq.items[0], &n_params, err)) return -1;
    double step = -1;
    int buffers = 0;
    for (size_t i = 0; i < state->u.dict.n; i++) {
        const pk_obj *key = state->u.dict.keys[i], *entry = state->u.dict.values[i];
        if (key->kind != PK_INT || key->u.i < 0 || key->u.i >= n_params || entry->kind != PK_DICT)
            return cassnn_err_set(err, "pickle: optimizer state entry %zu is not a parameter "
                                       "index 0..%d with a dict", i, n_params - 1);
        for (size_t j = 0; j < entry->u.dict.n; j++) {
            char name[64], full[96];
            const pk_obj *v = entry->u.dict.values[j];
            if (c_string(entry->u.dict.keys[j], name, sizeof name, "an optimizer state name", err))
                return -1;
            snprintf(full, sizeof full, "state.%lld.%s", (long long)key->u.i, name);
            if (!strcmp(name, "step")) {
                double s;
                if (step_value(v, &s) || s < 0 || s > 1e15 || s != floor(s) || (step >= 0 && s != step))
                    return cassnn_err_set(err, "pickle: %s is not one whole step count shared by "
                                               "every parameter", full);
                step = s;
            } else if (v->kind == PK_TENSOR) {
                if (blob_dict_find(d, full))
                    return cassnn_err_set(err, "pickle: %s appears twice", full);
                if (add_tensor(d, full, &v->u.tensor, budget, err)) return -1;
                buffers++;
            } else if (v->kind != PK_NONE) { /* PyTorch 1.13's SGD keeps None without momentum */
                return cassnn_err_set(err, "pickle: %s is a %s, expected a tensor", full,
                                      pk_kind_name(v->kind));
            }
        }
    }
    char count[16];
    snprintf(count, sizeof count, "%d", n_params);
    if (blob_dict_set_meta(d, "params", count, err)) return -1;
    if (step >= 0) return set_number(d, "step", step, err);
    if (blob_dict_meta(d, "step")) return 0;
    return blob_dict_set_meta(d, "step", buffers ? "1" : "0", err);
}

int blob_pickle_parse(blob_dict *d, blob_pickle_kind *kind, const uint8_t *buf, size_t len,
                      cassnn_err *err) {
    memset(d, 0, sizeof *d);
    pk_arena *a = pk_arena_new();
    if (!a) return cassnn_err_set(err, "pickle: out of memory");
    pk_obj *top;
    size_t budget = len < ((size_t)-1) / 4 ? 4 * len : len;
    int rc = pk_load(a, buf, len, &top, err);
    if (rc == 0 && top->kind != PK_DICT)
        rc = cassnn_err_set(err, "pickle: the blob holds a %s, not a state_dict", pk_kind_name(top->kind));
    if (rc == 0) {
        *kind = pk_dict_get(top, "param_groups") ? BLOB_PICKLE_OPTIM : BLOB_PICKLE_NET;
        rc = *kind == BLOB_PICKLE_OPTIM ? read_optim(d, top, &budget, err)
                                        : read_net(d, top, &budget, err);
    }
    pk_arena_free(a);
    if (rc) blob_dict_free(d);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------- */

typedef struct writer {
    uint8_t *p;
    size_t n, cap;
    int oom;
} writer;

static void put(writer *w, const void *data, size_t n) {
    if (w->oom) return;
    if (w->cap - w->n < n) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->n < n) cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, data, n);
    w->n += n;
}

static void op(writer *w, uint8_t c) { put(w, &c, 1); }

static void put_le(writer *w, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, (size_t)n);
}

static void w_str(writer *w, const char *s) {
    op(w, 'X'); /* BINUNICODE */
    put_le(w, strlen(s), 4);
    put(w, s, strlen(s));
}

static void w_int(writer *w, int64_t v) {
    if (v >= 0 && v < 256) {
        op(w, 'K');
        put_le(w, (uint64_t)v, 1);
    } else if (v >= 0 && v < 65536) {
        op(w, 'M');
        put_le(w, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op(w, 'J');
        put_le(w, (uint64_t)v, 4);
    } else {
        op(w, 0x8a); /* LONG1, 8 bytes two's complement */
        op(w, 8);
        put_le(w, (uint64_t)v, 8);
    }
}

static void w_float(writer *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    op(w, 'G');
    for (int i = 7; i >= 0; i--) op(w, (uint8_t)(bits >> (8 * i)));
}

static void w_bool(writer *w, int v) { op(w, v ? 0x88 : 0x89); }

static void w_global(writer *w, const char *module, const char *name) {
    op(w, 'c');
    put(w, module, strlen(module));
    op(w, '\n');
    put(w, name, strlen(name));
    op(w, '\n');
}

static void w_ordered_dict(writer *w) {
    w_global(w, "collections", "OrderedDict");
    op(w, ')');
    op(w, 'R');
}

/* A dict of str -> str (cassnn's metadata). */
static void w_meta(writer *w, const blob_dict *d) {
    op(w, '}');
    if (!d->meta_count) return;
    op(w, '(');
    for (size_t i = 0; i < d->meta_count; i++) {
        w_str(w, d->meta_keys[i]);
        w_str(w, d->meta_values[i]);
    }
    op(w, 'u');
}

/* torch.save(storage, _use_new_zipfile_serialization=False) of t's data. */
static void w_legacy_storage(writer *w, const blob_tensor *t, const char *type, size_t numel) {
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    static const char *const sizes[3][2] = {{"short", "\x02"}, {"int", "\x04"}, {"long", "\x04"}};
    op(w, 0x80), op(w, 2), op(w, 0x8a), op(w, 10), put(w, magic, 10), op(w, '.');
    op(w, 0x80), op(w, 2), w_int(w, 1001), op(w, '.');
    op(w, 0x80), op(w, 2), op(w, '}'), op(w, '(');
    w_str(w, "protocol_version"), w_int(w, 1001);
    w_str(w, "little_endian"), w_bool(w, 1);
    w_str(w, "type_sizes"), op(w, '}'), op(w, '(');
    for (int i = 0; i < 3; i++) w_str(w, sizes[i][0]), w_int(w, sizes[i][1][0]);
    op(w, 'u'), op(w, 'u'), op(w, '.');
    op(w, 0x80), op(w, 2), op(w, '(');
    w_str(w, "storage"), w_global(w, "torch", type), w_str(w, "0"), w_str(w, "cpu");
    w_int(w, (int64_t)numel), op(w, 'N'), op(w, 't'), op(w, 'Q'), op(w, '.');
    op(w, 0x80), op(w, 2), op(w, ']'), w_str(w, "0"), op(w, 'a'), op(w, '.');
    put_le(w, numel, 8);
    put(w, t->data, t->nbytes);
}

/* _rebuild_tensor_v2(_load_from_bytes(...), 0, size, stride, False, OrderedDict()) */
static int w_tensor(writer *w, const blob_tensor *t, cassnn_err *err) {
    const char *type = pk_storage_type(t->dtype);
    if (!type) return cassnn_err_set(err, "pickle: tensor '%s' has dtype %s, no torch storage type",
                                     t->name, t->dtype);
    size_t numel = 1;
    int64_t stride[BLOB_MAX_DIMS];
    for (int i = t->ndim - 1; i >= 0; i--) {
        stride[i] = (int64_t)numel;
        numel *= (size_t)t->shape[i];
    }
    writer storage = {0};
    w_legacy_storage(&storage, t, type, numel);
    if (storage.oom || storage.n > UINT32_MAX) {
        free(storage.p);
        return cassnn_err_set(err, "pickle: tensor '%s' is too large to write", t->name);
    }
    w_global(w, "torch._utils", "_rebuild_tensor_v2");
    op(w, '(');
    w_global(w, "torch.storage", "_load_from_bytes");
    op(w, 'B');
    put_le(w, storage.n, 4);
    put(w, storage.p, storage.n);
    free(storage.p);
    op(w, 0x85), op(w, 'R');
    w_int(w, 0);
    op(w, '(');
    for (int i = 0; i < t->ndim; i++) w_int(w, t->shape[i]);
    op(w, 't'), op(w, '(');
    for (int i = 0; i < t->ndim; i++) w_int(w, stride[i]);
    op(w, 't');
    w_bool(w, 0);
    w_ordered_dict(w);
    op(w, 't'), op(w, 'R');
    return 0;
}

static int finish(writer *w, uint8_t **out, size_t *len, cassnn_err *err) {
    op(w, '.');
    if (w->oom) {
        free(w->p);
        return cassnn_err_set(err, "pickle: out of memory while writing");
    }
    *out = w->p;
    *len = w->n;
    return 0;
}

int blob_pickle_write_net(const blob_dict *d, uint8_t **out, size_t *len, cassnn_err *err) {
    writer w = {0};
    op(&w, 0x80), op(&w, 3);
    w_ordered_dict(&w);
    if (d->count) op(&w, '(');
    for (size_t i = 0; i < d->count; i++) {
        w_str(&w, d->tensors[i].name);
        if (w_tensor(&w, &d->tensors[i], err)) {
            free(w.p);
            return -1;
        }
    }
    if (d->count) op(&w, 'u');
    /* the attributes: _metadata as Module.state_dict() makes it, and ours */
    op(&w, '}'), op(&w, '('), w_str(&w, "_metadata");
    w_ordered_dict(&w);
    op(&w, '('), w_str(&w, ""), op(&w, '}'), w_str(&w, "version"), w_int(&w, 1), op(&w, 's');
    for (size_t i = 0; i < d->count; i++) {
        const char *name = d->tensors[i].name, *dot = strrchr(name, '.');
        char prefix[256], tracked[300];
        if (!dot || (size_t)(dot - name) >= sizeof prefix) continue;
        snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - name), name);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strncmp(d->tensors[j].name, prefix, strlen(prefix)) &&
                   d->tensors[j].name[strlen(prefix)] == '.';
        if (seen) continue;
        snprintf(tracked, sizeof tracked, "%s.num_batches_tracked", prefix);
        w_str(&w, prefix), op(&w, '}'), w_str(&w, "version");
        w_int(&w, blob_dict_find(d, tracked) ? 2 : 1), op(&w, 's');
    }
    op(&w, 'u');
    w_str(&w, "cassnn");
    w_meta(&w, d);
    op(&w, 'u'), op(&w, 'b');
    return finish(&w, out, len, err);
}

static double meta_double(const blob_dict *d, const char *key) {
    const char *v = blob_dict_meta(d, key);
    return v ? strtod(v, NULL) : 0.0;
}

int blob_pickle_write_optim(const blob_dict *d, int n_params, uint8_t **out, size_t *len,
                            cassnn_err *err) {
    const char *kind = blob_dict_meta(d, "optimizer");
    if (!kind) return cassnn_err_set(err, "pickle: optimizer without a kind");
    const int adam = strcmp(kind, "sgd") != 0;
    writer w = {0};
    op(&w, 0x80), op(&w, 3), op(&w, '}'), op(&w, '(');
    w_str(&w, "state"), op(&w, '}');
    int opened = 0;
    for (int i = 0; i < n_params; i++) {
        char prefix[32];
        const int plen = snprintf(prefix, sizeof prefix, "state.%d.", i);
        int first = 1;
        for (size_t k = 0; k < d->count; k++) {
            const blob_tensor *t = &d->tensors[k];
            if (strncmp(t->name, prefix, (size_t)plen)) continue;
            if (first) {
                if (!opened++) op(&w, '(');
                w_int(&w, i), op(&w, '}'), op(&w, '(');
                if (adam) { /* Adam's step: a float32 scalar tensor per parameter */
                    const float step = (float)meta_double(d, "step");
                    const blob_tensor s = {"step", "F32", 0, {0}, sizeof step, (const uint8_t *)&step};
                    w_str(&w, "step");
                    if (w_tensor(&w, &s, err)) goto fail;
                }
                first = 0;
            }
            w_str(&w, t->name + plen);
            if (w_tensor(&w, t, err)) goto fail;
        }
        if (!first) op(&w, 'u');
    }
    if (opened) op(&w, 'u');
    w_str(&w, "param_groups"), op(&w, ']'), op(&w, '}'), op(&w, '(');
    w_str(&w, "lr"), w_float(&w, meta_double(d, "lr"));
    if (adam) {
        w_str(&w, "betas"), w_float(&w, meta_double(d, "beta1")), w_float(&w, meta_double(d, "beta2"));
        op(&w, 0x86);
        w_str(&w, "eps"), w_float(&w, meta_double(d, "eps"));
        w_str(&w, "weight_decay"), w_float(&w, meta_double(d, "weight_decay"));
        w_str(&w, "amsgrad"), w_bool(&w, 0);
        w_str(&w, "capturable"), w_bool(&w, 0);
        w_str(&w, "decoupled_weight_decay"), w_bool(&w, !strcmp(kind, "adamw"));
    } else {
        w_str(&w, "momentum"), w_float(&w, meta_double(d, "momentum"));
        w_str(&w, "dampening"), w_float(&w, meta_double(d, "dampening"));
        w_str(&w, "weight_decay"), w_float(&w, meta_double(d, "weight_decay"));
        w_str(&w, "nesterov"), w_bool(&w, meta_double(d, "nesterov") != 0);
    }
    w_str(&w, "maximize"), w_bool(&w, 0);
    w_str(&w, "foreach"), op(&w, 'N');
    w_str(&w, "differentiable"), w_bool(&w, 0);
    w_str(&w, "fused"), op(&w, 'N');
    w_str(&w, "params"), op(&w, ']');
    if (n_params) {
        op(&w, '(');
        for (int i = 0; i < n_params; i++) w_int(&w, i);
        op(&w, 'e');
    }
    op(&w, 'u'), op(&w, 'a');
    w_str(&w, "cassnn");
    w_meta(&w, d);
    op(&w, 'u');
    return finish(&w, out, len, err);
fail:
    free(w.p);
    return -1;
}
