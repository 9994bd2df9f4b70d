/* cql_types.h - the values, types and results of cassnn's CQL client
 * (cql.h): what a caller binds to a statement and reads from a result.
 *
 * Ownership: a cql_value only points at the caller's memory, which must stay
 * valid during the call that binds it (values are encoded at once). A
 * cql_result is the caller's once a call hands it over: free it with
 * cql_result_free; every cql_cell, cql_column and cql_str read from it
 * points into it and lives as long as it. A cql_multimap owns its strings
 * (cql_multimap_free). A cql_buf grows with malloc (cql_buf_free).
 * Threads: plain data and pure functions; a result may be read from several
 * threads at once, and freed by one when all are done.
 */
#ifndef CASSNN_CQL_TYPES_H
#define CASSNN_CQL_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"

/* ------------------------------------------------------ growable buffer */

/* An append-only byte buffer (cql_cell_format's output; start from {0}).
 * Allocation failure is sticky (oom = 1), so many appends are checked once
 * at the end. */
typedef struct cql_buf {
    uint8_t *data;
    size_t len, cap;
    int oom;
} cql_buf;

void cql_buf_free(cql_buf *b);
int cql_buf_reserve(cql_buf *b, size_t extra);
void cql_buf_bytes_raw(cql_buf *b, const void *p, size_t n);

/* ----------------------------------------------------------- data types */

typedef enum cql_type_id {
    CQL_TYPE_CUSTOM = 0x0000,
    CQL_TYPE_ASCII = 0x0001,
    CQL_TYPE_BIGINT = 0x0002,
    CQL_TYPE_BLOB = 0x0003,
    CQL_TYPE_BOOLEAN = 0x0004,
    CQL_TYPE_COUNTER = 0x0005,
    CQL_TYPE_DECIMAL = 0x0006,
    CQL_TYPE_DOUBLE = 0x0007,
    CQL_TYPE_FLOAT = 0x0008,
    CQL_TYPE_INT = 0x0009,
    CQL_TYPE_TIMESTAMP = 0x000B,
    CQL_TYPE_UUID = 0x000C,
    CQL_TYPE_VARCHAR = 0x000D,
    CQL_TYPE_VARINT = 0x000E,
    CQL_TYPE_TIMEUUID = 0x000F,
    CQL_TYPE_INET = 0x0010,
    CQL_TYPE_DATE = 0x0011,
    CQL_TYPE_TIME = 0x0012,
    CQL_TYPE_SMALLINT = 0x0013,
    CQL_TYPE_TINYINT = 0x0014,
    CQL_TYPE_DURATION = 0x0015,
    CQL_TYPE_LIST = 0x0020,
    CQL_TYPE_MAP = 0x0021,
    CQL_TYPE_SET = 0x0022,
    CQL_TYPE_UDT = 0x0030,
    CQL_TYPE_TUPLE = 0x0031,
} cql_type_id;

/* A column type. Collections record their element types one level deep
 * (list<int>: id LIST, elem INT); deeper nesting is parsed and skipped, and
 * such columns are readable only as raw cells. */
typedef struct cql_type {
    uint16_t id;
    uint16_t elem;  /* list/set element, map key */
    uint16_t value; /* map value */
} cql_type;

/* "int", "list<int>", ... (for messages and the CLI). */
void cql_type_name(cql_type t, char *out, size_t cap);

/* --------------------------------------------------------- bound values */

/* What a caller binds to a `?`. Values are encoded straight into the request
 * frame, so pointers only need to stay valid during the call that binds them.
 * Lists point at a plain C array of their elements; list<int> can be bound
 * directly from uint8 pixels (CQL_VAL_LIST_INT_U8) with no per-element
 * objects. */
typedef enum cql_value_kind {
    CQL_VAL_NULL = 0,
    CQL_VAL_UNSET, /* leaves the column untouched (v4) */
    CQL_VAL_INT,
    CQL_VAL_BIGINT,
    CQL_VAL_FLOAT,
    CQL_VAL_DOUBLE,
    CQL_VAL_BOOLEAN,
    CQL_VAL_TEXT,      /* text/varchar/ascii */
    CQL_VAL_BLOB,
    CQL_VAL_UUID,      /* uuid and timeuuid */
    CQL_VAL_TIMESTAMP, /* milliseconds since the Unix epoch */
    CQL_VAL_LIST_INT_U8, /* list<int> from uint8_t[] */
    CQL_VAL_LIST_INT,    /* list<int> from int32_t[] */
    CQL_VAL_LIST_BIGINT, /* list<bigint> / list<timestamp> from int64_t[] */
    CQL_VAL_LIST_FLOAT,  /* list<float> from float[] */
    CQL_VAL_LIST_DOUBLE, /* list<double> from double[] */
    CQL_VAL_LIST_BOOLEAN,/* list<boolean> from uint8_t[] (0/1) */
    CQL_VAL_LIST_TEXT,   /* list<text> from const char *[] */
    CQL_VAL_LIST_UUID,   /* list<uuid> from uint8_t[n][16] */
} cql_value_kind;

typedef struct cql_value {
    cql_value_kind kind;
    union {
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
        struct { const void *p; size_t len; } bytes; /* text, blob */
        uint8_t uuid[16];
        struct { const void *items; size_t n; } list;
    } u;
} cql_value;

static inline cql_value cql_null(void) { cql_value v = {.kind = CQL_VAL_NULL}; return v; }
static inline cql_value cql_unset(void) { cql_value v = {.kind = CQL_VAL_UNSET}; return v; }
static inline cql_value cql_int(int32_t x) { cql_value v = {.kind = CQL_VAL_INT, .u.i32 = x}; return v; }
static inline cql_value cql_bigint(int64_t x) { cql_value v = {.kind = CQL_VAL_BIGINT, .u.i64 = x}; return v; }
static inline cql_value cql_float(float x) { cql_value v = {.kind = CQL_VAL_FLOAT, .u.f32 = x}; return v; }
static inline cql_value cql_double(double x) { cql_value v = {.kind = CQL_VAL_DOUBLE, .u.f64 = x}; return v; }
static inline cql_value cql_boolean(int x) { cql_value v = {.kind = CQL_VAL_BOOLEAN, .u.i32 = !!x}; return v; }
static inline cql_value cql_timestamp(int64_t ms) { cql_value v = {.kind = CQL_VAL_TIMESTAMP, .u.i64 = ms}; return v; }
static inline cql_value cql_blob(const void *p, size_t n) { cql_value v = {.kind = CQL_VAL_BLOB, .u.bytes = {p, n}}; return v; }
cql_value cql_text(const char *s); /* NUL-terminated */
cql_value cql_uuid(const uint8_t u[16]);
#define CQL_LIST_CTOR(name, KIND, T) \
    static inline cql_value name(const T *items, size_t n) { \
        cql_value v = {.kind = KIND, .u.list = {items, n}}; return v; }
CQL_LIST_CTOR(cql_list_int_u8, CQL_VAL_LIST_INT_U8, uint8_t)
CQL_LIST_CTOR(cql_list_int, CQL_VAL_LIST_INT, int32_t)
CQL_LIST_CTOR(cql_list_bigint, CQL_VAL_LIST_BIGINT, int64_t)
CQL_LIST_CTOR(cql_list_float, CQL_VAL_LIST_FLOAT, float)
CQL_LIST_CTOR(cql_list_double, CQL_VAL_LIST_DOUBLE, double)
CQL_LIST_CTOR(cql_list_boolean, CQL_VAL_LIST_BOOLEAN, uint8_t)
CQL_LIST_CTOR(cql_list_text, CQL_VAL_LIST_TEXT, char *const)
CQL_LIST_CTOR(cql_list_uuid, CQL_VAL_LIST_UUID, uint8_t)
#undef CQL_LIST_CTOR

/* ---------------------------------------------------- consistency, batches */

typedef enum cql_consistency {
    CQL_ANY = 0x0000,
    CQL_ONE = 0x0001,
    CQL_TWO = 0x0002,
    CQL_THREE = 0x0003,
    CQL_QUORUM = 0x0004,
    CQL_ALL = 0x0005,
    CQL_LOCAL_QUORUM = 0x0006,
    CQL_EACH_QUORUM = 0x0007,
    CQL_SERIAL = 0x0008,
    CQL_LOCAL_SERIAL = 0x0009,
    CQL_LOCAL_ONE = 0x000A,
} cql_consistency;

/* "LOCAL_QUORUM" for CQL_LOCAL_QUORUM ...; "?" for a value not in the enum. */
const char *cql_consistency_name(int level);
/* The level named by name (any case): 0, or -1 when it names none. */
int cql_consistency_parse(const char *name, cql_consistency *out);

typedef enum cql_batch_type { CQL_BATCH_LOGGED = 0, CQL_BATCH_UNLOGGED = 1, CQL_BATCH_COUNTER = 2 } cql_batch_type;

/* ------------------------------------------------------------- errors */

/* A string view into a body (not NUL-terminated). */
typedef struct cql_str { const char *p; size_t len; } cql_str;

/* Server error codes (ERROR responses). */
enum cql_error_code {
    CQL_ERR_SERVER = 0x0000,
    CQL_ERR_PROTOCOL = 0x000A,
    CQL_ERR_BAD_CREDENTIALS = 0x0100,
    CQL_ERR_UNAVAILABLE = 0x1000,
    CQL_ERR_OVERLOADED = 0x1001,
    CQL_ERR_IS_BOOTSTRAPPING = 0x1002,
    CQL_ERR_TRUNCATE = 0x1003,
    CQL_ERR_WRITE_TIMEOUT = 0x1100,
    CQL_ERR_READ_TIMEOUT = 0x1200,
    CQL_ERR_READ_FAILURE = 0x1300,
    CQL_ERR_FUNCTION_FAILURE = 0x1400,
    CQL_ERR_WRITE_FAILURE = 0x1500,
    CQL_ERR_SYNTAX = 0x2000,
    CQL_ERR_UNAUTHORIZED = 0x2100,
    CQL_ERR_INVALID = 0x2200,
    CQL_ERR_CONFIG = 0x2300,
    CQL_ERR_ALREADY_EXISTS = 0x2400,
    CQL_ERR_UNPREPARED = 0x2500,
};
/* Client-side conditions reported through cassnn_err.code (never sent by a
 * server; kept outside the server code space). */
enum cql_client_error {
    CQL_ERR_CLIENT_TIMEOUT = 0x10000, /* the per-request timeout expired */
    CQL_ERR_CONNECTION = 0x10001,     /* socket closed/failed, malformed frame */
    CQL_ERR_NO_HOST = 0x10002,        /* every node is down */
};

/* "SyntaxError", "Unavailable", ... */
const char *cql_error_name(int32_t code);

/* ----------------------------------------------------------- results */

/* [string multimap] as returned by SUPPORTED: key -> list of strings.
 * Owned copy (NUL-terminated strings), freed with cql_multimap_free. */
typedef struct cql_multimap {
    size_t n;
    struct cql_multimap_entry {
        char *key;
        size_t n_values;
        char **values;
    } *entries;
} cql_multimap;

void cql_multimap_free(cql_multimap *m);
/* The values under key (NULL when absent); *n receives their count. */
char *const *cql_multimap_get(const cql_multimap *m, const char *key, size_t *n);

typedef struct cql_column {
    cql_str keyspace, table, name;
    cql_type type;
} cql_column;

/* Result metadata (rows metadata, or the bind/result metadata of PREPARED). */
typedef struct cql_metadata {
    int32_t flags;
    int32_t n_columns;
    cql_column *columns;           /* NULL when the server sent no metadata */
    const uint8_t *paging_state; size_t paging_state_len; /* NULL: last page */
    int32_t n_pk;                  /* prepared bind metadata only */
    uint16_t *pk_indexes;
} cql_metadata;

/* One cell: raw value bytes inside the body; len -1 = null. */
typedef struct cql_cell { const uint8_t *p; int32_t len; } cql_cell;

/* What a RESULT holds (cql_result_kind_of). */
enum cql_result_kind {
    CQL_RESULT_VOID = 1,
    CQL_RESULT_ROWS = 2,
    CQL_RESULT_SET_KEYSPACE = 3,
    CQL_RESULT_PREPARED = 4,
    CQL_RESULT_SCHEMA_CHANGE = 5,
};

/* A decoded RESULT (cql.h has its accessors). Owned by the caller that
 * received it; every view into it stays valid until cql_result_free. */
typedef struct cql_result cql_result;
void cql_result_free(cql_result *r);

/* ----------------------------------------------- typed cell accessors */

/* Each checks the column's type and the cell's length; reading a null cell
 * is an error (test with cql_cell_is_null first when a column may be null). */
int cql_cell_is_null(cql_cell c);
int cql_cell_int(cql_cell c, cql_type t, int32_t *v, cassnn_err *err);
int cql_cell_bigint(cql_cell c, cql_type t, int64_t *v, cassnn_err *err);    /* bigint, counter */
int cql_cell_timestamp(cql_cell c, cql_type t, int64_t *ms, cassnn_err *err);
int cql_cell_float(cql_cell c, cql_type t, float *v, cassnn_err *err);
int cql_cell_double(cql_cell c, cql_type t, double *v, cassnn_err *err);
int cql_cell_boolean(cql_cell c, cql_type t, int *v, cassnn_err *err);
int cql_cell_text(cql_cell c, cql_type t, cql_str *v, cassnn_err *err);      /* text, varchar, ascii */
int cql_cell_blob(cql_cell c, cql_type t, const uint8_t **p, size_t *len, cassnn_err *err);
int cql_cell_uuid(cql_cell c, cql_type t, uint8_t out[16], cassnn_err *err); /* uuid, timeuuid */
/* list<T> / set<T>: number of elements and the i-th element as a cell (whose
 * type is the collection's element type). */
int cql_cell_list_count(cql_cell c, cql_type t, int32_t *n, cassnn_err *err);
int cql_cell_list_items(cql_cell c, cql_type t, cql_cell *items, int32_t n, cassnn_err *err);
/* list<int> straight into arrays: *n receives the element count, which must
 * be <= cap; U8 also checks every element is 0..255. */
int cql_cell_list_int_u8(cql_cell c, cql_type t, uint8_t *out, size_t cap, size_t *n, cassnn_err *err);
int cql_cell_list_int32(cql_cell c, cql_type t, int32_t *out, size_t cap, size_t *n, cassnn_err *err);

/* Formats a cell in cqlsh notation (uuid 8-4-4-4-12, timestamp
 * "2026-11-23 20:30:00.000000+0000", blob 0x..., list [1, 2], null "null"
 * or "" per null_text). Text is copied verbatim. Appends to out. */
void cql_cell_format(cql_cell c, cql_type t, cql_buf *out, const char *null_text);

/* A uuid as text: 8-4-4-4-12 lowercase hex digits, NUL-terminated. */
void cql_uuid_format(const uint8_t u[16], char out[37]);
/* The reverse (hex digits of either case); 0, or -1 when text is anything
 * but exactly one uuid. */
int cql_uuid_parse(const char *text, uint8_t out[16]);

#endif
