/* cql_codec.h - the CQL native protocol v4 as pure code: frames, request
 * encoders, response decoders, values and result rows. No I/O, no threads:
 * everything here turns bytes into structs and back, so it is unit-tested
 * with hand-checked byte sequences and fuzzed.
 *
 * Every decoder is bounds-checked: a malformed or truncated input returns -1
 * with a message naming what was being read and at which offset, never reads
 * outside the given buffer. Decoded strings and byte blobs point INTO the
 * decoded body (zero-copy), so they live as long as that body.
 *
 * Spec: apache/cassandra doc/native_protocol_v4.spec.
 */
#ifndef CASSNN_CQL_CODEC_H
#define CASSNN_CQL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"

/* ---------------------------------------------------------------- frames */

#define CQL_VERSION_REQUEST 0x04
#define CQL_VERSION_RESPONSE 0x84
#define CQL_HEADER_SIZE 9
/* The spec caps frame bodies at 256 MB; anything larger is a broken peer. */
#define CQL_MAX_BODY (256u * 1024u * 1024u)

enum cql_frame_flag {
    CQL_FLAG_COMPRESSION = 0x01,
    CQL_FLAG_TRACING = 0x02,
    CQL_FLAG_CUSTOM_PAYLOAD = 0x04,
    CQL_FLAG_WARNING = 0x08,
};

enum cql_opcode {
    CQL_OP_ERROR = 0x00,
    CQL_OP_STARTUP = 0x01,
    CQL_OP_READY = 0x02,
    CQL_OP_AUTHENTICATE = 0x03,
    CQL_OP_OPTIONS = 0x05,
    CQL_OP_SUPPORTED = 0x06,
    CQL_OP_QUERY = 0x07,
    CQL_OP_RESULT = 0x08,
    CQL_OP_PREPARE = 0x09,
    CQL_OP_EXECUTE = 0x0A,
    CQL_OP_REGISTER = 0x0B,
    CQL_OP_EVENT = 0x0C,
    CQL_OP_BATCH = 0x0D,
    CQL_OP_AUTH_CHALLENGE = 0x0E,
    CQL_OP_AUTH_RESPONSE = 0x0F,
    CQL_OP_AUTH_SUCCESS = 0x10,
};

typedef struct cql_frame_header {
    uint8_t version; /* 0x04 request, 0x84 response */
    uint8_t flags;   /* enum cql_frame_flag */
    int16_t stream;  /* request id; -1 = server-pushed EVENT */
    uint8_t opcode;
    uint32_t length; /* body bytes that follow the header */
} cql_frame_header;

/* Writes the 9-byte header. */
void cql_header_encode(const cql_frame_header *h, uint8_t out[CQL_HEADER_SIZE]);
/* Parses a response header; rejects a wrong version, unknown opcode or a
 * body over CQL_MAX_BODY. */
int cql_header_decode(const uint8_t in[CQL_HEADER_SIZE], cql_frame_header *h, cassnn_err *err);

/* ------------------------------------------------------ growable buffer */

/* An append-only byte buffer. Allocation failure is sticky (oom = 1) so an
 * encoder can write many fields and check once at the end. */
typedef struct cql_buf {
    uint8_t *data;
    size_t len, cap;
    int oom;
} cql_buf;

void cql_buf_free(cql_buf *b);
int cql_buf_reserve(cql_buf *b, size_t extra);
void cql_buf_bytes_raw(cql_buf *b, const void *p, size_t n);
void cql_buf_u8(cql_buf *b, uint8_t v);
void cql_buf_u16(cql_buf *b, uint16_t v);
void cql_buf_i32(cql_buf *b, int32_t v);
void cql_buf_i64(cql_buf *b, int64_t v);
void cql_buf_string(cql_buf *b, const char *s);      /* [string]: u16 len */
void cql_buf_long_string(cql_buf *b, const char *s); /* [long string]: i32 len */
void cql_buf_short_bytes(cql_buf *b, const void *p, size_t n);
void cql_buf_bytes(cql_buf *b, const void *p, int32_t n); /* n < 0: null (-1) / unset (-2) */

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

/* Appends one value as a protocol [value] (length-prefixed). */
void cql_value_encode(cql_buf *b, const cql_value *v);

/* Checks that a value may be bound to a column of type t (used for prepared
 * statements, whose bind types are known). Null and unset fit anything. */
int cql_value_check(const cql_value *v, cql_type t, const char *what, cassnn_err *err);

/* ------------------------------------------------------------- requests */

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

/* The <query_parameters> shared by QUERY and EXECUTE. */
typedef struct cql_query_params {
    cql_consistency consistency;
    int serial_consistency; /* 0 = not sent; else CQL_SERIAL / CQL_LOCAL_SERIAL */
    int32_t page_size;      /* <= 0: not sent (server returns everything) */
    const uint8_t *paging_state; size_t paging_state_len; /* NULL: first page */
    int skip_metadata;      /* EXECUTE only: rows come without metadata */
    int64_t timestamp;      /* 0 = not sent (server time) */
} cql_query_params;

/* Each encoder appends a whole frame (header + body) to out. Values that were
 * encoded in advance (cql_value_encode into a cql_buf, n_values of them) are
 * passed as one pre-encoded blob so pages of one query reuse them. */
void cql_encode_startup(cql_buf *out, int16_t stream, const char *compression /* NULL or "lz4" */);
void cql_encode_options(cql_buf *out, int16_t stream);
void cql_encode_query(cql_buf *out, int16_t stream, const char *query, const uint8_t *values,
                      size_t values_len, uint16_t n_values, const cql_query_params *p);
void cql_encode_prepare(cql_buf *out, int16_t stream, const char *query);
void cql_encode_execute(cql_buf *out, int16_t stream, const uint8_t *id, size_t id_len,
                        const uint8_t *values, size_t values_len, uint16_t n_values,
                        const cql_query_params *p);
void cql_encode_register(cql_buf *out, int16_t stream, const char *const *events, size_t n);
void cql_encode_auth_response(cql_buf *out, int16_t stream, const void *token, size_t len);

typedef enum cql_batch_type { CQL_BATCH_LOGGED = 0, CQL_BATCH_UNLOGGED = 1, CQL_BATCH_COUNTER = 2 } cql_batch_type;

/* One statement of a batch: a query string OR a prepared id, and its values
 * pre-encoded as for cql_encode_query. */
typedef struct cql_batch_entry {
    const char *query;                   /* NULL when id is set */
    const uint8_t *id; size_t id_len;
    const uint8_t *values; size_t values_len; uint16_t n_values;
} cql_batch_entry;

void cql_encode_batch(cql_buf *out, int16_t stream, cql_batch_type type,
                      const cql_batch_entry *entries, uint16_t n, const cql_query_params *p);

/* Compresses a whole frame in place as the v4 LZ4 body: a 4-byte big-endian
 * uncompressed length then one raw LZ4 block; sets the compression flag. */
int cql_frame_compress_lz4(cql_buf *frame, size_t frame_start, cassnn_err *err);
/* Decompresses a v4 LZ4 body into out (replacing its contents). */
int cql_body_decompress_lz4(const uint8_t *body, size_t len, cql_buf *out, cassnn_err *err);

/* ------------------------------------------------------------ responses */

/* Bounds-checked cursor over a response body. */
typedef struct cql_rd {
    const uint8_t *p;
    size_t len, pos;
} cql_rd;

int cql_rd_u8(cql_rd *r, uint8_t *v, cassnn_err *err);
int cql_rd_u16(cql_rd *r, uint16_t *v, cassnn_err *err);
int cql_rd_i32(cql_rd *r, int32_t *v, cassnn_err *err);
int cql_rd_string(cql_rd *r, const char **s, size_t *len, cassnn_err *err);
int cql_rd_short_bytes(cql_rd *r, const uint8_t **p, size_t *len, cassnn_err *err);
/* [bytes]: *len = -1 for null. */
int cql_rd_bytes(cql_rd *r, const uint8_t **p, int32_t *len, cassnn_err *err);

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

typedef struct cql_error {
    int32_t code;
    cql_str message;
    /* Extra fields, set according to code (zero otherwise). */
    uint16_t consistency;
    int32_t received, block_for, alive, required, num_failures;
    uint8_t data_present;
    cql_str write_type;           /* WriteTimeout / WriteFailure */
    cql_str keyspace, table;      /* AlreadyExists; FunctionFailure keyspace + function */
    const uint8_t *unprepared_id; size_t unprepared_id_len; /* Unprepared */
} cql_error;

/* Decodes an ERROR body. */
int cql_decode_error(const uint8_t *body, size_t len, cql_error *e, cassnn_err *err);
/* Sets err to "<Name> (0x2000): <server message>" with err->code = the code. */
int cql_error_to_err(const cql_error *e, cassnn_err *err);

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

int cql_decode_supported(const uint8_t *body, size_t len, cql_multimap *out, cassnn_err *err);
void cql_multimap_free(cql_multimap *m);
/* The values under key (NULL when absent); *n receives their count. */
char *const *cql_multimap_get(const cql_multimap *m, const char *key, size_t *n);

/* AUTHENTICATE: the authenticator class name. */
int cql_decode_authenticate(const uint8_t *body, size_t len, cql_str *authenticator, cassnn_err *err);
/* AUTH_CHALLENGE / AUTH_SUCCESS: the token ([bytes], len -1 = null). */
int cql_decode_auth_token(const uint8_t *body, size_t len, const uint8_t **token, int32_t *token_len,
                          cassnn_err *err);

/* Skips the tracing id, warnings and custom payload a response may carry
 * before its body proper (per the header flags); *warnings counts warnings. */
int cql_skip_response_prefix(uint8_t flags, const uint8_t *body, size_t len, size_t *offset,
                             size_t *warnings, cassnn_err *err);

/* --------------------------------------------------------------- events */

typedef struct cql_inet { uint8_t addr[16]; uint8_t addr_len; int32_t port; } cql_inet;

typedef struct cql_schema_change {
    cql_str change;  /* CREATED / UPDATED / DROPPED */
    cql_str target;  /* KEYSPACE / TABLE / TYPE / FUNCTION / AGGREGATE */
    cql_str keyspace, name; /* name empty for KEYSPACE */
} cql_schema_change;

typedef struct cql_event {
    cql_str type;    /* TOPOLOGY_CHANGE / STATUS_CHANGE / SCHEMA_CHANGE */
    cql_str change;  /* NEW_NODE, UP, DOWN, ... (topology/status) */
    cql_inet node;
    cql_schema_change schema;
} cql_event;

int cql_decode_event(const uint8_t *body, size_t len, cql_event *ev, cassnn_err *err);

/* -------------------------------------------------------------- results */

enum cql_result_kind {
    CQL_RESULT_VOID = 1,
    CQL_RESULT_ROWS = 2,
    CQL_RESULT_SET_KEYSPACE = 3,
    CQL_RESULT_PREPARED = 4,
    CQL_RESULT_SCHEMA_CHANGE = 5,
};

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

/* A decoded RESULT. It owns `body` (the frame body it was decoded from) so
 * every view into it stays valid until cql_result_free. */
typedef struct cql_result {
    int32_t kind;
    uint8_t *body; size_t body_len;
    cql_metadata meta;             /* ROWS; PREPARED: result metadata */
    int32_t n_rows;
    cql_cell *cells;               /* n_rows * meta.n_columns, row-major */
    cql_str keyspace;              /* SET_KEYSPACE */
    cql_schema_change schema;      /* SCHEMA_CHANGE */
    const uint8_t *prepared_id; size_t prepared_id_len; /* PREPARED */
    cql_metadata bind;             /* PREPARED: bind variables */
} cql_result;

/* Decodes a RESULT body, taking ownership of body (malloc'd; freed by
 * cql_result_free even on failure). `columns` supplies the metadata when the
 * rows came without it (skip_metadata on EXECUTE); NULL otherwise. */
int cql_decode_result(uint8_t *body, size_t body_len, size_t offset, const cql_metadata *columns,
                      cql_result **out, cassnn_err *err);
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

#endif
