/* codec.c - CQL v4 frames, request encoders and the non-RESULT response
 * decoders. Pure code: see cql/codec.h. */
#include "cql/codec.h"

#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- frames */

void cql_header_encode(const cql_frame_header *h, uint8_t out[CQL_HEADER_SIZE]) {
    out[0] = h->version;
    out[1] = h->flags;
    out[2] = (uint8_t)((uint16_t)h->stream >> 8);
    out[3] = (uint8_t)((uint16_t)h->stream);
    out[4] = h->opcode;
    out[5] = (uint8_t)(h->length >> 24);
    out[6] = (uint8_t)(h->length >> 16);
    out[7] = (uint8_t)(h->length >> 8);
    out[8] = (uint8_t)h->length;
}

static int opcode_is_response(uint8_t op) {
    switch (op) {
    case CQL_OP_ERROR: case CQL_OP_READY: case CQL_OP_AUTHENTICATE: case CQL_OP_SUPPORTED:
    case CQL_OP_RESULT: case CQL_OP_EVENT: case CQL_OP_AUTH_CHALLENGE: case CQL_OP_AUTH_SUCCESS:
        return 1;
    default:
        return 0;
    }
}

int cql_header_decode(const uint8_t in[CQL_HEADER_SIZE], cql_frame_header *h, cassnn_err *err) {
    h->version = in[0];
    h->flags = in[1];
    h->stream = (int16_t)(uint16_t)((in[2] << 8) | in[3]);
    h->opcode = in[4];
    h->length = ((uint32_t)in[5] << 24) | ((uint32_t)in[6] << 16) | ((uint32_t)in[7] << 8) | in[8];
    if (h->version != CQL_VERSION_RESPONSE)
        return cassnn_err_code(err, CQL_ERR_CONNECTION,
                               "cql frame: version byte 0x%02x, expected 0x84 (v4 response)", h->version);
    if (!opcode_is_response(h->opcode))
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql frame: opcode 0x%02x is not a response",
                               h->opcode);
    if (h->length > CQL_MAX_BODY)
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql frame: body length %u over the 256 MB limit",
                               h->length);
    return 0;
}

/* ------------------------------------------------------ growable buffer */

void cql_buf_free(cql_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

int cql_buf_reserve(cql_buf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->cap - b->len >= extra) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void cql_buf_bytes_raw(cql_buf *b, const void *p, size_t n) {
    if (n == 0 || cql_buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void cql_buf_u8(cql_buf *b, uint8_t v) { cql_buf_bytes_raw(b, &v, 1); }

void cql_buf_u16(cql_buf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    cql_buf_bytes_raw(b, x, 2);
}

void cql_buf_i32(cql_buf *b, int32_t v) {
    uint32_t u = (uint32_t)v;
    uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    cql_buf_bytes_raw(b, x, 4);
}

void cql_buf_i64(cql_buf *b, int64_t v) {
    uint64_t u = (uint64_t)v;
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(u >> (56 - 8 * i));
    cql_buf_bytes_raw(b, x, 8);
}

void cql_buf_string(cql_buf *b, const char *s) {
    size_t n = strlen(s);
    if (n > 0xFFFF) { /* cannot be represented: poison the buffer */
        b->oom = 1;
        return;
    }
    cql_buf_u16(b, (uint16_t)n);
    cql_buf_bytes_raw(b, s, n);
}

void cql_buf_long_string(cql_buf *b, const char *s) {
    size_t n = strlen(s);
    cql_buf_i32(b, (int32_t)n);
    cql_buf_bytes_raw(b, s, n);
}

void cql_buf_short_bytes(cql_buf *b, const void *p, size_t n) {
    cql_buf_u16(b, (uint16_t)n);
    cql_buf_bytes_raw(b, p, n);
}

void cql_buf_bytes(cql_buf *b, const void *p, int32_t n) {
    cql_buf_i32(b, n);
    if (n > 0) cql_buf_bytes_raw(b, p, (size_t)n);
}

/* ------------------------------------------------------------- requests */

/* Starts a request frame: writes the header with a zero length, returns the
 * offset of the header so finish_frame can fill the body length in. */
static size_t begin_frame(cql_buf *out, int16_t stream, uint8_t opcode) {
    size_t start = out->len;
    cql_frame_header h = {CQL_VERSION_REQUEST, 0, stream, opcode, 0};
    uint8_t raw[CQL_HEADER_SIZE];
    cql_header_encode(&h, raw);
    cql_buf_bytes_raw(out, raw, sizeof raw);
    return start;
}

static void finish_frame(cql_buf *out, size_t start) {
    if (out->oom) return;
    uint32_t len = (uint32_t)(out->len - start - CQL_HEADER_SIZE);
    uint8_t *p = out->data + start + 5;
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
}

void cql_encode_startup(cql_buf *out, int16_t stream, const char *compression) {
    size_t f = begin_frame(out, stream, CQL_OP_STARTUP);
    cql_buf_u16(out, compression ? 2 : 1);
    cql_buf_string(out, "CQL_VERSION");
    cql_buf_string(out, "3.0.0");
    if (compression) {
        cql_buf_string(out, "COMPRESSION");
        cql_buf_string(out, compression);
    }
    finish_frame(out, f);
}

void cql_encode_options(cql_buf *out, int16_t stream) {
    finish_frame(out, begin_frame(out, stream, CQL_OP_OPTIONS));
}

enum {
    QF_VALUES = 0x01,
    QF_SKIP_METADATA = 0x02,
    QF_PAGE_SIZE = 0x04,
    QF_PAGING_STATE = 0x08,
    QF_SERIAL = 0x10,
    QF_TIMESTAMP = 0x20,
};

static void encode_params(cql_buf *out, const uint8_t *values, size_t values_len, uint16_t n_values,
                          const cql_query_params *p, int allow_skip_metadata) {
    uint8_t flags = 0;
    if (n_values) flags |= QF_VALUES;
    if (allow_skip_metadata && p->skip_metadata) flags |= QF_SKIP_METADATA;
    if (p->page_size > 0) flags |= QF_PAGE_SIZE;
    if (p->paging_state) flags |= QF_PAGING_STATE;
    if (p->serial_consistency) flags |= QF_SERIAL;
    if (p->timestamp) flags |= QF_TIMESTAMP;
    cql_buf_u16(out, (uint16_t)p->consistency);
    cql_buf_u8(out, flags);
    if (n_values) {
        cql_buf_u16(out, n_values);
        cql_buf_bytes_raw(out, values, values_len);
    }
    if (flags & QF_PAGE_SIZE) cql_buf_i32(out, p->page_size);
    if (flags & QF_PAGING_STATE) cql_buf_bytes(out, p->paging_state, (int32_t)p->paging_state_len);
    if (flags & QF_SERIAL) cql_buf_u16(out, (uint16_t)p->serial_consistency);
    if (flags & QF_TIMESTAMP) cql_buf_i64(out, p->timestamp);
}

void cql_encode_query(cql_buf *out, int16_t stream, const char *query, const uint8_t *values,
                      size_t values_len, uint16_t n_values, const cql_query_params *p) {
    size_t f = begin_frame(out, stream, CQL_OP_QUERY);
    cql_buf_long_string(out, query);
    encode_params(out, values, values_len, n_values, p, 0);
    finish_frame(out, f);
}

void cql_encode_prepare(cql_buf *out, int16_t stream, const char *query) {
    size_t f = begin_frame(out, stream, CQL_OP_PREPARE);
    cql_buf_long_string(out, query);
    finish_frame(out, f);
}

void cql_encode_execute(cql_buf *out, int16_t stream, const uint8_t *id, size_t id_len,
                        const uint8_t *values, size_t values_len, uint16_t n_values,
                        const cql_query_params *p) {
    size_t f = begin_frame(out, stream, CQL_OP_EXECUTE);
    cql_buf_short_bytes(out, id, id_len);
    encode_params(out, values, values_len, n_values, p, 1);
    finish_frame(out, f);
}

void cql_encode_register(cql_buf *out, int16_t stream, const char *const *events, size_t n) {
    size_t f = begin_frame(out, stream, CQL_OP_REGISTER);
    cql_buf_u16(out, (uint16_t)n);
    for (size_t i = 0; i < n; i++) cql_buf_string(out, events[i]);
    finish_frame(out, f);
}

void cql_encode_auth_response(cql_buf *out, int16_t stream, const void *token, size_t len) {
    size_t f = begin_frame(out, stream, CQL_OP_AUTH_RESPONSE);
    cql_buf_bytes(out, token, (int32_t)len);
    finish_frame(out, f);
}

void cql_encode_batch(cql_buf *out, int16_t stream, cql_batch_type type,
                      const cql_batch_entry *entries, uint16_t n, const cql_query_params *p) {
    size_t f = begin_frame(out, stream, CQL_OP_BATCH);
    cql_buf_u8(out, (uint8_t)type);
    cql_buf_u16(out, n);
    for (uint16_t i = 0; i < n; i++) {
        const cql_batch_entry *e = &entries[i];
        if (e->query) {
            cql_buf_u8(out, 0);
            cql_buf_long_string(out, e->query);
        } else {
            cql_buf_u8(out, 1);
            cql_buf_short_bytes(out, e->id, e->id_len);
        }
        cql_buf_u16(out, e->n_values);
        cql_buf_bytes_raw(out, e->values, e->values_len);
    }
    uint8_t flags = 0;
    if (p->serial_consistency) flags |= QF_SERIAL;
    if (p->timestamp) flags |= QF_TIMESTAMP;
    cql_buf_u16(out, (uint16_t)p->consistency);
    cql_buf_u8(out, flags);
    if (flags & QF_SERIAL) cql_buf_u16(out, (uint16_t)p->serial_consistency);
    if (flags & QF_TIMESTAMP) cql_buf_i64(out, p->timestamp);
    finish_frame(out, f);
}

/* ---------------------------------------------------------------- LZ4 */

int cql_frame_compress_lz4(cql_buf *frame, size_t start, cassnn_err *err) {
    size_t body_len = frame->len - start - CQL_HEADER_SIZE;
    if (body_len > (size_t)LZ4_MAX_INPUT_SIZE)
        return cassnn_err_set(err, "cql lz4: body of %zu bytes too large to compress", body_len);
    int bound = LZ4_compressBound((int)body_len);
    uint8_t *tmp = malloc((size_t)bound + 4);
    if (!tmp) return cassnn_err_set(err, "cql lz4: out of memory");
    uint32_t ul = (uint32_t)body_len;
    tmp[0] = (uint8_t)(ul >> 24);
    tmp[1] = (uint8_t)(ul >> 16);
    tmp[2] = (uint8_t)(ul >> 8);
    tmp[3] = (uint8_t)ul;
    int clen = LZ4_compress_default((const char *)frame->data + start + CQL_HEADER_SIZE, (char *)tmp + 4,
                                    (int)body_len, bound);
    if (clen <= 0) {
        free(tmp);
        return cassnn_err_set(err, "cql lz4: compression failed");
    }
    frame->len = start + CQL_HEADER_SIZE;
    cql_buf_bytes_raw(frame, tmp, (size_t)clen + 4);
    free(tmp);
    if (frame->oom) return cassnn_err_set(err, "cql lz4: out of memory");
    frame->data[start + 1] |= CQL_FLAG_COMPRESSION;
    finish_frame(frame, start);
    return 0;
}

int cql_body_decompress_lz4(const uint8_t *body, size_t len, cql_buf *out, cassnn_err *err) {
    if (len < 4) return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql lz4: body of %zu bytes has no length", len);
    uint32_t ul = ((uint32_t)body[0] << 24) | ((uint32_t)body[1] << 16) | ((uint32_t)body[2] << 8) | body[3];
    if (ul > CQL_MAX_BODY || len - 4 > (size_t)LZ4_MAX_INPUT_SIZE)
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql lz4: uncompressed length %u too large", ul);
    out->len = 0;
    if (cql_buf_reserve(out, ul ? ul : 1)) return cassnn_err_set(err, "cql lz4: out of memory");
    int n = LZ4_decompress_safe((const char *)body + 4, (char *)out->data, (int)(len - 4), (int)ul);
    if (n < 0 || (uint32_t)n != ul)
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql lz4: corrupt block (expected %u bytes)", ul);
    out->len = ul;
    return 0;
}

/* ---------------------------------------------------------- body reader */

static int short_read(cql_rd *r, size_t need, const char *what, cassnn_err *err) {
    return cassnn_err_code(err, CQL_ERR_CONNECTION,
                           "cql decode: truncated %s at offset %zu (need %zu bytes, %zu left)", what,
                           r->pos, need, r->len - r->pos);
}

int cql_rd_u8(cql_rd *r, uint8_t *v, cassnn_err *err) {
    if (r->len - r->pos < 1) return short_read(r, 1, "byte", err);
    *v = r->p[r->pos++];
    return 0;
}

int cql_rd_u16(cql_rd *r, uint16_t *v, cassnn_err *err) {
    if (r->len - r->pos < 2) return short_read(r, 2, "short", err);
    *v = (uint16_t)((r->p[r->pos] << 8) | r->p[r->pos + 1]);
    r->pos += 2;
    return 0;
}

int cql_rd_i32(cql_rd *r, int32_t *v, cassnn_err *err) {
    if (r->len - r->pos < 4) return short_read(r, 4, "int", err);
    const uint8_t *p = r->p + r->pos;
    *v = (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
    r->pos += 4;
    return 0;
}

int cql_rd_string(cql_rd *r, const char **s, size_t *len, cassnn_err *err) {
    uint16_t n = 0;
    if (cql_rd_u16(r, &n, err)) return -1;
    if (r->len - r->pos < n) return short_read(r, n, "string", err);
    *s = (const char *)r->p + r->pos;
    *len = n;
    r->pos += n;
    return 0;
}

int cql_rd_short_bytes(cql_rd *r, const uint8_t **p, size_t *len, cassnn_err *err) {
    uint16_t n = 0;
    if (cql_rd_u16(r, &n, err)) return -1;
    if (r->len - r->pos < n) return short_read(r, n, "short bytes", err);
    *p = r->p + r->pos;
    *len = n;
    r->pos += n;
    return 0;
}

int cql_rd_bytes(cql_rd *r, const uint8_t **p, int32_t *len, cassnn_err *err) {
    int32_t n = 0;
    if (cql_rd_i32(r, &n, err)) return -1;
    if (n < 0) {
        *p = NULL;
        *len = -1;
        return 0;
    }
    if (r->len - r->pos < (size_t)n) return short_read(r, (size_t)n, "bytes", err);
    *p = r->p + r->pos;
    *len = n;
    r->pos += (size_t)n;
    return 0;
}

static int rd_str(cql_rd *r, cql_str *s, cassnn_err *err) { return cql_rd_string(r, &s->p, &s->len, err); }

static int rd_string_list_skip(cql_rd *r, cassnn_err *err) {
    uint16_t n = 0;
    if (cql_rd_u16(r, &n, err)) return -1;
    for (uint16_t i = 0; i < n; i++) {
        cql_str s;
        if (rd_str(r, &s, err)) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- errors */

static const char *const consistency_names[] = {
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "SERIAL",
    "LOCAL_SERIAL", "LOCAL_ONE"};

const char *cql_consistency_name(int level) {
    const int n = (int)(sizeof consistency_names / sizeof consistency_names[0]);
    return level >= 0 && level < n ? consistency_names[level] : "?";
}

int cql_consistency_parse(const char *name, cql_consistency *out) {
    for (size_t i = 0; i < sizeof consistency_names / sizeof consistency_names[0]; i++)
        if (!strcasecmp(name, consistency_names[i])) {
            *out = (cql_consistency)i;
            return 0;
        }
    return -1;
}

const char *cql_error_name(int32_t code) {
    switch (code) {
    case CQL_ERR_SERVER: return "ServerError";
    case CQL_ERR_PROTOCOL: return "ProtocolError";
    case CQL_ERR_BAD_CREDENTIALS: return "BadCredentials";
    case CQL_ERR_UNAVAILABLE: return "Unavailable";
    case CQL_ERR_OVERLOADED: return "Overloaded";
    case CQL_ERR_IS_BOOTSTRAPPING: return "IsBootstrapping";
    case CQL_ERR_TRUNCATE: return "TruncateError";
    case CQL_ERR_WRITE_TIMEOUT: return "WriteTimeout";
    case CQL_ERR_READ_TIMEOUT: return "ReadTimeout";
    case CQL_ERR_READ_FAILURE: return "ReadFailure";
    case CQL_ERR_FUNCTION_FAILURE: return "FunctionFailure";
    case CQL_ERR_WRITE_FAILURE: return "WriteFailure";
    case CQL_ERR_SYNTAX: return "SyntaxError";
    case CQL_ERR_UNAUTHORIZED: return "Unauthorized";
    case CQL_ERR_INVALID: return "Invalid";
    case CQL_ERR_CONFIG: return "ConfigError";
    case CQL_ERR_ALREADY_EXISTS: return "AlreadyExists";
    case CQL_ERR_UNPREPARED: return "Unprepared";
    case CQL_ERR_CLIENT_TIMEOUT: return "ClientTimeout";
    case CQL_ERR_CONNECTION: return "ConnectionError";
    case CQL_ERR_NO_HOST: return "NoHostAvailable";
    default: return "UnknownError";
    }
}

int cql_decode_error(const uint8_t *body, size_t len, cql_error *e, cassnn_err *err) {
    cql_rd r = {body, len, 0};
    memset(e, 0, sizeof *e);
    if (cql_rd_i32(&r, &e->code, err) || rd_str(&r, &e->message, err)) return -1;
    switch (e->code) {
    case CQL_ERR_UNAVAILABLE:
        if (cql_rd_u16(&r, &e->consistency, err) || cql_rd_i32(&r, &e->required, err) ||
            cql_rd_i32(&r, &e->alive, err))
            return -1;
        break;
    case CQL_ERR_WRITE_TIMEOUT:
        if (cql_rd_u16(&r, &e->consistency, err) || cql_rd_i32(&r, &e->received, err) ||
            cql_rd_i32(&r, &e->block_for, err) || rd_str(&r, &e->write_type, err))
            return -1;
        break;
    case CQL_ERR_READ_TIMEOUT:
        if (cql_rd_u16(&r, &e->consistency, err) || cql_rd_i32(&r, &e->received, err) ||
            cql_rd_i32(&r, &e->block_for, err) || cql_rd_u8(&r, &e->data_present, err))
            return -1;
        break;
    case CQL_ERR_READ_FAILURE:
        if (cql_rd_u16(&r, &e->consistency, err) || cql_rd_i32(&r, &e->received, err) ||
            cql_rd_i32(&r, &e->block_for, err) || cql_rd_i32(&r, &e->num_failures, err) ||
            cql_rd_u8(&r, &e->data_present, err))
            return -1;
        break;
    case CQL_ERR_WRITE_FAILURE:
        if (cql_rd_u16(&r, &e->consistency, err) || cql_rd_i32(&r, &e->received, err) ||
            cql_rd_i32(&r, &e->block_for, err) || cql_rd_i32(&r, &e->num_failures, err) ||
            rd_str(&r, &e->write_type, err))
            return -1;
        break;
    case CQL_ERR_FUNCTION_FAILURE:
        if (rd_str(&r, &e->keyspace, err) || rd_str(&r, &e->table, err) || rd_string_list_skip(&r, err))
            return -1;
        break;
    case CQL_ERR_ALREADY_EXISTS:
        if (rd_str(&r, &e->keyspace, err) || rd_str(&r, &e->table, err)) return -1;
        break;
    case CQL_ERR_UNPREPARED:
        if (cql_rd_short_bytes(&r, &e->unprepared_id, &e->unprepared_id_len, err)) return -1;
        break;
    default:
        break;
    }
    return 0;
}

int cql_error_to_err(const cql_error *e, cassnn_err *err) {
    return cassnn_err_code(err, e->code, "%s (0x%04x): %.*s", cql_error_name(e->code), (unsigned)e->code,
                           (int)(e->message.len > 400 ? 400 : e->message.len), e->message.p);
}

/* ------------------------------------------------------------- supported */

void cql_multimap_free(cql_multimap *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->entries[i].key);
        for (size_t j = 0; j < m->entries[i].n_values; j++) free(m->entries[i].values[j]);
        free(m->entries[i].values);
    }
    free(m->entries);
    memset(m, 0, sizeof *m);
}

static char *dup_str(const char *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int cql_decode_supported(const uint8_t *body, size_t len, cql_multimap *out, cassnn_err *err) {
    cql_rd r = {body, len, 0};
    memset(out, 0, sizeof *out);
    uint16_t n = 0;
    if (cql_rd_u16(&r, &n, err)) return -1;
    out->entries = calloc(n ? n : 1, sizeof *out->entries);
    if (!out->entries) return cassnn_err_set(err, "cql supported: out of memory");
    for (uint16_t i = 0; i < n; i++) {
        struct cql_multimap_entry *e = &out->entries[i];
        cql_str k = {0};
        uint16_t nv = 0;
        if (rd_str(&r, &k, err) || cql_rd_u16(&r, &nv, err)) goto fail;
        out->n++;
        e->key = dup_str(k.p, k.len);
        e->values = calloc(nv ? nv : 1, sizeof *e->values);
        if (!e->key || !e->values) goto oom;
        for (uint16_t j = 0; j < nv; j++) {
            cql_str v = {0};
            if (rd_str(&r, &v, err)) goto fail;
            if (!(e->values[j] = dup_str(v.p, v.len))) goto oom;
            e->n_values++;
        }
    }
    return 0;
oom:
    cassnn_err_set(err, "cql supported: out of memory");
fail:
    cql_multimap_free(out);
    return -1;
}

char *const *cql_multimap_get(const cql_multimap *m, const char *key, size_t *n) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->entries[i].key, key)) {
            if (n) *n = m->entries[i].n_values;
            return m->entries[i].values;
        }
    if (n) *n = 0;
    return NULL;
}

/* ------------------------------------------------------------------ auth */

int cql_decode_authenticate(const uint8_t *body, size_t len, cql_str *authenticator, cassnn_err *err) {
    cql_rd r = {body, len, 0};
    return rd_str(&r, authenticator, err);
}

int cql_decode_auth_token(const uint8_t *body, size_t len, const uint8_t **token, int32_t *token_len,
                          cassnn_err *err) {
    cql_rd r = {body, len, 0};
    return cql_rd_bytes(&r, token, token_len, err);
}

int cql_skip_response_prefix(uint8_t flags, const uint8_t *body, size_t len, size_t *offset,
                             size_t *warnings, cassnn_err *err) {
    cql_rd r = {body, len, 0};
    *warnings = 0;
    if (flags & CQL_FLAG_TRACING) {
        if (len < 16) return short_read(&r, 16, "tracing id", err);
        r.pos = 16;
    }
    if (flags & CQL_FLAG_WARNING) {
        uint16_t n = 0;
        if (cql_rd_u16(&r, &n, err)) return -1;
        for (uint16_t i = 0; i < n; i++) {
            cql_str s;
            if (rd_str(&r, &s, err)) return -1;
        }
        *warnings = n;
    }
    if (flags & CQL_FLAG_CUSTOM_PAYLOAD) {
        uint16_t n = 0;
        if (cql_rd_u16(&r, &n, err)) return -1;
        for (uint16_t i = 0; i < n; i++) {
            cql_str k;
            const uint8_t *p;
            int32_t l;
            if (rd_str(&r, &k, err) || cql_rd_bytes(&r, &p, &l, err)) return -1;
        }
    }
    *offset = r.pos;
    return 0;
}

/* ---------------------------------------------------------------- events */

static int rd_schema_change(cql_rd *r, cql_schema_change *sc, cassnn_err *err) {
    memset(sc, 0, sizeof *sc);
    if (rd_str(r, &sc->change, err) || rd_str(r, &sc->target, err) || rd_str(r, &sc->keyspace, err))
        return -1;
    if (sc->target.len == 8 && !memcmp(sc->target.p, "KEYSPACE", 8)) return 0;
    if (rd_str(r, &sc->name, err)) return -1;
    if ((sc->target.len == 8 && !memcmp(sc->target.p, "FUNCTION", 8)) ||
        (sc->target.len == 9 && !memcmp(sc->target.p, "AGGREGATE", 9)))
        return rd_string_list_skip(r, err);
    return 0;
}

int cql_rd_schema_change(cql_rd *r, cql_schema_change *sc, cassnn_err *err) {
    return rd_schema_change(r, sc, err);
}

int cql_decode_event(const uint8_t *body, size_t len, cql_event *ev, cassnn_err *err) {
    cql_rd r = {body, len, 0};
    memset(ev, 0, sizeof *ev);
    if (rd_str(&r, &ev->type, err)) return -1;
    if (ev->type.len == 13 && !memcmp(ev->type.p, "SCHEMA_CHANGE", 13)) return rd_schema_change(&r, &ev->schema, err);
    if (rd_str(&r, &ev->change, err) || cql_rd_u8(&r, &ev->node.addr_len, err)) return -1;
    if (ev->node.addr_len != 4 && ev->node.addr_len != 16)
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql event: inet address of %u bytes",
                               ev->node.addr_len);
    if (r.len - r.pos < ev->node.addr_len) return short_read(&r, ev->node.addr_len, "inet", err);
    memcpy(ev->node.addr, r.p + r.pos, ev->node.addr_len);
    r.pos += ev->node.addr_len;
    return cql_rd_i32(&r, &ev->node.port, err);
}
