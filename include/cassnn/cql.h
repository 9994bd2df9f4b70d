/* cql.h - cassnn's Cassandra client (CQL native protocol v4).
 *
 * Layers, like the DataStax C driver (src/cql/, one file per concern):
 *   codec         frames, values, results: pure code, no I/O (the values,
 *                 types and result accessors callers use: cql_types.h)
 *   connection    one socket, many requests in flight by stream id, one
 *                 reader thread that completes them
 *   pool          each node's connections and up/down state
 *   topology      the nodes (address, DC, rack, host_id, tokens) and the ring
 *   routing       which nodes a request goes to: a pure function
 *   retry         whether to send a failed request again: a pure function
 *   session       this header: ties them together, with the prepared
 *                 statement cache, paging, schema agreement and events
 *
 * Typical use:
 *
 *   cql_config cfg; cql_config_init(&cfg);          // 127.0.0.1:9042
 *   cql_session *s; if (cql_session_open(&s, &cfg, &err)) ...
 *   const cql_prepared *ins;
 *   cql_prepare(s, "INSERT INTO ks.t (id, pixels) VALUES (?, ?)", &ins, &err);
 *   cql_value v[2] = {cql_int(7), cql_list_int_u8(pixels, 784)};
 *   cql_statement st = cql_stmt_prepared(ins, v, 2);
 *   cql_execute(s, &st, NULL, &err);                // or cql_execute_async
 *
 * Threads: every function may be called from any thread. Callbacks run on a
 * connection's reader thread or on the session's worker thread and must not
 * block (no synchronous cql calls in a callback). Errors: a server ERROR sets
 * err->code to its protocol code (CQL_ERR_SYNTAX ...) and err->msg to
 * "<Name> (0x....): <server message>"; client-side failures use
 * CQL_ERR_CLIENT_TIMEOUT / CQL_ERR_CONNECTION / CQL_ERR_NO_HOST.
 *
 * Who retries what: the session, and only the session. A request that
 * found no node up waits for one (up to retry_budget_ms); one a node could
 * not serve (Unavailable, Overloaded, IsBootstrapping, Read/WriteTimeout,
 * ServerError) or whose connection broke is sent again to the same or the
 * next node when that is safe (reads; writes marked idempotent), at most
 * `retries` times and within the budget (src/cql/retry.c has the rules).
 * Callers do not loop around the session: an error from it is final for
 * that request. What the session cannot do is theirs: re-reading a token
 * range from its start when a page of it failed after rows were handed
 * over, or keeping a row that could not be written (a spool).
 */
#ifndef CASSNN_CQL_H
#define CASSNN_CQL_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/cql_types.h"
#include "cassnn/error.h"

/* ------------------------------------------------------------- session */

/* A change the cluster pushed to the session (see cql_config.on_event). */
typedef struct cql_cluster_event {
    const char *type;     /* "STATUS_CHANGE", "TOPOLOGY_CHANGE" or "SCHEMA_CHANGE" */
    const char *change;   /* UP / DOWN; NEW_NODE / REMOVED_NODE / MOVED_NODE;
                             CREATED / UPDATED / DROPPED */
    const char *address;  /* the node a status/topology change is about, else "" */
    const char *keyspace; /* schema changes: the keyspace, else "" */
    const char *name;     /* schema changes: the table/type/function, else "" */
} cql_cluster_event;

typedef struct cql_config {
    const char *contact_points; /* comma-separated hosts; default "127.0.0.1" */
    int port;                   /* default 9042 */
    const char *keyspace;       /* USE'd on every connection; NULL = none */
    const char *username;       /* PasswordAuthenticator (SASL PLAIN); NULL = no auth */
    const char *password;
    int compression;            /* 1 = ask the node for LZ4 body compression */
    int connections_per_host;   /* default 2 */
    int max_inflight;           /* backpressure: submitting blocks beyond this many
                                   requests in flight session-wide; default 256 */
    int connect_timeout_ms;     /* default 5000 */
    int request_timeout_ms;     /* default 12000; a statement can override it */
    int consistency;            /* a cql_consistency; CQL_DEFAULT (the default): LOCAL_ONE, or
                                   LOCAL_QUORUM with a cloud_bundle, as the DataStax drivers
                                   choose for Astra (which refuses writes at ONE/LOCAL_ONE) */
    int32_t page_size;          /* default 5000 rows per page */
    int discover_peers;         /* 1 (default): connect to every node in system.peers_v2 */
    int token_aware;            /* 1 (default): send prepared statements to a replica */
    int retries;                /* retries after a node answered it could not (timeouts,
                                   overload, unavailable) or a connection broke (default 5) */
    int retry_budget_ms;        /* every retry starts within this time of the request's first
                                   attempt (default 30000): a request that finds no node up
                                   waits this long for one (a node restarting); 0 = no retries */
    const char *local_dc;       /* data center whose nodes serve requests; NULL = the DC of
                                   the first contact point that answers */
    int allow_remote_dcs;       /* 1: when no node of the local DC is up, use other DCs'
                                   (default 0) */
    /* TLS (OpenSSL). tls = 1 enables it; the node's certificate is verified
     * against tls_ca_file (or the system store when NULL) unless
     * tls_no_verify; tls_cert_file/tls_key_file give a client certificate;
     * tls_sni the server name to send and verify (default: the host). */
    int tls;
    int tls_no_verify;
    const char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_sni;
    /* DataStax Astra: the path of the database's secure connect bundle (the
     * zip with config.json, ca.crt, cert and key), as the DataStax drivers
     * take it. The session reads it, asks the bundle's metadata service
     * (HTTPS, https://HOST:PORT/metadata from config.json, with the bundle's
     * client certificate) for the SNI proxy's address, the local data center
     * and the contact points (host ids), and connects every connection
     * through that proxy with TLS whose server name (SNI) is the target
     * node's host_id, so that token-aware routing still reaches each replica.
     * Every certificate must be signed by the bundle's CA; the proxy's must
     * name the proxy's host. contact_points, port and the tls* fields are
     * then ignored; local_dc, when set, wins over the metadata's; the
     * default consistency is LOCAL_QUORUM (see consistency); a NULL
     * username/password falls back to config.json's (older bundles carry
     * them). Astra's credentials: a client id and secret, or the username
     * "token" and an "AstraCS:..." token as the password. The metadata
     * request is bounded by connect_timeout_ms. NULL = no bundle. */
    const char *cloud_bundle;
    /* Cluster events. With events = 1 (default) the session keeps one extra
     * connection REGISTERed for status, topology and schema events: a node
     * reported DOWN or removed is marked down at once (no request is sent
     * to it), one reported UP may be reconnected at once. on_event, when
     * set, is told every event after that; it runs on a reader thread and
     * must not block. */
    int events;
    void (*on_event)(void *user, const cql_cluster_event *ev);
    void *event_user;
} cql_config;

typedef struct cql_session cql_session;

/* Fills every field with its default. */
void cql_config_init(cql_config *cfg);

/* Connects to the contact points (and, when discover_peers, every other node
 * of the cluster), runs STARTUP/auth/USE on each connection. Fails when no
 * node can be reached. */
int cql_session_open(cql_session **out, const cql_config *cfg, cassnn_err *err);

/* Waits for in-flight requests, then closes every connection. NULL is ok. */
void cql_session_close(cql_session *s);

/* The consistency of statements that leave theirs at CQL_DEFAULT, for the
 * requests submitted from now on (cfg.consistency until then): a front end
 * decides it once it knows the keyspace's replication (conn.h). */
void cql_session_set_consistency(cql_session *s, cql_consistency level);
cql_consistency cql_session_consistency(cql_session *s);

/* OPTIONS: the node's SUPPORTED multimap (CQL_VERSION, COMPRESSION,
 * PROTOCOL_VERSIONS, ...). Free with cql_multimap_free. */
int cql_options(cql_session *s, cql_multimap *out, cassnn_err *err);

/* ------------------------------------------------------- statements */

typedef struct cql_prepared cql_prepared; /* owned by the session's cache */

typedef struct cql_statement {
    const char *query;             /* a simple statement, or ... */
    const cql_prepared *prepared;  /* ... a prepared one (query ignored) */
    const cql_value *values;       /* bound to the ?s; copied when submitted */
    size_t n_values;
    int consistency;               /* cql_consistency, or CQL_DEFAULT for the session's */
    int serial_consistency;        /* 0, CQL_SERIAL or CQL_LOCAL_SERIAL (LWT) */
    int32_t page_size;             /* 0: session default; -1: no paging */
    const uint8_t *paging_state;   /* resume after this page (see cql_result_paging_state) */
    size_t paging_state_len;
    int timeout_ms;                /* 0: session default */
    int idempotent;                /* 1: may be retried on another node on failure */
    int64_t timestamp;             /* microseconds; 0 = the node's clock */
} cql_statement;

#define CQL_DEFAULT (-1)

/* Statement constructors with every option at its default. */
cql_statement cql_stmt(const char *query, const cql_value *values, size_t n_values);
cql_statement cql_stmt_prepared(const cql_prepared *p, const cql_value *values, size_t n_values);

/* Prepares query once per session (cached by its text; later calls return
 * the cached statement). The node re-prepares transparently when it forgot
 * the statement (UNPREPARED). The pointer stays valid until session close. */
int cql_prepare(cql_session *s, const char *query, const cql_prepared **out, cassnn_err *err);
/* Bind variables of a prepared statement (count and types). */
const cql_metadata *cql_prepared_params(const cql_prepared *p);

/* Runs a statement and waits for its result (one page). *out may be NULL when
 * the caller does not want the result; otherwise free it with
 * cql_result_free. A DDL statement (SCHEMA_CHANGE result) also waits for
 * schema agreement across the nodes before returning. */
int cql_execute(cql_session *s, const cql_statement *st, cql_result **out, cassnn_err *err);

/* Shorthand: a simple statement with the session defaults. */
int cql_query(cql_session *s, const char *query, const cql_value *values, size_t n_values, cql_result **out,
              cassnn_err *err);

/* ----------------------------------------------------------- async */

typedef struct cql_future cql_future;

/* Completion callback: exactly one of result (owned by the callee: free it)
 * and err is non-NULL. Runs on a reader thread: must not block. */
typedef void (*cql_callback)(void *user, cql_result *result, const cassnn_err *err);

/* Submits without waiting for the answer. Blocks only while max_inflight
 * requests are in flight (backpressure). NULL (with err set) when the
 * request could not be sent. */
cql_future *cql_execute_async(cql_session *s, const cql_statement *st, cassnn_err *err);
/* Waits for the result and frees the future (exactly once per future). */
int cql_future_wait(cql_future *f, cql_result **out, cassnn_err *err);
/* Same as cql_execute_async but completes through a callback. */
int cql_execute_cb(cql_session *s, const cql_statement *st, cql_callback cb, void *user, cassnn_err *err);
/* Waits until no request submitted through this session is in flight. */
void cql_session_drain(cql_session *s);

/* -------------------------------------------------------------- batch */

/* Runs statements as one BATCH (logged, unlogged or counter). Consistency,
 * timeout and idempotence come from stmts[0]. */
int cql_batch(cql_session *s, cql_batch_type type, const cql_statement *stmts, size_t n, cassnn_err *err);

/* ------------------------------------------------------------- paging */

typedef struct cql_pager cql_pager;

/* Iterates every page of a statement's result. The next page is requested
 * as soon as the current one arrives, so the caller's processing overlaps
 * the node's work. */
int cql_pager_open(cql_session *s, const cql_statement *st, cql_pager **out, cassnn_err *err);
/* 1 with *page set (valid until the next call), 0 after the last page, -1 on
 * error. */
int cql_pager_next(cql_pager *pg, const cql_result **page, cassnn_err *err);
void cql_pager_close(cql_pager *pg);

/* ------------------------------------------------------------ schema */

/* Polls until every node that is up reports the same schema_version in its
 * own system.local (a node known down is not waited for); fails after
 * timeout_ms with each node's state and schema version in the message. */
int cql_wait_schema_agreement(cql_session *s, int timeout_ms, cassnn_err *err);

/* The replication factor of keyspace in the local data center (SimpleStrategy:
 * its factor; NetworkTopologyStrategy: the local DC's, 0 when it has none).
 * Fails when the keyspace does not exist. */
int cql_keyspace_local_rf(cql_session *s, const char *keyspace, int *rf, cassnn_err *err);

/* ------------------------------------------------------------- nodes */

/* Number of nodes known / currently considered up. The node list is fixed
 * when the session opens: indexes 0..n-1 stay valid until close. */
int cql_session_hosts(cql_session *s, int *up);

/* The nodes a request for token is tried on now, in order (at most max
 * indexes into the node list; returns how many): the token's replicas for
 * keyspace's replication (NULL: every node, ring order) in the local DC,
 * then the other local nodes, then other DCs' when allowed; down nodes are
 * left out. */
int cql_session_route(cql_session *s, const char *keyspace, int64_t token, int *hosts, int max);
const char *cql_session_host_name(cql_session *s, int i);

/* What the session knows of node i and sent it. Strings are the session's
 * (valid until close). */
typedef struct cql_host_stats {
    const char *address;
    int port;
    const char *dc, *rack;        /* "" when unknown */
    uint8_t host_id[16];
    int has_host_id;
    int up;
    uint64_t requests;            /* requests sent to it (retries included) */
    uint64_t retries;             /* of which retries */
    uint64_t errors;              /* attempts on it that failed: error answer, timeout, broken connection */
} cql_host_stats;

/* 0, or -1 when i is not a node index. */
int cql_session_host_stats(cql_session *s, int i, cql_host_stats *out);
/* Retries sent so far, all nodes. */
uint64_t cql_session_retries(cql_session *s);

/* ------------------------------------------------------------ results */

/* What r holds: CQL_RESULT_ROWS, CQL_RESULT_SCHEMA_CHANGE (a DDL
 * statement) ... (enum cql_result_kind); 0 for NULL. */
int cql_result_kind_of(const cql_result *r);
/* Row and column counts, column lookup by name (-1 when absent). */
int32_t cql_result_row_count(const cql_result *r);
int32_t cql_result_column_count(const cql_result *r);
const cql_column *cql_result_column(const cql_result *r, int32_t col);
int32_t cql_result_column_index(const cql_result *r, const char *name);
/* The raw cell (len -1 = null); row/col out of range give a null cell. */
cql_cell cql_result_cell(const cql_result *r, int32_t row, int32_t col);
/* Paging state of this page; NULL when it was the last page. */
const uint8_t *cql_result_paging_state(const cql_result *r, size_t *len);

/* Typed getters: check row/col range, the column's type and null-ness. */
int cql_get_int(const cql_result *r, int32_t row, int32_t col, int32_t *v, cassnn_err *err);
int cql_get_bigint(const cql_result *r, int32_t row, int32_t col, int64_t *v, cassnn_err *err);
int cql_get_timestamp(const cql_result *r, int32_t row, int32_t col, int64_t *ms, cassnn_err *err);
int cql_get_float(const cql_result *r, int32_t row, int32_t col, float *v, cassnn_err *err);
int cql_get_double(const cql_result *r, int32_t row, int32_t col, double *v, cassnn_err *err);
int cql_get_boolean(const cql_result *r, int32_t row, int32_t col, int *v, cassnn_err *err);
int cql_get_text(const cql_result *r, int32_t row, int32_t col, cql_str *v, cassnn_err *err);
int cql_get_blob(const cql_result *r, int32_t row, int32_t col, const uint8_t **p, size_t *len, cassnn_err *err);
int cql_get_uuid(const cql_result *r, int32_t row, int32_t col, uint8_t out[16], cassnn_err *err);
/* list<int> straight into a caller array (see cql_cell_list_int_u8). */
int cql_get_list_int_u8(const cql_result *r, int32_t row, int32_t col, uint8_t *out, size_t cap, size_t *n,
                        cassnn_err *err);
int cql_get_list_int32(const cql_result *r, int32_t row, int32_t col, int32_t *out, size_t cap, size_t *n,
                       cassnn_err *err);

/* --------------------------------------------------------------- misc */

/* Cassandra's Murmur3Partitioner token of a partition key (serialized value
 * bytes, e.g. 4 big-endian bytes for an int key). */
int64_t cql_murmur3_token(const uint8_t *key, size_t len);

#endif
