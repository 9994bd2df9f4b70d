/* safetensors.c - parse and write the safetensors container (see nn_safetensors.h). */
#include "cassnn/nn_safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A header larger than this is refused before parsing (the reference
 * implementation uses the same 100 MB bound). */
#define MAX_HEADER (100u * 1000u * 1000u)

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8},
};

static size_t dtype_size(const char *name) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(name, dtypes[i].name)) return dtypes[i].size;
    return 0;
}

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void nn_st_free(nn_safetensors *st) {
    for (size_t i = 0; i < st->count; i++) free(st->tensors[i].name);
    for (size_t i = 0; i < st->meta_count; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    memset(st, 0, sizeof *st);
}

static int parse_metadata(nn_safetensors *st, json_t *meta, cassnn_err *err) {
    if (!json_is_object(meta)) return cassnn_err_set(err, "safetensors: __metadata__ is not an object");
    size_t n = json_object_size(meta);
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_values = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values) return cassnn_err_set(err, "safetensors: out of memory");
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return cassnn_err_set(err, "safetensors: metadata '%s' is not a string", key);
        st->meta_keys[st->meta_count] = strdup(key);
        st->meta_values[st->meta_count] = strdup(json_string_value(value));
        st->meta_count++;
        if (!st->meta_keys[st->meta_count - 1] || !st->meta_values[st->meta_count - 1])
            return cassnn_err_set(err, "safetensors: out of memory");
    }
    return 0;
}

static int parse_tensor(nn_st_tensor *t, const char *name, json_t *info, const uint8_t *data,
                        size_t data_len, cassnn_err *err) {
    if (!json_is_object(info)) return cassnn_err_set(err, "safetensors: tensor '%s' is not an object", name);
    json_t *dtype = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape");
    json_t *offsets = json_object_get(info, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offsets) ||
        json_array_size(offsets) != 2)
        return cassnn_err_set(err, "safetensors: tensor '%s' lacks dtype, shape or data_offsets [begin, end]", name);
    const size_t elem = dtype_size(json_string_value(dtype));
    if (!elem)
        return cassnn_err_set(err, "safetensors: tensor '%s' has unknown dtype '%.16s'", name,
                              json_string_value(dtype));
    strcpy(t->dtype, json_string_value(dtype));
    if (json_array_size(shape) > NN_ST_MAX_DIMS)
        return cassnn_err_set(err, "safetensors: tensor '%s' has more than %d dimensions", name, NN_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    uint64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *dim = json_array_get(shape, (size_t)d);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return cassnn_err_set(err, "safetensors: tensor '%s' dimension %d is not a non-negative integer", name, d);
        t->shape[d] = json_integer_value(dim);
        /* the product must fit the buffer, so anything past 2^40 is bogus */
        if ((uint64_t)t->shape[d] > (1ULL << 40) || (count *= (uint64_t)t->shape[d]) > (1ULL << 40))
            return cassnn_err_set(err, "safetensors: tensor '%s' shape is too large", name);
    }
    json_t *b = json_array_get(offsets, 0), *e = json_array_get(offsets, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b) ||
        (uint64_t)json_integer_value(e) > data_len)
        return cassnn_err_set(err, "safetensors: tensor '%s' data_offsets are outside the %zu data bytes (file truncated?)", name, data_len);
    const size_t begin = (size_t)json_integer_value(b), end = (size_t)json_integer_value(e);
    if (end - begin != count * elem)
        return cassnn_err_set(err, "safetensors: tensor '%s' has %zu data bytes, its shape needs %llu", name,
                              end - begin, (unsigned long long)(count * elem));
    t->nbytes = end - begin;
    t->data = data + begin;
    t->name = strdup(name);
    return t->name ? 0 : cassnn_err_set(err, "safetensors: out of memory");
}

int nn_st_parse(nn_safetensors *st, const uint8_t *buf, size_t len, cassnn_err *err) {
    memset(st, 0, sizeof *st);
    if (len < 8) return cassnn_err_set(err, "safetensors: %zu bytes is too short for the 8-byte header length", len);
    const uint64_t header_len = read_le64(buf);
    if (header_len > MAX_HEADER || header_len > len - 8)
        return cassnn_err_set(err, "safetensors: header length %llu does not fit the %zu-byte blob (truncated or not safetensors)",
                              (unsigned long long)header_len, len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cassnn_err_set(err, "safetensors: header JSON invalid at line %d column %d: %s", jerr.line,
                              jerr.column, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        cassnn_err_set(err, "safetensors: header is not a JSON object");
        goto done;
    }
    const uint8_t *data = buf + 8 + header_len;
    const size_t data_len = len - 8 - (size_t)header_len;
    st->tensors = calloc(json_object_size(root) + 1, sizeof *st->tensors);
    if (!st->tensors) {
        cassnn_err_set(err, "safetensors: out of memory");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (!strcmp(key, "__metadata__")) {
            if (parse_metadata(st, value, err)) goto done;
            continue;
        }
        if (parse_tensor(&st->tensors[st->count], key, value, data, data_len, err)) goto done;
        st->count++;
    }
    rc = 0;
done:
    json_decref(root);
    if (rc) nn_st_free(st);
    return rc;
}

const nn_st_tensor *nn_st_find(const nn_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->count; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *nn_st_meta(const nn_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->meta_count; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static int read_tensor(const nn_safetensors *st, const char *name, const char *dtype, int ndim,
                       const int64_t *shape, void *out, cassnn_err *err) {
    const nn_st_tensor *t = nn_st_find(st, name);
    if (!t) return cassnn_err_set(err, "safetensors: tensor '%s' is missing", name);
    if (strcmp(t->dtype, dtype))
        return cassnn_err_set(err, "safetensors: tensor '%s' is %s, expected %s", name, t->dtype,
                              dtype);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char have[128], want[128];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return cassnn_err_set(err, "safetensors: tensor '%s' has shape %s, expected %s", name, have, want);
    }
    /* little-endian on disk; the build targets little-endian hosts (x86-64, arm64) */
    memcpy(out, t->data, t->nbytes);
    return 0;
}

int nn_st_read_f32(const nn_safetensors *st, const char *name, int ndim, const int64_t *shape,
                   float *out, cassnn_err *err) {
    return read_tensor(st, name, "F32", ndim, shape, out, err);
}

int nn_st_read_i64(const nn_safetensors *st, const char *name, int ndim, const int64_t *shape,
                   int64_t *out, cassnn_err *err) {
    return read_tensor(st, name, "I64", ndim, shape, out, err);
}

/* Bytes of one element of e (float32 or int64). */
static size_t entry_elem_size(const nn_st_entry *e) {
    return e->dtype && !strcmp(e->dtype, "I64") ? sizeof(int64_t) : sizeof(float);
}

int nn_st_write(uint8_t **out, size_t *len, const nn_st_entry *entries, size_t count,
                const char *const *meta, size_t meta_count, cassnn_err *err) {
    *out = NULL;
    *len = 0;
    json_t *root = json_object();
    if (!root) return cassnn_err_set(err, "safetensors: out of memory");
    int rc = -1;
    char *header = NULL;
    size_t offset = 0;
    if (meta_count) {
        json_t *m = json_object();
        for (size_t i = 0; m && i < meta_count; i++)
            json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
        if (!m || json_object_set_new(root, "__metadata__", m)) goto oom;
    }
    for (size_t i = 0; i < count; i++) {
        const nn_st_entry *e = &entries[i];
        size_t n = 1;
        json_t *shape = json_array();
        for (int d = 0; shape && d < e->ndim; d++) {
            json_array_append_new(shape, json_integer(e->shape[d]));
            n *= (size_t)e->shape[d];
        }
        const size_t bytes = n * entry_elem_size(e);
        json_t *info = json_pack("{s:s, s:o, s:[I,I]}", "dtype",
                                 entry_elem_size(e) == sizeof(float) ? "F32" : "I64", "shape",
                                 shape, "data_offsets", (json_int_t)offset,
                                 (json_int_t)(offset + bytes));
        if (!info || json_object_set_new(root, e->name, info)) goto oom;
        offset += bytes;
    }
    header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!header) goto oom;
    /* pad the header with spaces so the data starts 8-byte aligned */
    size_t header_len = strlen(header);
    const size_t padded = (header_len + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + padded + offset);
    if (!buf) goto oom;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, header_len);
    memset(buf + 8 + header_len, ' ', padded - header_len);
    uint8_t *p = buf + 8 + padded;
    for (size_t i = 0; i < count; i++) {
        size_t n = 1;
        for (int d = 0; d < entries[i].ndim; d++) n *= (size_t)entries[i].shape[d];
        memcpy(p, entries[i].data, n * entry_elem_size(&entries[i]));
        p += n * entry_elem_size(&entries[i]);
    }
    *out = buf;
    *len = 8 + padded + offset;
    rc = 0;
    goto done;
oom:
    cassnn_err_set(err, "safetensors: out of memory while writing");
done:
    free(header);
    json_decref(root);
    return rc;
}

int nn_file_read(const char *path, uint8_t **out, size_t *len, cassnn_err *err) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return cassnn_err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = realloc(buf, cap * 2);
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
    if (!buf) return cassnn_err_set(err, "%s: out of memory", path);
    if (failed) {
        free(buf);
        return cassnn_err_set(err, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

int nn_file_write(const char *path, const uint8_t *buf, size_t len, cassnn_err *err) {
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
