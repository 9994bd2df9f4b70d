/* dict.c - the state_dict view shared by the blob formats (see blob_dict.h). */
#include "cassnn/blob_dict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8},
};

size_t blob_dtype_size(const char *name) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(name, dtypes[i].name)) return dtypes[i].size;
    return 0;
}

void blob_dict_free(blob_dict *d) {
    for (size_t i = 0; i < d->count; i++) free(d->tensors[i].name);
    for (size_t i = 0; i < d->meta_count; i++) {
        free(d->meta_keys[i]);
        free(d->meta_values[i]);
    }
    for (size_t i = 0; i < d->owned_count; i++) free(d->owned[i]);
    free(d->tensors);
    free(d->meta_keys);
    free(d->meta_values);
    free(d->owned);
    memset(d, 0, sizeof *d);
}

/* Grows *p (n used) to hold one more element of size elem; capacities are
 * powers of two, so the count alone says when to grow. */
static int grow(void **p, size_t n, size_t elem) {
    if (n & (n - 1)) return 0; /* room left */
    void *q = realloc(*p, (n ? 2 * n : 1) * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

int blob_dict_add(blob_dict *d, const char *name, const char *dtype, int ndim,
                  const int64_t *shape, const void *data, cassnn_err *err) {
    const size_t elem = blob_dtype_size(dtype);
    if (!elem || ndim < 0 || ndim > BLOB_MAX_DIMS || strlen(dtype) >= sizeof d->tensors[0].dtype)
        return cassnn_err_set(err, "tensor '%s': bad dtype %s or %d dimensions", name, dtype, ndim);
    if (d->count >= BLOB_MAX_TENSORS)
        return cassnn_err_set(err, "more than %d tensors", BLOB_MAX_TENSORS);
    if (grow((void **)&d->tensors, d->count, sizeof *d->tensors))
        return cassnn_err_set(err, "out of memory");
    blob_tensor *t = &d->tensors[d->count];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return cassnn_err_set(err, "out of memory");
    strcpy(t->dtype, dtype);
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)(t->shape[i] = shape[i]);
    t->nbytes = n * elem;
    t->data = data;
    d->count++;
    return 0;
}

int blob_dict_set_meta(blob_dict *d, const char *key, const char *value, cassnn_err *err) {
    char *v = strdup(value);
    if (!v) return cassnn_err_set(err, "out of memory");
    for (size_t i = 0; i < d->meta_count; i++)
        if (!strcmp(d->meta_keys[i], key)) {
            free(d->meta_values[i]);
            d->meta_values[i] = v;
            return 0;
        }
    char *k = strdup(key);
    if (!k || grow((void **)&d->meta_keys, d->meta_count, sizeof(char *)) ||
        grow((void **)&d->meta_values, d->meta_count, sizeof(char *))) {
        free(k);
        free(v);
        return cassnn_err_set(err, "out of memory");
    }
    d->meta_keys[d->meta_count] = k;
    d->meta_values[d->meta_count] = v;
    d->meta_count++;
    return 0;
}

int blob_dict_own(blob_dict *d, void *data, cassnn_err *err) {
    if (grow((void **)&d->owned, d->owned_count, sizeof(void *))) {
        free(data);
        return cassnn_err_set(err, "out of memory");
    }
    d->owned[d->owned_count++] = data;
    return 0;
}

const blob_tensor *blob_dict_find(const blob_dict *d, const char *name) {
    for (size_t i = 0; i < d->count; i++)
        if (!strcmp(d->tensors[i].name, name)) return &d->tensors[i];
    return NULL;
}

const char *blob_dict_meta(const blob_dict *d, const char *key) {
    for (size_t i = 0; i < d->meta_count; i++)
        if (!strcmp(d->meta_keys[i], key)) return d->meta_values[i];
    return NULL;
}

void blob_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int read_tensor(const blob_dict *d, const char *name, const char *dtype, int ndim,
                       const int64_t *shape, void *out, cassnn_err *err) {
    const blob_tensor *t = blob_dict_find(d, name);
    if (!t) return cassnn_err_set(err, "tensor '%s' is missing", name);
    if (strcmp(t->dtype, dtype))
        return cassnn_err_set(err, "tensor '%s' is %s, expected %s", name, t->dtype, dtype);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[128], want[128];
        blob_format_shape(have, sizeof have, t->ndim, t->shape);
        blob_format_shape(want, sizeof want, ndim, shape);
        return cassnn_err_set(err, "tensor '%s' has shape %s, expected %s", name, have, want);
    }
    /* little-endian in both formats; the build targets little-endian hosts */
    memcpy(out, t->data, t->nbytes);
    return 0;
}

int blob_dict_read_f32(const blob_dict *d, const char *name, int ndim, const int64_t *shape,
                       float *out, cassnn_err *err) {
    return read_tensor(d, name, "F32", ndim, shape, out, err);
}

int blob_dict_read_i64(const blob_dict *d, const char *name, int ndim, const int64_t *shape,
                       int64_t *out, cassnn_err *err) {
    return read_tensor(d, name, "I64", ndim, shape, out, err);
}
