/* libFuzzer target: a server's response frame, as bytes off the wire, goes
 * through every decoder a client runs on it - header, LZ4, response prefix,
 * then the body decoder for its opcode (RESULT with all typed cell readers
 * and cqlsh formatting, ERROR, SUPPORTED, EVENT, AUTH*). Any crash, leak or
 * sanitizer report is a bug: malformed input must only produce errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cql/codec.h"

static void exercise_cells(const cql_result *r) {
    cassnn_err err;
    cql_buf out = {0};
    for (int32_t row = 0; row < r->n_rows && r->meta.columns; row++)
        for (int32_t col = 0; col < r->meta.n_columns; col++) {
            cql_cell c = r->cells[(size_t)row * (size_t)r->meta.n_columns + (size_t)col];
            cql_type t = r->meta.columns[col].type;
            int32_t i32, n;
            int64_t i64;
            float f;
            double d;
            int b;
            cql_str s;
            const uint8_t *p;
            size_t len;
            uint8_t u[16], px[64];
            int32_t ix[64];
            cql_cell items[64];
            cql_cell_int(c, t, &i32, &err);
            cql_cell_bigint(c, t, &i64, &err);
            cql_cell_timestamp(c, t, &i64, &err);
            cql_cell_float(c, t, &f, &err);
            cql_cell_double(c, t, &d, &err);
            cql_cell_boolean(c, t, &b, &err);
            cql_cell_text(c, t, &s, &err);
            cql_cell_blob(c, t, &p, &len, &err);
            cql_cell_uuid(c, t, u, &err);
            cql_cell_list_int_u8(c, t, px, sizeof px, &len, &err);
            cql_cell_list_int32(c, t, ix, 64, &len, &err);
            if (!cql_cell_list_count(c, t, &n, &err) && n <= 64) cql_cell_list_items(c, t, items, n, &err);
            out.len = 0;
            cql_cell_format(c, t, &out, "null");
        }
    cql_buf_free(&out);
}

static void decode_body(uint8_t opcode, const uint8_t *body, size_t len, size_t offset) {
    cassnn_err err;
    const uint8_t *b = body + offset;
    size_t n = len - offset;
    switch (opcode) {
    case CQL_OP_RESULT: {
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) return;
        memcpy(copy, body, len);
        cql_result *r;
        if (!cql_decode_result(copy, len, offset, NULL, &r, &err)) {
            exercise_cells(r);
            cql_result_free(r);
        }
        break;
    }
    case CQL_OP_ERROR: {
        cql_error e;
        if (!cql_decode_error(b, n, &e, &err)) cql_error_to_err(&e, &err);
        break;
    }
    case CQL_OP_SUPPORTED: {
        cql_multimap m;
        if (!cql_decode_supported(b, n, &m, &err)) {
            size_t k;
            cql_multimap_get(&m, "COMPRESSION", &k);
            cql_multimap_free(&m);
        }
        break;
    }
    case CQL_OP_EVENT: {
        cql_event ev;
        cql_decode_event(b, n, &ev, &err);
        break;
    }
    case CQL_OP_AUTHENTICATE: {
        cql_str s;
        cql_decode_authenticate(b, n, &s, &err);
        break;
    }
    default: {
        const uint8_t *tok;
        int32_t tl;
        cql_decode_auth_token(b, n, &tok, &tl, &err);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < CQL_HEADER_SIZE) return 0;
    cassnn_err err;
    cql_frame_header h;
    if (cql_header_decode(data, &h, &err)) return 0;
    const uint8_t *body = data + CQL_HEADER_SIZE;
    size_t len = size - CQL_HEADER_SIZE;
    if (h.length < len) len = h.length; /* trailing bytes belong to the next frame */
    cql_buf plain = {0};
    if (h.flags & CQL_FLAG_COMPRESSION) {
        if (cql_body_decompress_lz4(body, len, &plain, &err)) {
            cql_buf_free(&plain);
            return 0;
        }
        body = plain.data ? plain.data : (const uint8_t *)"";
        len = plain.len;
    }
    size_t offset, warnings;
    if (!cql_skip_response_prefix(h.flags, body, len, &offset, &warnings, &err))
        decode_body(h.opcode, body, len, offset);
    cql_buf_free(&plain);
    return 0;
}
