/* codec.h - the CQL native protocol v4 as pure code (private to src/cql; the
 * values, types and result accessors callers use are in cassnn/cql_types.h):
 * frames, request encoders, response decoders, result rows. No I/O, no threads:
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

#include "cassnn/cql_types.h"
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

/* ------------------------------------------- protocol buffer writers */

/* Appends to a cql_buf (cql_types.h) in the protocol's encodings. */
void cql_buf_u8(cql_buf *b, uint8_t v);
void cql_buf_u16(cql_buf *b, uint16_t v);
void cql_buf_i32(cql_buf *b, int32_t v);
void cql_buf_i64(cql_buf *b, int64_t v);
void cql_buf_string(cql_buf *b, const char *s);      /* [string]: u16 len */
void cql_buf_long_string(cql_buf *b, const char *s); /* [long string]: i32 len */
void cql_buf_short_bytes(cql_buf *b, const void *p, size_t n);
void cql_buf_bytes(cql_buf *b, const void *p, int32_t n); /* n < 0: null (-1) / unset (-2) */

/* Appends one value as a protocol [value] (length-prefixed). */
void cql_value_encode(cql_buf *b, const cql_value *v);

/* Checks that a value may be bound to a column of type t (used for prepared
 * statements, whose bind types are known). Null and unset fit anything. */
int cql_value_check(const cql_value *v, cql_type t, const char *what, cassnn_err *err);

/* ------------------------------------------------------------- requests */

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

int cql_decode_supported(const uint8_t *body, size_t len, cql_multimap *out, cassnn_err *err);

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


/* A decoded RESULT. It owns `body` (the frame body it was decoded from) so
 * every view into it stays valid until cql_result_free. */
struct cql_result {
    int32_t kind;
    uint8_t *body; size_t body_len;
    cql_metadata meta;             /* ROWS; PREPARED: result metadata */
    int32_t n_rows;
    cql_cell *cells;               /* n_rows * meta.n_columns, row-major */
    cql_str keyspace;              /* SET_KEYSPACE */
    cql_schema_change schema;      /* SCHEMA_CHANGE */
    const uint8_t *prepared_id; size_t prepared_id_len; /* PREPARED */
    cql_metadata bind;             /* PREPARED: bind variables */
};

/* Decodes a RESULT body, taking ownership of body (malloc'd; freed by
 * cql_result_free even on failure). `columns` supplies the metadata when the
 * rows came without it (skip_metadata on EXECUTE); NULL otherwise. */
int cql_decode_result(uint8_t *body, size_t body_len, size_t offset, const cql_metadata *columns,
                      cql_result **out, cassnn_err *err);

/* <change_type><target><options> of a SCHEMA_CHANGE result or event. */
int cql_rd_schema_change(cql_rd *r, cql_schema_change *sc, cassnn_err *err);
#endif
