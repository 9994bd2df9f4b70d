/* safetensors.c - parse and write the safetensors container (see blob/safetensors.h). */
#include "blob/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A header larger than this is refused before parsing (the reference
 * implementation uses the same 100 MB bound). */
#define MAX_HEADER (100u * 1000u * 1000u)

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

int blob_st_detect(const uint8_t *buf, size_t len) {
    /* a JSON object after a header length below 4 GiB; the parser then
     * says what is wrong with it (e.g. a length past the end: truncated) */
    return len > 8 && buf[8] == '{' && read_le64(buf) >> 32 == 0;
}

static int parse_metadata(blob_dict *d, json_t *meta, cassnn_err *err) {
    if (!json_is_object(meta)) return cassnn_err_set(err, "safetensors: __metadata__ is not an object");
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return cassnn_err_set(err, "safetensors: metadata '%s' is not a string", key);
        if (blob_dict_set_meta(d, key, json_string_value(value), err))
            return cassnn_err_wrap(err, "safetensors");
    }
    return 0;
}

static int parse_tensor(blob_dict *d, const char *name, json_t *info, const uint8_t *data,
                        size_t data_len, cassnn_err *err) {
    if (!json_is_object(info)) return cassnn_err_set(err, "safetensors: tensor '%s' is not an object", name);
    json_t *dtype = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape");
    json_t *offsets = json_object_get(info, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offsets) ||
        json_array_size(offsets) != 2)
        return cassnn_err_set(err, "safetensors: tensor '%s' lacks dtype, shape or data_offsets [begin, end]", name);
    const size_t elem = blob_dtype_size(json_string_value(dtype));
    if (!elem)
        return cassnn_err_set(err, "safetensors: tensor '%s' has unknown dtype '%.16s'", name,
                              json_string_value(dtype));
    if (json_array_size(shape) > BLOB_MAX_DIMS)
        return cassnn_err_set(err, "safetensors: tensor '%s' has more than %d dimensions", name, BLOB_MAX_DIMS);
    const int ndim = (int)json_array_size(shape);
    int64_t dims[BLOB_MAX_DIMS];
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        json_t *dim = json_array_get(shape, (size_t)i);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return cassnn_err_set(err, "safetensors: tensor '%s' dimension %d is not a non-negative integer", name, i);
        dims[i] = json_integer_value(dim);
        /* the product must fit the buffer, so anything past 2^40 is bogus */
        if ((uint64_t)dims[i] > (1ULL << 40) || (count *= (uint64_t)dims[i]) > (1ULL << 40))
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
    if (blob_dict_add(d, name, json_string_value(dtype), ndim, dims, data + begin, err))
        return cassnn_err_wrap(err, "safetensors");
    return 0;
}

int blob_st_parse(blob_dict *d, const uint8_t *buf, size_t len, cassnn_err *err) {
    memset(d, 0, sizeof *d);
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
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (!strcmp(key, "__metadata__") ? parse_metadata(d, value, err)
                                         : parse_tensor(d, key, value, data, data_len, err))
            goto done;
    }
    rc = 0;
done:
    json_decref(root);
    if (rc) blob_dict_free(d);
    return rc;
}

int blob_st_write(const blob_dict *d, uint8_t **out, size_t *len, cassnn_err *err) {
    *out = NULL;
    *len = 0;
    json_t *root = json_object();
    if (!root) return cassnn_err_set(err, "safetensors: out of memory");
    int rc = -1;
    char *header = NULL;
    size_t offset = 0;
    if (d->meta_count) {
        json_t *m = json_object();
        for (size_t i = 0; m && i < d->meta_count; i++)
            json_object_set_new(m, d->meta_keys[i], json_string(d->meta_values[i]));
        if (!m || json_object_set_new(root, "__metadata__", m)) goto oom;
    }
    for (size_t i = 0; i < d->count; i++) {
        const blob_tensor *t = &d->tensors[i];
        json_t *shape = json_array();
        for (int k = 0; shape && k < t->ndim; k++) json_array_append_new(shape, json_integer(t->shape[k]));
        json_t *info = json_pack("{s:s, s:o, s:[I,I]}", "dtype", t->dtype, "shape", shape,
                                 "data_offsets", (json_int_t)offset,
                                 (json_int_t)(offset + t->nbytes));
        if (!info || json_object_set_new(root, t->name, info)) goto oom;
        offset += t->nbytes;
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
    for (size_t i = 0; i < d->count; i++) {
        memcpy(p, d->tensors[i].data, d->tensors[i].nbytes);
        p += d->tensors[i].nbytes;
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
