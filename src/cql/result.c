/* result.c - CQL values (bind encoding, type checks), RESULT decoding and
 * typed cell accessors. Pure code: see cql/codec.h. */
#include "cql/codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --------------------------------------------------------- type names */

static const char *scalar_name(uint16_t id) {
    switch (id) {
    case CQL_TYPE_CUSTOM: return "custom";
    case CQL_TYPE_ASCII: return "ascii";
    case CQL_TYPE_BIGINT: return "bigint";
    case CQL_TYPE_BLOB: return "blob";
    case CQL_TYPE_BOOLEAN: return "boolean";
    case CQL_TYPE_COUNTER: return "counter";
    case CQL_TYPE_DECIMAL: return "decimal";
    case CQL_TYPE_DOUBLE: return "double";
    case CQL_TYPE_FLOAT: return "float";
    case CQL_TYPE_INT: return "int";
    case CQL_TYPE_TIMESTAMP: return "timestamp";
    case CQL_TYPE_UUID: return "uuid";
    case CQL_TYPE_VARCHAR: return "text";
    case CQL_TYPE_VARINT: return "varint";
    case CQL_TYPE_TIMEUUID: return "timeuuid";
    case CQL_TYPE_INET: return "inet";
    case CQL_TYPE_DATE: return "date";
    case CQL_TYPE_TIME: return "time";
    case CQL_TYPE_SMALLINT: return "smallint";
    case CQL_TYPE_TINYINT: return "tinyint";
    case CQL_TYPE_DURATION: return "duration";
    case CQL_TYPE_LIST: return "list";
    case CQL_TYPE_MAP: return "map";
    case CQL_TYPE_SET: return "set";
    case CQL_TYPE_UDT: return "udt";
    case CQL_TYPE_TUPLE: return "tuple";
    default: return "unknown";
    }
}

void cql_type_name(cql_type t, char *out, size_t cap) {
    if (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET)
        snprintf(out, cap, "%s<%s>", scalar_name(t.id), scalar_name(t.elem));
    else if (t.id == CQL_TYPE_MAP)
        snprintf(out, cap, "map<%s, %s>", scalar_name(t.elem), scalar_name(t.value));
    else
        snprintf(out, cap, "%s", scalar_name(t.id));
}

/* ------------------------------------------------------- value encoding */

cql_value cql_text(const char *s) {
    cql_value v = {.kind = CQL_VAL_TEXT, .u.bytes = {s, strlen(s)}};
    return v;
}

cql_value cql_uuid(const uint8_t u[16]) {
    cql_value v = {.kind = CQL_VAL_UUID};
    memcpy(v.u.uuid, u, 16);
    return v;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v) {
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_be64(const uint8_t *p) { return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4); }

/* A list of fixed-size elements: [i32 total][i32 n] then n x ([i32 size][size
 * bytes]). Written with one reserve so binding 784 pixels is a tight loop. */
static void encode_fixed_list(cql_buf *b, const cql_value *v, uint32_t size) {
    size_t n = v->u.list.n;
    size_t total = 4 + n * (4 + (size_t)size);
    if (total > INT32_MAX || cql_buf_reserve(b, 4 + total)) {
        b->oom = 1;
        return;
    }
    uint8_t *p = b->data + b->len;
    put_be32(p, (uint32_t)total);
    put_be32(p + 4, (uint32_t)n);
    p += 8;
    for (size_t i = 0; i < n; i++, p += 4 + size) {
        put_be32(p, size);
        switch (v->kind) {
        case CQL_VAL_LIST_INT_U8: put_be32(p + 4, ((const uint8_t *)v->u.list.items)[i]); break;
        case CQL_VAL_LIST_INT: put_be32(p + 4, (uint32_t)((const int32_t *)v->u.list.items)[i]); break;
        case CQL_VAL_LIST_BIGINT: put_be64(p + 4, (uint64_t)((const int64_t *)v->u.list.items)[i]); break;
        case CQL_VAL_LIST_FLOAT: {
            uint32_t u;
            memcpy(&u, (const float *)v->u.list.items + i, 4);
            put_be32(p + 4, u);
            break;
        }
        case CQL_VAL_LIST_DOUBLE: {
            uint64_t u;
            memcpy(&u, (const double *)v->u.list.items + i, 8);
            put_be64(p + 4, u);
            break;
        }
        case CQL_VAL_LIST_BOOLEAN: p[4] = ((const uint8_t *)v->u.list.items)[i] ? 1 : 0; break;
        case CQL_VAL_LIST_UUID: memcpy(p + 4, (const uint8_t *)v->u.list.items + 16 * i, 16); break;
        default: break;
        }
    }
    b->len += 4 + total;
}

void cql_value_encode(cql_buf *b, const cql_value *v) {
    switch (v->kind) {
    case CQL_VAL_NULL: cql_buf_i32(b, -1); break;
    case CQL_VAL_UNSET: cql_buf_i32(b, -2); break;
    case CQL_VAL_INT: cql_buf_i32(b, 4); cql_buf_i32(b, v->u.i32); break;
    case CQL_VAL_BIGINT:
    case CQL_VAL_TIMESTAMP: cql_buf_i32(b, 8); cql_buf_i64(b, v->u.i64); break;
    case CQL_VAL_FLOAT: {
        uint32_t u;
        memcpy(&u, &v->u.f32, 4);
        cql_buf_i32(b, 4);
        cql_buf_i32(b, (int32_t)u);
        break;
    }
    case CQL_VAL_DOUBLE: {
        uint64_t u;
        memcpy(&u, &v->u.f64, 8);
        cql_buf_i32(b, 8);
        cql_buf_i64(b, (int64_t)u);
        break;
    }
    case CQL_VAL_BOOLEAN: cql_buf_i32(b, 1); cql_buf_u8(b, v->u.i32 ? 1 : 0); break;
    case CQL_VAL_TEXT:
    case CQL_VAL_BLOB:
        if (v->u.bytes.len > INT32_MAX) {
            b->oom = 1;
            return;
        }
        cql_buf_bytes(b, v->u.bytes.p, (int32_t)v->u.bytes.len);
        break;
    case CQL_VAL_UUID: cql_buf_i32(b, 16); cql_buf_bytes_raw(b, v->u.uuid, 16); break;
    case CQL_VAL_LIST_INT_U8:
    case CQL_VAL_LIST_INT:
    case CQL_VAL_LIST_FLOAT: encode_fixed_list(b, v, 4); break;
    case CQL_VAL_LIST_BIGINT:
    case CQL_VAL_LIST_DOUBLE: encode_fixed_list(b, v, 8); break;
    case CQL_VAL_LIST_BOOLEAN: encode_fixed_list(b, v, 1); break;
    case CQL_VAL_LIST_UUID: encode_fixed_list(b, v, 16); break;
    case CQL_VAL_LIST_TEXT: {
        const char *const *items = v->u.list.items;
        size_t total = 4;
        for (size_t i = 0; i < v->u.list.n; i++) total += 4 + strlen(items[i]);
        if (total > INT32_MAX) {
            b->oom = 1;
            return;
        }
        cql_buf_i32(b, (int32_t)total);
        cql_buf_i32(b, (int32_t)v->u.list.n);
        for (size_t i = 0; i < v->u.list.n; i++) cql_buf_bytes(b, items[i], (int32_t)strlen(items[i]));
        break;
    }
    }
}

static const char *kind_name(cql_value_kind k) {
    static const char *names[] = {"null", "unset", "int", "bigint", "float", "double", "boolean", "text",
                                  "blob", "uuid", "timestamp", "list<int> (uint8)", "list<int>",
                                  "list<bigint>", "list<float>", "list<double>", "list<boolean>",
                                  "list<text>", "list<uuid>"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static int scalar_fits(cql_value_kind k, uint16_t id) {
    switch (k) {
    case CQL_VAL_INT: return id == CQL_TYPE_INT;
    case CQL_VAL_BIGINT: return id == CQL_TYPE_BIGINT || id == CQL_TYPE_COUNTER || id == CQL_TYPE_TIMESTAMP;
    case CQL_VAL_TIMESTAMP: return id == CQL_TYPE_TIMESTAMP;
    case CQL_VAL_FLOAT: return id == CQL_TYPE_FLOAT;
    case CQL_VAL_DOUBLE: return id == CQL_TYPE_DOUBLE;
    case CQL_VAL_BOOLEAN: return id == CQL_TYPE_BOOLEAN;
    case CQL_VAL_TEXT: return id == CQL_TYPE_VARCHAR || id == CQL_TYPE_ASCII;
    case CQL_VAL_BLOB: return 1; /* raw bytes: the caller serialized them */
    case CQL_VAL_UUID: return id == CQL_TYPE_UUID || id == CQL_TYPE_TIMEUUID;
    default: return 0;
    }
}

int cql_value_check(const cql_value *v, cql_type t, const char *what, cassnn_err *err) {
    int ok;
    switch (v->kind) {
    case CQL_VAL_NULL:
    case CQL_VAL_UNSET: ok = 1; break;
    case CQL_VAL_LIST_INT_U8:
    case CQL_VAL_LIST_INT: ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) && t.elem == CQL_TYPE_INT; break;
    case CQL_VAL_LIST_BIGINT:
        ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) &&
             (t.elem == CQL_TYPE_BIGINT || t.elem == CQL_TYPE_TIMESTAMP);
        break;
    case CQL_VAL_LIST_FLOAT: ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) && t.elem == CQL_TYPE_FLOAT; break;
    case CQL_VAL_LIST_DOUBLE: ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) && t.elem == CQL_TYPE_DOUBLE; break;
    case CQL_VAL_LIST_BOOLEAN: ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) && t.elem == CQL_TYPE_BOOLEAN; break;
    case CQL_VAL_LIST_TEXT:
        ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) && (t.elem == CQL_TYPE_VARCHAR || t.elem == CQL_TYPE_ASCII);
        break;
    case CQL_VAL_LIST_UUID:
        ok = (t.id == CQL_TYPE_LIST || t.id == CQL_TYPE_SET) && (t.elem == CQL_TYPE_UUID || t.elem == CQL_TYPE_TIMEUUID);
        break;
    default: ok = scalar_fits(v->kind, t.id); break;
    }
    if (ok) return 0;
    char tn[64];
    cql_type_name(t, tn, sizeof tn);
    return cassnn_err_set(err, "%s: cannot bind a %s value to a %s column", what, kind_name(v->kind), tn);
}

/* ----------------------------------------------------- result metadata */

/* Parses a type [option]. Collections keep their element ids; anything nested
 * deeper is parsed (to stay in sync) and dropped. depth bounds recursion so a
 * hostile frame cannot exhaust the stack. */
static int rd_type(cql_rd *r, cql_type *t, int depth, cassnn_err *err) {
    uint16_t id;
    if (depth > 16) return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: type nested too deeply");
    if (cql_rd_u16(r, &id, err)) return -1;
    memset(t, 0, sizeof *t);
    t->id = id;
    cql_type sub;
    cql_str s;
    switch (id) {
    case CQL_TYPE_CUSTOM: return cql_rd_string(r, &s.p, &s.len, err);
    case CQL_TYPE_LIST:
    case CQL_TYPE_SET:
        if (rd_type(r, &sub, depth + 1, err)) return -1;
        t->elem = sub.id;
        return 0;
    case CQL_TYPE_MAP:
        if (rd_type(r, &sub, depth + 1, err)) return -1;
        t->elem = sub.id;
        if (rd_type(r, &sub, depth + 1, err)) return -1;
        t->value = sub.id;
        return 0;
    case CQL_TYPE_UDT: {
        uint16_t n = 0;
        if (cql_rd_string(r, &s.p, &s.len, err) || cql_rd_string(r, &s.p, &s.len, err) || cql_rd_u16(r, &n, err))
            return -1;
        for (uint16_t i = 0; i < n; i++)
            if (cql_rd_string(r, &s.p, &s.len, err) || rd_type(r, &sub, depth + 1, err)) return -1;
        return 0;
    }
    case CQL_TYPE_TUPLE: {
        uint16_t n = 0;
        if (cql_rd_u16(r, &n, err)) return -1;
        for (uint16_t i = 0; i < n; i++)
            if (rd_type(r, &sub, depth + 1, err)) return -1;
        return 0;
    }
    default:
        if (id > CQL_TYPE_DURATION)
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: unknown type id 0x%04x at offset %zu",
                                   id, r->pos - 2);
        return 0;
    }
}

enum { META_GLOBAL_SPEC = 0x01, META_HAS_MORE_PAGES = 0x02, META_NO_METADATA = 0x04 };

static void metadata_free(cql_metadata *m) {
    free(m->columns);
    free(m->pk_indexes);
    memset(m, 0, sizeof *m);
}

/* Reads <metadata>. bind = 1 for a PREPARED result's bind-variable metadata
 * (which has partition-key indexes and no paging state). */
static int rd_metadata(cql_rd *r, cql_metadata *m, int bind, cassnn_err *err) {
    memset(m, 0, sizeof *m);
    if (cql_rd_i32(r, &m->flags, err) || cql_rd_i32(r, &m->n_columns, err)) return -1;
    /* Every column costs at least 4 bytes in a row or its spec, so a count
     * larger than the body is a lie; checking it bounds the allocations. */
    if (m->n_columns < 0 || (size_t)m->n_columns > r->len)
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: bad column count %d", m->n_columns);
    if (bind) {
        if (cql_rd_i32(r, &m->n_pk, err)) return -1;
        if (m->n_pk < 0 || m->n_pk > m->n_columns)
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: bad partition key count %d", m->n_pk);
        if (m->n_pk) {
            m->pk_indexes = malloc((size_t)m->n_pk * sizeof *m->pk_indexes);
            if (!m->pk_indexes) return cassnn_err_set(err, "cql decode: out of memory");
            for (int32_t i = 0; i < m->n_pk; i++)
                if (cql_rd_u16(r, &m->pk_indexes[i], err)) return -1;
        }
    } else if (m->flags & META_HAS_MORE_PAGES) {
        const uint8_t *p;
        int32_t n;
        if (cql_rd_bytes(r, &p, &n, err)) return -1;
        if (n >= 0) {
            m->paging_state = p;
            m->paging_state_len = (size_t)n;
        }
    }
    if (m->flags & META_NO_METADATA) return 0;
    cql_str gks = {0}, gtable = {0};
    if ((m->flags & META_GLOBAL_SPEC) &&
        (cql_rd_string(r, &gks.p, &gks.len, err) || cql_rd_string(r, &gtable.p, &gtable.len, err)))
        return -1;
    m->columns = calloc(m->n_columns ? (size_t)m->n_columns : 1, sizeof *m->columns);
    if (!m->columns) return cassnn_err_set(err, "cql decode: out of memory");
    for (int32_t i = 0; i < m->n_columns; i++) {
        cql_column *c = &m->columns[i];
        if (m->flags & META_GLOBAL_SPEC) {
            c->keyspace = gks;
            c->table = gtable;
        } else if (cql_rd_string(r, &c->keyspace.p, &c->keyspace.len, err) ||
                   cql_rd_string(r, &c->table.p, &c->table.len, err)) {
            return -1;
        }
        if (cql_rd_string(r, &c->name.p, &c->name.len, err) || rd_type(r, &c->type, 0, err)) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- results */

void cql_result_free(cql_result *r) {
    if (!r) return;
    metadata_free(&r->meta);
    metadata_free(&r->bind);
    free(r->cells);
    free(r->body);
    free(r);
}

static int rd_rows(cql_rd *rd, cql_result *r, const cql_metadata *columns, cassnn_err *err) {
    if (rd_metadata(rd, &r->meta, 0, err)) return -1;
    if (!r->meta.columns && columns && columns->columns) {
        if (columns->n_columns != r->meta.n_columns)
            return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: rows have %d columns, metadata %d",
                                   r->meta.n_columns, columns->n_columns);
        size_t sz = (size_t)columns->n_columns * sizeof *r->meta.columns;
        r->meta.columns = malloc(sz ? sz : 1);
        if (!r->meta.columns) return cassnn_err_set(err, "cql decode: out of memory");
        memcpy(r->meta.columns, columns->columns, sz);
    }
    if (cql_rd_i32(rd, &r->n_rows, err)) return -1;
    size_t ncols = (size_t)r->meta.n_columns;
    /* Each cell has at least its 4-byte length: bounds the allocation. Rows
     * without columns do not occur in practice; bounding them by the body
     * size keeps a hostile count from making callers loop for billions. */
    if (r->n_rows < 0 || (size_t)r->n_rows > (rd->len - rd->pos) / (4 * (ncols ? ncols : 1)))
        return cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: row count %d does not fit the body",
                               r->n_rows);
    size_t ncells = (size_t)r->n_rows * ncols;
    if (ncells) {
        r->cells = malloc(ncells * sizeof *r->cells);
        if (!r->cells) return cassnn_err_set(err, "cql decode: out of memory");
    }
    for (size_t i = 0; i < ncells; i++)
        if (cql_rd_bytes(rd, &r->cells[i].p, &r->cells[i].len, err))
            return cassnn_err_wrap(err, "row %zu column %zu", i / ncols, i % ncols);
    return 0;
}

int cql_decode_result(uint8_t *body, size_t body_len, size_t offset, const cql_metadata *columns,
                      cql_result **out, cassnn_err *err) {
    *out = NULL;
    cql_result *r = calloc(1, sizeof *r);
    if (!r) {
        free(body);
        return cassnn_err_set(err, "cql decode: out of memory");
    }
    r->body = body;
    r->body_len = body_len;
    cql_rd rd = {body, body_len, offset > body_len ? body_len : offset};
    int rc = cql_rd_i32(&rd, &r->kind, err);
    if (!rc) {
        switch (r->kind) {
        case CQL_RESULT_VOID: break;
        case CQL_RESULT_ROWS: rc = rd_rows(&rd, r, columns, err); break;
        case CQL_RESULT_SET_KEYSPACE: rc = cql_rd_string(&rd, &r->keyspace.p, &r->keyspace.len, err); break;
        case CQL_RESULT_PREPARED:
            rc = cql_rd_short_bytes(&rd, &r->prepared_id, &r->prepared_id_len, err) ||
                 rd_metadata(&rd, &r->bind, 1, err) || rd_metadata(&rd, &r->meta, 0, err);
            break;
        case CQL_RESULT_SCHEMA_CHANGE: rc = cql_rd_schema_change(&rd, &r->schema, err); break;
        default: rc = cassnn_err_code(err, CQL_ERR_CONNECTION, "cql decode: unknown result kind %d", r->kind);
        }
    }
    if (rc) {
        cql_result_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ------------------------------------------------------- cell accessors */

int cql_cell_is_null(cql_cell c) { return c.len < 0; }

static int wrong_type(cql_type t, const char *wanted, cassnn_err *err) {
    char tn[64];
    cql_type_name(t, tn, sizeof tn);
    return cassnn_err_set(err, "cql: column of type %s read as %s", tn, wanted);
}

static int need(cql_cell c, int32_t len, const char *what, cassnn_err *err) {
    if (c.len < 0) return cassnn_err_set(err, "cql: %s value is null", what);
    if (len >= 0 && c.len != len) return cassnn_err_set(err, "cql: %s value of %d bytes, expected %d", what, c.len, len);
    return 0;
}

int cql_cell_int(cql_cell c, cql_type t, int32_t *v, cassnn_err *err) {
    if (t.id != CQL_TYPE_INT) return wrong_type(t, "int", err);
    if (need(c, 4, "int", err)) return -1;
    *v = (int32_t)get_be32(c.p);
    return 0;
}

int cql_cell_bigint(cql_cell c, cql_type t, int64_t *v, cassnn_err *err) {
    if (t.id != CQL_TYPE_BIGINT && t.id != CQL_TYPE_COUNTER) return wrong_type(t, "bigint", err);
    if (need(c, 8, "bigint", err)) return -1;
    *v = (int64_t)get_be64(c.p);
    return 0;
}

int cql_cell_timestamp(cql_cell c, cql_type t, int64_t *ms, cassnn_err *err) {
    if (t.id != CQL_TYPE_TIMESTAMP) return wrong_type(t, "timestamp", err);
    if (need(c, 8, "timestamp", err)) return -1;
    *ms = (int64_t)get_be64(c.p);
    return 0;
}

int cql_cell_float(cql_cell c, cql_type t, float *v, cassnn_err *err) {
    if (t.id != CQL_TYPE_FLOAT) return wrong_type(t, "float", err);
    if (need(c, 4, "float", err)) return -1;
    uint32_t u = get_be32(c.p);
    memcpy(v, &u, 4);
    return 0;
}

int cql_cell_double(cql_cell c, cql_type t, double *v, cassnn_err *err) {
    if (t.id != CQL_TYPE_DOUBLE) return wrong_type(t, "double", err);
    if (need(c, 8, "double", err)) return -1;
    uint64_t u = get_be64(c.p);
    memcpy(v, &u, 8);
    return 0;
}

int cql_cell_boolean(cql_cell c, cql_type t, int *v, cassnn_err *err) {
    if (t.id != CQL_TYPE_BOOLEAN) return wrong_type(t, "boolean", err);
    if (need(c, 1, "boolean", err)) return -1;
    *v = c.p[0] != 0;
    return 0;
}

int cql_cell_text(cql_cell c, cql_type t, cql_str *v, cassnn_err *err) {
    if (t.id != CQL_TYPE_VARCHAR && t.id != CQL_TYPE_ASCII) return wrong_type(t, "text", err);
    if (need(c, -1, "text", err)) return -1;
    v->p = (const char *)c.p;
    v->len = (size_t)c.len;
    return 0;
}

int cql_cell_blob(cql_cell c, cql_type t, const uint8_t **p, size_t *len, cassnn_err *err) {
    if (t.id != CQL_TYPE_BLOB) return wrong_type(t, "blob", err);
    if (need(c, -1, "blob", err)) return -1;
    *p = c.p;
    *len = (size_t)c.len;
    return 0;
}

int cql_cell_uuid(cql_cell c, cql_type t, uint8_t out[16], cassnn_err *err) {
    if (t.id != CQL_TYPE_UUID && t.id != CQL_TYPE_TIMEUUID) return wrong_type(t, "uuid", err);
    if (need(c, 16, "uuid", err)) return -1;
    memcpy(out, c.p, 16);
    return 0;
}

int cql_cell_list_count(cql_cell c, cql_type t, int32_t *n, cassnn_err *err) {
    if (t.id != CQL_TYPE_LIST && t.id != CQL_TYPE_SET) return wrong_type(t, "list", err);
    if (need(c, -1, "list", err)) return -1;
    if (c.len < 4) return cassnn_err_set(err, "cql: list value of %d bytes has no count", c.len);
    int32_t cnt = (int32_t)get_be32(c.p);
    if (cnt < 0 || cnt > (c.len - 4) / 4) return cassnn_err_set(err, "cql: list count %d does not fit its %d bytes", cnt, c.len);
    *n = cnt;
    return 0;
}

int cql_cell_list_items(cql_cell c, cql_type t, cql_cell *items, int32_t n, cassnn_err *err) {
    int32_t cnt;
    if (cql_cell_list_count(c, t, &cnt, err)) return -1;
    if (cnt != n) return cassnn_err_set(err, "cql: list has %d elements, caller expected %d", cnt, n);
    cql_rd r = {c.p, (size_t)c.len, 4};
    for (int32_t i = 0; i < n; i++)
        if (cql_rd_bytes(&r, &items[i].p, &items[i].len, err)) return cassnn_err_wrap(err, "list element %d", i);
    return 0;
}

/* list<int> decoding shared by the u8 and int32 readers: walks the elements
 * in place, never materializing cells. */
static int list_int_walk(cql_cell c, cql_type t, uint8_t *u8, int32_t *i32, size_t cap, size_t *n, cassnn_err *err) {
    if ((t.id != CQL_TYPE_LIST && t.id != CQL_TYPE_SET) || t.elem != CQL_TYPE_INT) return wrong_type(t, "list<int>", err);
    int32_t cnt;
    if (cql_cell_list_count(c, t, &cnt, err)) return -1;
    if ((size_t)cnt > cap) return cassnn_err_set(err, "cql: list<int> of %d elements, room for %zu", cnt, cap);
    if ((size_t)c.len != 4 + (size_t)cnt * 8) return cassnn_err_set(err, "cql: list<int> of %d elements has %d bytes", cnt, c.len);
    const uint8_t *p = c.p + 4;
    for (int32_t i = 0; i < cnt; i++, p += 8) {
        if (get_be32(p) != 4) return cassnn_err_set(err, "cql: list<int> element %d is not 4 bytes", i);
        int32_t v = (int32_t)get_be32(p + 4);
        if (u8) {
            if (v < 0 || v > 255) return cassnn_err_set(err, "cql: list<int> element %d = %d is not 0..255", i, v);
            u8[i] = (uint8_t)v;
        } else {
            i32[i] = v;
        }
    }
    *n = (size_t)cnt;
    return 0;
}

int cql_cell_list_int_u8(cql_cell c, cql_type t, uint8_t *out, size_t cap, size_t *n, cassnn_err *err) {
    return list_int_walk(c, t, out, NULL, cap, n, err);
}

int cql_cell_list_int32(cql_cell c, cql_type t, int32_t *out, size_t cap, size_t *n, cassnn_err *err) {
    return list_int_walk(c, t, NULL, out, cap, n, err);
}

/* ------------------------------------------------------------ formatting */

static void buf_printf(cql_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(cql_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) cql_buf_bytes_raw(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void format_hex(cql_buf *b, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    cql_buf_bytes_raw(b, "0x", 2);
    if (cql_buf_reserve(b, 2 * n)) return;
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = (uint8_t)hex[p[i] >> 4];
        b->data[b->len++] = (uint8_t)hex[p[i] & 15];
    }
}

/* Shortest decimal that reads back as the same float/double. */
static void format_real(cql_buf *b, double v, int is_float) {
    char tmp[64];
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v) break;
    }
    cql_buf_bytes_raw(b, tmp, strlen(tmp));
}

static void format_scalar(cql_buf *b, cql_cell c, uint16_t id, int quote_text) {
    switch (id) {
    case CQL_TYPE_INT:
        if (c.len == 4) return buf_printf(b, "%" PRId32, (int32_t)get_be32(c.p));
        break;
    case CQL_TYPE_BIGINT:
    case CQL_TYPE_COUNTER:
        if (c.len == 8) return buf_printf(b, "%" PRId64, (int64_t)get_be64(c.p));
        break;
    case CQL_TYPE_SMALLINT:
        if (c.len == 2) return buf_printf(b, "%d", (int16_t)((c.p[0] << 8) | c.p[1]));
        break;
    case CQL_TYPE_TINYINT:
        if (c.len == 1) return buf_printf(b, "%d", (int8_t)c.p[0]);
        break;
    case CQL_TYPE_FLOAT:
        if (c.len == 4) {
            uint32_t u = get_be32(c.p);
            float f;
            memcpy(&f, &u, 4);
            return format_real(b, f, 1);
        }
        break;
    case CQL_TYPE_DOUBLE:
        if (c.len == 8) {
            uint64_t u = get_be64(c.p);
            double d;
            memcpy(&d, &u, 8);
            return format_real(b, d, 0);
        }
        break;
    case CQL_TYPE_BOOLEAN:
        if (c.len == 1) return buf_printf(b, "%s", c.p[0] ? "True" : "False");
        break;
    case CQL_TYPE_VARCHAR:
    case CQL_TYPE_ASCII:
        if (!quote_text) return cql_buf_bytes_raw(b, c.p, (size_t)c.len);
        /* inside collections cqlsh quotes text: 'it''s' */
        cql_buf_u8(b, '\'');
        for (int32_t i = 0; i < c.len; i++) {
            if (c.p[i] == '\'') cql_buf_u8(b, '\'');
            cql_buf_u8(b, c.p[i]);
        }
        return cql_buf_u8(b, '\'');
    case CQL_TYPE_UUID:
    case CQL_TYPE_TIMEUUID:
        if (c.len == 16) {
            char text[37];
            cql_uuid_format(c.p, text);
            return cql_buf_bytes_raw(b, text, 36);
        }
        break;
    case CQL_TYPE_TIMESTAMP:
        if (c.len == 8) {
            int64_t ms = (int64_t)get_be64(c.p);
            int64_t secs = ms / 1000, frac = ms % 1000;
            if (frac < 0) {
                frac += 1000;
                secs -= 1;
            }
            time_t tt = (time_t)secs;
            struct tm tm;
            if (gmtime_r(&tt, &tm)) {
                char d[64];
                strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
                return buf_printf(b, "%s.%03d000+0000", d, (int)frac);
            }
        }
        break;
    case CQL_TYPE_INET:
        if (c.len == 4) return buf_printf(b, "%u.%u.%u.%u", c.p[0], c.p[1], c.p[2], c.p[3]);
        break;
    default:
        break;
    }
    format_hex(b, c.p, (size_t)c.len); /* blob, and anything we do not render */
}

void cql_uuid_format(const uint8_t u[16], char out[37]) {
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hex[u[i] >> 4];
        out[k++] = hex[u[i] & 15];
    }
    out[k] = '\0';
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int cql_uuid_parse(const char *text, uint8_t out[16]) {
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if ((i == 4 || i == 6 || i == 8 || i == 10) && text[k++] != '-') return -1;
        const int hi = hex_digit(text[k]), lo = hi < 0 ? -1 : hex_digit(text[k + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
        k += 2;
    }
    return text[k] == '\0' ? 0 : -1;
}

void cql_cell_format(cql_cell c, cql_type t, cql_buf *out, const char *null_text) {
    if (c.len < 0) {
        cql_buf_bytes_raw(out, null_text, strlen(null_text));
        return;
    }
    if (t.id != CQL_TYPE_LIST && t.id != CQL_TYPE_SET && t.id != CQL_TYPE_MAP) {
        format_scalar(out, c, t.id, 0);
        return;
    }
    int is_map = t.id == CQL_TYPE_MAP;
    cql_rd r = {c.p, (size_t)c.len, 0};
    int32_t n = 0;
    if (cql_rd_i32(&r, &n, NULL) || n < 0) return format_hex(out, c.p, (size_t)c.len);
    cql_buf_u8(out, t.id == CQL_TYPE_LIST ? '[' : '{');
    for (int32_t i = 0; i < n; i++) {
        cql_cell k, v;
        if (cql_rd_bytes(&r, &k.p, &k.len, NULL) || (is_map && cql_rd_bytes(&r, &v.p, &v.len, NULL))) {
            cql_buf_bytes_raw(out, "<malformed>", 11);
            break;
        }
        if (i) cql_buf_bytes_raw(out, ", ", 2);
        if (k.len < 0) cql_buf_bytes_raw(out, "null", 4);
        else format_scalar(out, k, t.elem, 1);
        if (is_map) {
            cql_buf_bytes_raw(out, ": ", 2);
            if (v.len < 0) cql_buf_bytes_raw(out, "null", 4);
            else format_scalar(out, v, t.value, 1);
        }
    }
    cql_buf_u8(out, t.id == CQL_TYPE_LIST ? ']' : '}');
}
