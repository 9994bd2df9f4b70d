/* Unit tests of the pure CQL codec against hand-checked byte sequences
 * (each expected array is written from doc/native_protocol_v4.spec). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cql/codec.h"

static void assert_bytes(const cql_buf *b, const uint8_t *want, size_t n) {
    assert_false(b->oom);
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
}

static void header_round_trip(void **state) {
    (void)state;
    cql_frame_header h = {CQL_VERSION_REQUEST, 0, 1, CQL_OP_OPTIONS, 0};
    uint8_t raw[9];
    cql_header_encode(&h, raw);
    const uint8_t want[9] = {0x04, 0x00, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00};
    assert_memory_equal(raw, want, 9);

    const uint8_t resp[9] = {0x84, 0x08, 0xff, 0xff, 0x0c, 0x00, 0x00, 0x01, 0x02};
    cql_frame_header d;
    cassnn_err err = {0};
    assert_int_equal(cql_header_decode(resp, &d, &err), 0);
    assert_int_equal(d.stream, -1);
    assert_int_equal(d.opcode, CQL_OP_EVENT);
    assert_int_equal(d.flags, CQL_FLAG_WARNING);
    assert_int_equal(d.length, 258);

    const uint8_t bad_version[9] = {0x83, 0, 0, 0, 0x08, 0, 0, 0, 0};
    assert_int_equal(cql_header_decode(bad_version, &d, &err), -1);
    assert_non_null(strstr(err.msg, "version"));
    const uint8_t request_op[9] = {0x84, 0, 0, 0, CQL_OP_QUERY, 0, 0, 0, 0};
    assert_int_equal(cql_header_decode(request_op, &d, &err), -1);
    const uint8_t huge[9] = {0x84, 0, 0, 0, 0x08, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(cql_header_decode(huge, &d, &err), -1);
}

static void startup_and_options_frames(void **state) {
    (void)state;
    cql_buf b = {0};
    cql_encode_startup(&b, 0, NULL);
    const uint8_t want[] = {0x04, 0, 0, 0, 0x01, 0, 0, 0, 22, 0, 1, 0, 11, 'C', 'Q', 'L', '_', 'V', 'E', 'R', 'S',
                            'I', 'O', 'N', 0, 5, '3', '.', '0', '.', '0'};
    assert_bytes(&b, want, sizeof want);
    b.len = 0;
    cql_encode_startup(&b, 0, "lz4");
    assert_int_equal(b.data[10], 2); /* two map entries */
    assert_memory_equal(b.data + b.len - 3, "lz4", 3);
    b.len = 0;
    cql_encode_options(&b, 7);
    const uint8_t opt[] = {0x04, 0, 0, 7, 0x05, 0, 0, 0, 0};
    assert_bytes(&b, opt, sizeof opt);
    cql_buf_free(&b);
}

static void query_frame_with_values_and_paging(void **state) {
    (void)state;
    cql_buf vals = {0}, b = {0};
    cql_value v = cql_int(1);
    cql_value_encode(&vals, &v);
    const uint8_t ps[2] = {0xaa, 0xbb};
    cql_query_params p = {.consistency = CQL_QUORUM, .page_size = 100, .paging_state = ps, .paging_state_len = 2,
                          .serial_consistency = CQL_LOCAL_SERIAL};
    cql_encode_query(&b, 3, "SELECT ?", vals.data, vals.len, 1, &p);
    const uint8_t want[] = {
        0x04, 0, 0, 3, 0x07, 0, 0, 0, 37,              /* header, body 37 bytes */
        0, 0, 0, 8, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '?', /* [long string] */
        0, 4,                                          /* QUORUM */
        0x1d,                                          /* values|page size|paging state|serial */
        0, 1, 0, 0, 0, 4, 0, 0, 0, 1,                  /* 1 value: int 1 */
        0, 0, 0, 100,                                  /* page size */
        0, 0, 0, 2, 0xaa, 0xbb,                        /* paging state */
        0, 9,                                          /* LOCAL_SERIAL */
    };
    assert_bytes(&b, want, sizeof want);
    cql_buf_free(&b);
    cql_buf_free(&vals);
}

static void execute_prepare_batch_register_auth(void **state) {
    (void)state;
    cql_buf b = {0};
    const uint8_t id[2] = {0x12, 0x34};
    cql_query_params p = {.consistency = CQL_ONE};
    cql_encode_execute(&b, 1, id, 2, NULL, 0, 0, &p);
    const uint8_t ex[] = {0x04, 0, 0, 1, 0x0a, 0, 0, 0, 7, 0, 2, 0x12, 0x34, 0, 1, 0};
    assert_bytes(&b, ex, sizeof ex);
    b.len = 0;
    cql_encode_prepare(&b, 2, "X");
    const uint8_t pr[] = {0x04, 0, 0, 2, 0x09, 0, 0, 0, 5, 0, 0, 0, 1, 'X'};
    assert_bytes(&b, pr, sizeof pr);
    b.len = 0;
    const uint8_t val[] = {0, 0, 0, 4, 0, 0, 0, 9};
    cql_batch_entry e[2] = {{.query = "Q", .values = val, .values_len = 8, .n_values = 1}, {.id = id, .id_len = 2}};
    cql_encode_batch(&b, 4, CQL_BATCH_UNLOGGED, e, 2, &p);
    const uint8_t ba[] = {0x04, 0, 0, 4, 0x0d, 0, 0, 0, 29,
                          1, 0, 2,                                  /* unlogged, 2 statements */
                          0, 0, 0, 0, 1, 'Q', 0, 1, 0, 0, 0, 4, 0, 0, 0, 9, /* query "Q", one int */
                          1, 0, 2, 0x12, 0x34, 0, 0,                /* prepared id, no values */
                          0, 1, 0};                                 /* ONE, no flags */
    assert_bytes(&b, ba, sizeof ba);
    b.len = 0;
    const char *ev[1] = {"SCHEMA_CHANGE"};
    cql_encode_register(&b, 0, ev, 1);
    assert_int_equal(b.data[4], CQL_OP_REGISTER);
    assert_int_equal(b.len, 9 + 2 + 2 + 13);
    b.len = 0;
    cql_encode_auth_response(&b, 0, "\0u\0p", 4);
    const uint8_t au[] = {0x04, 0, 0, 0, 0x0f, 0, 0, 0, 8, 0, 0, 0, 4, 0, 'u', 0, 'p'};
    assert_bytes(&b, au, sizeof au);
    cql_buf_free(&b);
}

static void value_encodings(void **state) {
    (void)state;
    struct {
        cql_value v;
        uint8_t want[40];
        size_t n;
    } cases[] = {
        {cql_int(-2), {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe}, 8},
        {cql_bigint(258), {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2}, 12},
        {cql_timestamp(1000), {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe8}, 12},
        {cql_float(1.0f), {0, 0, 0, 4, 0x3f, 0x80, 0, 0}, 8},
        {cql_double(-2.0), {0, 0, 0, 8, 0xc0, 0, 0, 0, 0, 0, 0, 0}, 12},
        {cql_boolean(1), {0, 0, 0, 1, 1}, 5},
        {cql_text("ab"), {0, 0, 0, 2, 'a', 'b'}, 6},
        {cql_blob("\x00\x01", 2), {0, 0, 0, 2, 0, 1}, 6},
        {cql_null(), {0xff, 0xff, 0xff, 0xff}, 4},
        {cql_unset(), {0xff, 0xff, 0xff, 0xfe}, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cql_buf b = {0};
        cql_value_encode(&b, &cases[i].v);
        assert_bytes(&b, cases[i].want, cases[i].n);
        cql_buf_free(&b);
    }
    const uint8_t px[2] = {1, 255};
    const int32_t ix[2] = {1, 255};
    const uint8_t want[] = {0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0xff};
    cql_buf b = {0};
    cql_value v = cql_list_int_u8(px, 2);
    cql_value_encode(&b, &v);
    assert_bytes(&b, want, sizeof want);
    b.len = 0;
    v = cql_list_int(ix, 2);
    cql_value_encode(&b, &v);
    assert_bytes(&b, want, sizeof want);
    b.len = 0;
    const char *txt[2] = {"a", ""};
    v = cql_list_text(txt, 2);
    cql_value_encode(&b, &v);
    const uint8_t wt[] = {0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 0, 1, 'a', 0, 0, 0, 0};
    assert_bytes(&b, wt, sizeof wt);
    cql_buf_free(&b);
    uint8_t u[16];
    for (int i = 0; i < 16; i++) u[i] = (uint8_t)i;
    v = cql_uuid(u);
    cql_value_encode(&b, &v);
    assert_int_equal(b.len, 20);
    assert_memory_equal(b.data + 4, u, 16);
    cql_buf_free(&b);
}

static void value_type_checks(void **state) {
    (void)state;
    cassnn_err err = {0};
    cql_type t_int = {CQL_TYPE_INT, 0, 0}, t_list = {CQL_TYPE_LIST, CQL_TYPE_INT, 0}, t_ts = {CQL_TYPE_TIMESTAMP, 0, 0};
    cql_value vi = cql_int(1), vt = cql_text("x"), vn = cql_null();
    uint8_t px[1] = {0};
    cql_value vl = cql_list_int_u8(px, 1), vts = cql_timestamp(1);
    assert_int_equal(cql_value_check(&vi, t_int, "id", &err), 0);
    assert_int_equal(cql_value_check(&vn, t_int, "id", &err), 0);
    assert_int_equal(cql_value_check(&vl, t_list, "pixels", &err), 0);
    assert_int_equal(cql_value_check(&vts, t_ts, "t", &err), 0);
    assert_int_equal(cql_value_check(&vt, t_int, "id", &err), -1);
    assert_string_equal(err.msg, "id: cannot bind a text value to a int column");
    assert_int_equal(cql_value_check(&vi, t_list, "pixels", &err), -1);
}

static void error_bodies(void **state) {
    (void)state;
    cql_error e;
    cassnn_err err = {0};
    const uint8_t syn[] = {0, 0, 0x20, 0, 0, 3, 'b', 'a', 'd'};
    assert_int_equal(cql_decode_error(syn, sizeof syn, &e, &err), 0);
    assert_int_equal(e.code, CQL_ERR_SYNTAX);
    cql_error_to_err(&e, &err);
    assert_string_equal(err.msg, "SyntaxError (0x2000): bad");
    assert_int_equal(err.code, 0x2000);

    const uint8_t unav[] = {0, 0, 0x10, 0, 0, 1, 'u', 0, 4, 0, 0, 0, 3, 0, 0, 0, 1};
    assert_int_equal(cql_decode_error(unav, sizeof unav, &e, &err), 0);
    assert_int_equal(e.consistency, CQL_QUORUM);
    assert_int_equal(e.required, 3);
    assert_int_equal(e.alive, 1);

    const uint8_t wto[] = {0, 0, 0x11, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 6, 'S', 'I', 'M', 'P', 'L', 'E'};
    assert_int_equal(cql_decode_error(wto, sizeof wto, &e, &err), 0);
    assert_int_equal(e.block_for, 1);
    assert_int_equal(e.write_type.len, 6);

    const uint8_t rto[] = {0, 0, 0x12, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1};
    assert_int_equal(cql_decode_error(rto, sizeof rto, &e, &err), 0);
    assert_int_equal(e.data_present, 1);

    const uint8_t rfail[] = {0, 0, 0x13, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0};
    assert_int_equal(cql_decode_error(rfail, sizeof rfail, &e, &err), 0);
    assert_int_equal(e.num_failures, 2);

    const uint8_t wfail[] = {0, 0, 0x15, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 5, 'B', 'A', 'T', 'C', 'H'};
    assert_int_equal(cql_decode_error(wfail, sizeof wfail, &e, &err), 0);
    assert_int_equal(e.write_type.len, 5);

    const uint8_t ffail[] = {0, 0, 0x14, 0, 0, 0, 0, 2, 'k', 's', 0, 1, 'f', 0, 1, 0, 3, 'i', 'n', 't'};
    assert_int_equal(cql_decode_error(ffail, sizeof ffail, &e, &err), 0);
    assert_int_equal(e.table.len, 1);

    const uint8_t exists[] = {0, 0, 0x24, 0, 0, 0, 0, 2, 'k', 's', 0, 1, 't'};
    assert_int_equal(cql_decode_error(exists, sizeof exists, &e, &err), 0);
    assert_memory_equal(e.keyspace.p, "ks", 2);
    assert_memory_equal(e.table.p, "t", 1);

    const uint8_t unprep[] = {0, 0, 0x25, 0, 0, 0, 0, 2, 0xde, 0xad};
    assert_int_equal(cql_decode_error(unprep, sizeof unprep, &e, &err), 0);
    assert_int_equal(e.unprepared_id_len, 2);
    assert_int_equal(e.unprepared_id[1], 0xad);

    /* every strict prefix of a body with extra fields is rejected */
    for (size_t n = 0; n < sizeof unav; n++) assert_int_equal(cql_decode_error(unav, n, &e, &err), -1);
    const uint8_t lying[] = {0, 0, 0x20, 0, 0xff, 0xff, 'x'};
    assert_int_equal(cql_decode_error(lying, sizeof lying, &e, &err), -1);
    assert_non_null(strstr(err.msg, "truncated string"));
    assert_string_equal(cql_error_name(CQL_ERR_WRITE_TIMEOUT), "WriteTimeout");
    assert_string_equal(cql_error_name(CQL_ERR_ALREADY_EXISTS), "AlreadyExists");
}

static void supported_multimap(void **state) {
    (void)state;
    const uint8_t body[] = {0, 2, 0, 11, 'C', 'O', 'M', 'P', 'R', 'E', 'S', 'S', 'I', 'O', 'N', 0, 2, 0, 6, 's', 'n',
                            'a', 'p', 'p', 'y', 0, 3, 'l', 'z', '4', 0, 11, 'C', 'Q', 'L', '_', 'V', 'E', 'R', 'S',
                            'I', 'O', 'N', 0, 1, 0, 5, '3', '.', '4', '.', '7'};
    cql_multimap m;
    cassnn_err err = {0};
    assert_int_equal(cql_decode_supported(body, sizeof body, &m, &err), 0);
    size_t n;
    char *const *v = cql_multimap_get(&m, "COMPRESSION", &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "lz4");
    v = cql_multimap_get(&m, "CQL_VERSION", &n);
    assert_string_equal(v[0], "3.4.7");
    assert_null(cql_multimap_get(&m, "NOPE", &n));
    cql_multimap_free(&m);
    for (size_t k = 1; k < sizeof body; k++) {
        assert_int_equal(cql_decode_supported(body, k, &m, &err), -1);
    }
}

/* RESULT Rows, global table spec "k"."t", columns id int, px list<int>,
 * name text; rows (7, [1, 2], 'a') and (8, null, null); more pages. */
static const uint8_t rows_body[] = {
    0, 0, 0, 2,                         /* kind Rows */
    0, 0, 0, 3,                         /* flags: global spec | has more pages */
    0, 0, 0, 3,                         /* 3 columns */
    0, 0, 0, 2, 0xca, 0xfe,             /* paging state */
    0, 1, 'k', 0, 1, 't',               /* global spec */
    0, 2, 'i', 'd', 0, 0x09,            /* id int */
    0, 2, 'p', 'x', 0, 0x20, 0, 0x09,   /* px list<int> */
    0, 4, 'n', 'a', 'm', 'e', 0, 0x0d,  /* name varchar */
    0, 0, 0, 2,                         /* 2 rows */
    0, 0, 0, 4, 0, 0, 0, 7,
    0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2,
    0, 0, 0, 1, 'a',
    0, 0, 0, 4, 0, 0, 0, 8,
    0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff,
};

static cql_result *decode_copy(const uint8_t *body, size_t n, cassnn_err *err) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, body, n);
    cql_result *r = NULL;
    cql_decode_result(copy, n, 0, NULL, &r, err);
    return r;
}

static void rows_result_and_typed_cells(void **state) {
    (void)state;
    cassnn_err err = {0};
    cql_result *r = decode_copy(rows_body, sizeof rows_body, &err);
    assert_non_null(r);
    assert_int_equal(r->kind, CQL_RESULT_ROWS);
    assert_int_equal(r->n_rows, 2);
    assert_int_equal(r->meta.n_columns, 3);
    assert_int_equal(r->meta.paging_state_len, 2);
    assert_memory_equal(r->meta.columns[1].name.p, "px", 2);
    assert_int_equal(r->meta.columns[1].type.id, CQL_TYPE_LIST);
    assert_int_equal(r->meta.columns[1].type.elem, CQL_TYPE_INT);

    int32_t id;
    assert_int_equal(cql_cell_int(r->cells[0], r->meta.columns[0].type, &id, &err), 0);
    assert_int_equal(id, 7);
    uint8_t px[4];
    int32_t px32[4];
    size_t n;
    assert_int_equal(cql_cell_list_int_u8(r->cells[1], r->meta.columns[1].type, px, 4, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(px[1], 2);
    assert_int_equal(cql_cell_list_int32(r->cells[1], r->meta.columns[1].type, px32, 4, &n, &err), 0);
    assert_int_equal(px32[0], 1);
    assert_int_equal(cql_cell_list_int_u8(r->cells[1], r->meta.columns[1].type, px, 1, &n, &err), -1); /* no room */
    cql_str s;
    assert_int_equal(cql_cell_text(r->cells[2], r->meta.columns[2].type, &s, &err), 0);
    assert_int_equal(s.len, 1);
    /* type checks */
    assert_int_equal(cql_cell_text(r->cells[0], r->meta.columns[0].type, &s, &err), -1);
    assert_string_equal(err.msg, "cql: column of type int read as text");
    int64_t big;
    assert_int_equal(cql_cell_bigint(r->cells[0], r->meta.columns[0].type, &big, &err), -1);
    /* null cells */
    assert_true(cql_cell_is_null(r->cells[4]));
    assert_int_equal(cql_cell_list_int_u8(r->cells[4], r->meta.columns[1].type, px, 4, &n, &err), -1);
    assert_non_null(strstr(err.msg, "null"));
    cql_result_free(r);
}

static void every_truncation_is_an_error(void **state) {
    (void)state;
    cassnn_err err = {0};
    for (size_t n = 0; n < sizeof rows_body; n++) {
        cql_result *r = decode_copy(rows_body, n, &err);
        assert_null(r);
    }
}

static void prepared_result_with_pk(void **state) {
    (void)state;
    const uint8_t body[] = {
        0, 0, 0, 4,                       /* Prepared */
        0, 2, 0xab, 0xcd,                 /* id */
        0, 0, 0, 1, 0, 0, 0, 2,           /* bind metadata: global, 2 columns */
        0, 0, 0, 1, 0, 0,                 /* 1 pk column: index 0 */
        0, 1, 'k', 0, 1, 't',
        0, 2, 'i', 'd', 0, 0x09,
        0, 1, 'x', 0, 0x0c,
        0, 0, 0, 4, 0, 0, 0, 0,           /* result metadata: no metadata */
    };
    cassnn_err err = {0};
    cql_result *r = decode_copy(body, sizeof body, &err);
    assert_non_null(r);
    assert_int_equal(r->prepared_id_len, 2);
    assert_int_equal(r->bind.n_columns, 2);
    assert_int_equal(r->bind.n_pk, 1);
    assert_int_equal(r->bind.pk_indexes[0], 0);
    assert_int_equal(r->bind.columns[1].type.id, CQL_TYPE_UUID);
    assert_null(r->meta.columns);
    cql_result_free(r);
    for (size_t n = 0; n < sizeof body - 8; n++) assert_null(decode_copy(body, n, &err));
}

static void other_result_kinds(void **state) {
    (void)state;
    cassnn_err err = {0};
    const uint8_t v[] = {0, 0, 0, 1};
    cql_result *r = decode_copy(v, sizeof v, &err);
    assert_int_equal(r->kind, CQL_RESULT_VOID);
    cql_result_free(r);
    const uint8_t ks[] = {0, 0, 0, 3, 0, 2, 'k', 's'};
    r = decode_copy(ks, sizeof ks, &err);
    assert_int_equal(r->keyspace.len, 2);
    cql_result_free(r);
    const uint8_t sc[] = {0, 0, 0, 5, 0, 7, 'C', 'R', 'E', 'A', 'T', 'E', 'D', 0, 5, 'T', 'A', 'B', 'L', 'E',
                          0, 2, 'k', 's', 0, 1, 't'};
    r = decode_copy(sc, sizeof sc, &err);
    assert_int_equal(r->kind, CQL_RESULT_SCHEMA_CHANGE);
    assert_memory_equal(r->schema.name.p, "t", 1);
    cql_result_free(r);
    const uint8_t bad[] = {0, 0, 0, 9};
    assert_null(decode_copy(bad, sizeof bad, &err));
    assert_non_null(strstr(err.msg, "unknown result kind"));
}

static void events(void **state) {
    (void)state;
    const uint8_t st[] = {0, 13, 'S', 'T', 'A', 'T', 'U', 'S', '_', 'C', 'H', 'A', 'N', 'G', 'E', 0, 4, 'D', 'O', 'W',
                          'N', 4, 127, 0, 0, 2, 0, 0, 0x23, 0x52};
    cql_event ev;
    cassnn_err err = {0};
    assert_int_equal(cql_decode_event(st, sizeof st, &ev, &err), 0);
    assert_int_equal(ev.node.addr_len, 4);
    assert_int_equal(ev.node.addr[3], 2);
    assert_int_equal(ev.node.port, 9042);
    assert_int_equal(cql_decode_event(st, sizeof st - 1, &ev, &err), -1);
}

static void lz4_round_trip(void **state) {
    (void)state;
    cql_buf f = {0}, out = {0};
    cql_query_params p = {.consistency = CQL_ONE};
    cql_encode_query(&f, 0, "SELECT * FROM aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, 0, 0, &p);
    cql_buf orig = {0};
    cql_buf_bytes_raw(&orig, f.data, f.len);
    cassnn_err err = {0};
    assert_int_equal(cql_frame_compress_lz4(&f, 0, &err), 0);
    assert_true(f.data[1] & CQL_FLAG_COMPRESSION);
    uint32_t len = ((uint32_t)f.data[5] << 24) | ((uint32_t)f.data[6] << 16) | ((uint32_t)f.data[7] << 8) | f.data[8];
    assert_int_equal(len, f.len - 9);
    assert_int_equal(cql_body_decompress_lz4(f.data + 9, len, &out, &err), 0);
    assert_int_equal(out.len, orig.len - 9);
    assert_memory_equal(out.data, orig.data + 9, out.len);
    /* corrupt: claimed length too large for the block */
    f.data[9] = 0x01;
    assert_int_equal(cql_body_decompress_lz4(f.data + 9, len, &out, &err), -1);
    cql_buf_free(&f);
    cql_buf_free(&out);
    cql_buf_free(&orig);
}

static void cqlsh_formatting(void **state) {
    (void)state;
    cql_buf b = {0};
    const uint8_t ts[] = {0, 0, 0x01, 0x9a, 0xb2, 0x6b, 0x76, 0xd1}; /* 1763929978577 ms */
    cql_cell c = {ts, 8};
    cql_cell_format(c, (cql_type){CQL_TYPE_TIMESTAMP, 0, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "2025-11-23 20:32:58.577000+0000");
    b.len = 0;
    const uint8_t u[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
    cql_cell_format((cql_cell){u, 16}, (cql_type){CQL_TYPE_UUID, 0, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "123e4567-e89b-12d3-a456-426614174000");
    b.len = 0;
    cql_cell_format((cql_cell){u, 2}, (cql_type){CQL_TYPE_BLOB, 0, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "0x123e");
    b.len = 0;
    const uint8_t list[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe};
    cql_cell_format((cql_cell){list, sizeof list}, (cql_type){CQL_TYPE_LIST, CQL_TYPE_INT, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "[1, -2]");
    b.len = 0;
    const uint8_t tl[] = {0, 0, 0, 1, 0, 0, 0, 4, 'i', 't', '\'', 's'};
    cql_cell_format((cql_cell){tl, sizeof tl}, (cql_type){CQL_TYPE_SET, CQL_TYPE_VARCHAR, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "{'it''s'}");
    b.len = 0;
    const uint8_t fl[] = {0x3d, 0xcc, 0xcc, 0xcd}; /* 0.1f */
    cql_cell_format((cql_cell){fl, 4}, (cql_type){CQL_TYPE_FLOAT, 0, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "0.1");
    b.len = 0;
    cql_cell_format((cql_cell){NULL, -1}, (cql_type){CQL_TYPE_INT, 0, 0}, &b, "null");
    cql_buf_u8(&b, 0);
    assert_string_equal((char *)b.data, "null");
    cql_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_round_trip),
        cmocka_unit_test(startup_and_options_frames),
        cmocka_unit_test(query_frame_with_values_and_paging),
        cmocka_unit_test(execute_prepare_batch_register_auth),
        cmocka_unit_test(value_encodings),
        cmocka_unit_test(value_type_checks),
        cmocka_unit_test(error_bodies),
        cmocka_unit_test(supported_multimap),
        cmocka_unit_test(rows_result_and_typed_cells),
        cmocka_unit_test(every_truncation_is_an_error),
        cmocka_unit_test(prepared_result_with_pk),
        cmocka_unit_test(other_result_kinds),
        cmocka_unit_test(events),
        cmocka_unit_test(lz4_round_trip),
        cmocka_unit_test(cqlsh_formatting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
