/* idx.c - MNIST-style IDX reader (raw or gzip, through zlib's gz* API).
 *
 * gzopen/gzread read a plain file as is and a gzip file decompressed, so one
 * code path serves both. Every way a file can be wrong is an error naming the
 * file: unreadable, bad magic, impossible sizes, data shorter or longer than
 * the header promises, a damaged gzip stream (bad deflate data, CRC or length
 * mismatch, cut-off stream), labels out of 0..9. (Bytes after the end of a
 * gzip member that are not another member are ignored by zlib, as by gzip -d;
 * the decompressed data itself is fully checked by CRC and length.)
 */
#include "cassnn/idx.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { IDX_IMAGES_MAGIC = 2051, IDX_LABELS_MAGIC = 2049 };

/* The decompressed content of one IDX file after its header. */
typedef struct idx_file {
    const char *path;
    gzFile gz;
    uint32_t dims[3]; /* count[, rows, cols] */
    uint8_t *data;
    size_t size;
} idx_file;

/* Turns the stream's error state into a message; 0 if there is none. A
 * Z_BUF_ERROR from a gzip stream means its compressed data stops early. */
static int gz_failed(idx_file *f, cassnn_err *err) {
    int code = Z_OK;
    const char *what = gzerror(f->gz, &code);
    if (code == Z_OK) return 0;
    if (code == Z_ERRNO)
        return cassnn_err_set(err, "%s: read error: %s", f->path, strerror(errno));
    if (code == Z_BUF_ERROR)
        return cassnn_err_set(err, "%s: gzip stream is truncated (%s)", f->path, what);
    return cassnn_err_set(err, "%s: gzip data is corrupt (%s)", f->path, what);
}

/* Reads up to want bytes; returns how many arrived (fewer only at the end of
 * the data), or -1 with err set when the stream is damaged. */
static long long read_upto(idx_file *f, void *buf, size_t want, cassnn_err *err) {
    size_t got = 0;
    while (got < want) {
        size_t chunk = want - got > (1u << 30) ? (1u << 30) : want - got;
        int n = gzread(f->gz, (uint8_t *)buf + got, (unsigned)chunk);
        if (n < 0) return gz_failed(f, err) ? -1 : cassnn_err_set(err, "%s: read failed", f->path);
        if (n == 0) break;
        got += (size_t)n;
    }
    if (gz_failed(f, err)) return -1;
    return (long long)got;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens path, checks the magic and reads ndims sizes, then the body, which
 * must be exactly the product of the sizes: a short file is truncated, a
 * longer one has trailing garbage. Both are errors, never a silent cut. */
static int idx_read(idx_file *f, const char *path, uint32_t magic, int ndims, cassnn_err *err) {
    memset(f, 0, sizeof *f);
    f->path = path;
    f->gz = gzopen(path, "rb");
    if (!f->gz) return cassnn_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    gzbuffer(f->gz, 1u << 17);

    /* The magic first, so that a file of the wrong kind is named as such. */
    uint8_t header[16];
    size_t header_size = 4 + 4 * (size_t)ndims;
    long long got = read_upto(f, header, 4, err);
    if (got < 0) return -1;
    if (got == 4 && be32(header) != magic)
        return cassnn_err_set(err, "%s: bad magic %u (an IDX %s file starts with %u)", path,
                              be32(header), magic == IDX_IMAGES_MAGIC ? "image" : "label", magic);
    if (got == 4) {
        long long more = read_upto(f, header + 4, header_size - 4, err);
        if (more < 0) return -1;
        got += more;
    }
    if ((size_t)got < header_size)
        return cassnn_err_set(err, "%s: truncated header (%lld of %zu bytes)", path, got,
                              header_size);

    size_t size = 1;
    for (int d = 0; d < ndims; d++) {
        f->dims[d] = be32(header + 4 + 4 * d);
        if (f->dims[d] == 0 || f->dims[d] > INT32_MAX)
            return cassnn_err_set(err, "%s: invalid size %u in header field %d", path, f->dims[d],
                                  d + 1);
        if (size > SIZE_MAX / f->dims[d])
            return cassnn_err_set(err, "%s: header sizes overflow", path);
        size *= f->dims[d];
    }

    /* Grow the buffer as data arrives rather than trusting the header for the
     * allocation: a corrupt header must give "truncated", not out-of-memory. */
    size_t cap = size + 1 < (1u << 24) ? size + 1 : (1u << 24);
    f->data = malloc(cap);
    if (!f->data) return cassnn_err_set(err, "%s: out of memory", path);
    while (f->size < size + 1) {
        if (f->size == cap) {
            cap = cap > (size + 1) / 2 ? size + 1 : cap * 2;
            uint8_t *grown = realloc(f->data, cap);
            if (!grown) return cassnn_err_set(err, "%s: out of memory for %zu bytes", path, cap);
            f->data = grown;
        }
        got = read_upto(f, f->data + f->size, cap - f->size, err);
        if (got < 0) return -1;
        f->size += (size_t)got;
        if (f->size < cap) break; /* end of data */
    }
    if (f->size < size)
        return cassnn_err_set(err, "%s: truncated: header promises %zu data bytes, file has %zu",
                              path, size, f->size);
    if (f->size > size)
        return cassnn_err_set(err, "%s: trailing data after the %zu bytes the header promises",
                              path, size);
    return 0;
}

/* Releases f; returns gzclose's status (it can report a late failure). */
static int idx_close(idx_file *f) {
    int z = f->gz ? gzclose(f->gz) : Z_OK;
    free(f->data);
    memset(f, 0, sizeof *f);
    return z;
}

int data_idx_load(const char *images_path, const char *labels_path, data_images *out,
                  cassnn_err *err) {
    memset(out, 0, sizeof *out);
    idx_file images, labels;
    memset(&labels, 0, sizeof labels);
    int rc = idx_read(&images, images_path, IDX_IMAGES_MAGIC, 3, err);
    if (rc == 0 && labels_path) {
        rc = idx_read(&labels, labels_path, IDX_LABELS_MAGIC, 1, err);
        if (rc == 0 && labels.dims[0] != images.dims[0])
            rc = cassnn_err_set(err, "%s holds %u images but %s holds %u labels", images_path,
                                images.dims[0], labels_path, labels.dims[0]);
        for (size_t i = 0; rc == 0 && i < labels.size; i++)
            if (labels.data[i] > 9)
                rc = cassnn_err_set(err, "%s: record %zu: label %u is not in 0..9", labels_path,
                                    i, labels.data[i]);
    }
    if (rc == 0)
        rc = data_images_alloc(out, images.dims[0], 1, (int)images.dims[1], (int)images.dims[2],
                               err);
    if (rc == 0) {
        memcpy(out->pixels, images.data, images.size);
        for (size_t i = 0; labels_path && i < out->count; i++) out->labels[i] = labels.data[i];
    }
    int images_closed = idx_close(&images), labels_closed = idx_close(&labels);
    if (rc == 0 && (images_closed != Z_OK || labels_closed != Z_OK))
        rc = cassnn_err_set(err, "%s: closing failed (zlib error %d)",
                            images_closed != Z_OK ? images_path : labels_path,
                            images_closed != Z_OK ? images_closed : labels_closed);
    if (rc != 0) data_images_free(out);
    return rc;
}
