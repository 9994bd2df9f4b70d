/* conn.h - what a front end (the cassnn program, a model server, a program
 * embedding libcassnn) says about the cluster it talks to, and opening a
 * session from it.
 *
 * One options type for every front end, so that each one reaches the same
 * clusters the same way: several contact points, a port, a login (from a
 * credentials file, from the environment or from the embedder's memory -
 * never from a command line, which every user of the machine can read), TLS
 * with a CA, a client certificate and a server name, LZ4 and a request
 * timeout - or, for DataStax Astra, a secure connect bundle in place of the
 * contact points, port and TLS. The options are turned into a cql_config
 * (cql.h) at open.
 *
 * Ownership: the options hold the contact points themselves (a fixed
 * buffer) and borrow every other string, which must outlive conn_open.
 * Nothing here needs freeing. Threads: plain data; conn_options_from_env
 * reads the environment (not thread-safe against setenv).
 */
#ifndef CASSNN_CONN_H
#define CASSNN_CONN_H

#include "cassnn/cql.h"
#include "cassnn/error.h"

typedef struct conn_options {
    char hosts[1024];             /* contact points, comma-separated; "" = 127.0.0.1 */
    int port;                     /* 0 = 9042 */
    const char *credentials_file; /* lines username=... and password=... (# comments) */
    const char *username;         /* a login in memory, when no credentials_file */
    const char *password;
    int tls;                      /* 1: TLS (also implied by tls_ca_file or tls_cert_file) */
    int tls_no_verify;            /* 1: do not verify the node's certificate (testing only) */
    const char *tls_ca_file, *tls_cert_file, *tls_key_file, *tls_sni;
    /* DataStax Astra: the database's secure connect bundle (the zip its
     * console downloads). Where to connect, TLS and the local data center
     * come from the bundle and its metadata service (cql_config.cloud_bundle),
     * so hosts, port and the tls* fields must stay unset; the login is
     * Astra's client id and secret, or "token" and an "AstraCS:..." token. */
    const char *cloud_bundle;
    int lz4;                      /* 1: ask for LZ4 frame compression */
    int request_timeout_ms;       /* 0 = the session's default (cql_config) */
    int consistency;              /* a cql_consistency, or CQL_DEFAULT: decided from the
                                     keyspace's replication (conn_use_consistency) */
    const char *local_dc;         /* data center whose nodes serve requests (NULL: the
                                     first contact point's) */
    int allow_remote_dcs;         /* 1: other DCs' nodes when none of the local DC is up */
} conn_options;

/* Every field at its default: 127.0.0.1:9042, no login, no TLS, the
 * consistency decided per keyspace. */
void conn_options_init(conn_options *o);

/* Appends the comma-separated contact points in list ("h1,h2"); each must
 * be a non-empty name without spaces. Fails when the list would not fit. */
int conn_add_hosts(conn_options *o, const char *list, cassnn_err *err);

/* A port number "1".."65535" (the whole string). */
int conn_parse_port(const char *text, int *port, cassnn_err *err);

/* Fails when o names a secure connect bundle together with contact points,
 * a port or TLS settings (the bundle decides those: a mix is a mistake). */
int conn_options_check(const conn_options *o, cassnn_err *err);

/* Fills what the caller left unset from the environment:
 *   CASSNN_HOST (contact points), CASSNN_PORT (checked like --port) -
 *   neither with a secure connect bundle, which says where to connect -,
 *   CASSNN_CREDENTIALS (a credentials file), else CASSNN_USERNAME together
 *   with CASSNN_PASSWORD.
 * Fails on a bad CASSNN_PORT or a CASSNN_USERNAME without CASSNN_PASSWORD. */
int conn_options_from_env(conn_options *o, cassnn_err *err);

/* Opens a session with o (NULL: the defaults; checked as
 * conn_options_check), USE'ing keyspace when not
 * NULL, with at most max_inflight requests in flight (<= 0: the session's
 * default). Reads the credentials file here and wipes what it read once the
 * session holds its own copy (it logs in again on every new connection).
 * The caller closes *out with cql_session_close. */
int conn_open(const conn_options *o, const char *keyspace, int max_inflight, cql_session **out,
              cassnn_err *err);

/* The consistency cassnn uses when none is given, for a keyspace whose
 * replication factor in the local data center is rf: LOCAL_QUORUM when
 * rf > 1 - a read then sees every row a write acknowledged, even with one
 * replica down (at LOCAL_ONE a read served by a replica that missed writes
 * while it was down silently returns fewer rows); LOCAL_ONE when rf <= 1,
 * where a quorum is the one replica anyway. */
cql_consistency conn_default_consistency(int rf);

/* Decides the consistency for work on keyspace and makes it the session's
 * default (cql_session_set_consistency): o->consistency when given, else
 * conn_default_consistency of keyspace's local replication factor (NULL
 * keyspace: LOCAL_ONE). *rf gets that factor (0 when not looked up). Fails
 * when keyspace does not exist. */
int conn_use_consistency(cql_session *s, const conn_options *o, const char *keyspace, int *rf,
                         cassnn_err *err);

#endif
