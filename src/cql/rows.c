/* rows.c - cql.h's result accessors: range checks around the typed cell
 * readers of the codec, so callers index rows/columns without bookkeeping. */
#include "cassnn/cql.h"
#include "cql/codec.h"

#include <string.h>

int cql_result_kind_of(const cql_result *r) { return r ? r->kind : 0; }

int32_t cql_result_row_count(const cql_result *r) { return r && r->kind == CQL_RESULT_ROWS ? r->n_rows : 0; }

int32_t cql_result_column_count(const cql_result *r) {
    return r && r->kind == CQL_RESULT_ROWS && r->meta.columns ? r->meta.n_columns : 0;
}

const cql_column *cql_result_column(const cql_result *r, int32_t col) {
    if (col < 0 || col >= cql_result_column_count(r)) return NULL;
    return &r->meta.columns[col];
}

int32_t cql_result_column_index(const cql_result *r, const char *name) {
    size_t n = strlen(name);
    for (int32_t i = 0; i < cql_result_column_count(r); i++)
        if (r->meta.columns[i].name.len == n && !memcmp(r->meta.columns[i].name.p, name, n)) return i;
    return -1;
}

cql_cell cql_result_cell(const cql_result *r, int32_t row, int32_t col) {
    cql_cell none = {NULL, -1};
    if (row < 0 || row >= cql_result_row_count(r) || col < 0 || col >= cql_result_column_count(r)) return none;
    return r->cells[(size_t)row * (size_t)r->meta.n_columns + (size_t)col];
}

const uint8_t *cql_result_paging_state(const cql_result *r, size_t *len) {
    *len = r ? r->meta.paging_state_len : 0;
    return r && r->kind == CQL_RESULT_ROWS ? r->meta.paging_state : NULL;
}

/* Resolves (row, col) to a cell and its type, or explains why not. */
static int locate(const cql_result *r, int32_t row, int32_t col, cql_cell *c, cql_type *t, cassnn_err *err) {
    if (row < 0 || row >= cql_result_row_count(r))
        return cassnn_err_set(err, "cql: row %d out of range (%d rows)", row, cql_result_row_count(r));
    if (col < 0 || col >= cql_result_column_count(r))
        return cassnn_err_set(err, "cql: column %d out of range (%d columns)", col, cql_result_column_count(r));
    *c = cql_result_cell(r, row, col);
    *t = r->meta.columns[col].type;
    return 0;
}

/* Each getter = locate + the codec's typed reader, with the column name in
 * the error. */
#define CQL_GETTER(fn, reader, params, args)                                              \
    int fn(const cql_result *r, int32_t row, int32_t col, params, cassnn_err *err) {         \
        cql_cell c;                                                                         \
        cql_type t;                                                                         \
        if (locate(r, row, col, &c, &t, err)) return -1;                                    \
        if (reader(c, t, args, err))                                                        \
            return cassnn_err_wrap(err, "row %d column %.*s", row,                          \
                                   (int)r->meta.columns[col].name.len, r->meta.columns[col].name.p); \
        return 0;                                                                           \
    }
#define COMMA ,
CQL_GETTER(cql_get_int, cql_cell_int, int32_t *v, v)
CQL_GETTER(cql_get_bigint, cql_cell_bigint, int64_t *v, v)
CQL_GETTER(cql_get_timestamp, cql_cell_timestamp, int64_t *ms, ms)
CQL_GETTER(cql_get_float, cql_cell_float, float *v, v)
CQL_GETTER(cql_get_double, cql_cell_double, double *v, v)
CQL_GETTER(cql_get_boolean, cql_cell_boolean, int *v, v)
CQL_GETTER(cql_get_text, cql_cell_text, cql_str *v, v)
CQL_GETTER(cql_get_blob, cql_cell_blob, const uint8_t **p COMMA size_t *len, p COMMA len)
CQL_GETTER(cql_get_uuid, cql_cell_uuid, uint8_t out[16], out)
CQL_GETTER(cql_get_list_int_u8, cql_cell_list_int_u8, uint8_t *out COMMA size_t cap COMMA size_t *n, out COMMA cap COMMA n)
CQL_GETTER(cql_get_list_int32, cql_cell_list_int32, int32_t *out COMMA size_t cap COMMA size_t *n, out COMMA cap COMMA n)
