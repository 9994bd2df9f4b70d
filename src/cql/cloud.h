/* cloud.h - DataStax Astra's way in, as the DataStax drivers take it
 * (private to src/cql; the public face is cql_config.cloud_bundle):
 *
 *   1. the secure connect bundle (cloud_bundle.c): a zip with config.json
 *      (the metadata service's host and port, optionally a username and
 *      password), ca.crt (the CA every server certificate is signed by),
 *      cert and key (the client certificate, PEM);
 *   2. the metadata service (cloud_metadata.c): GET https://HOST:PORT/metadata
 *      with that client certificate answers JSON whose contact_info gives
 *      the SNI proxy's address ("host:port"), the local data center and the
 *      contact points as host ids;
 *   3. the session then dials every node through the proxy with SNI = its
 *      host id (topology_dial).
 *
 * Every failure names the bundle (or the URL) and what is wrong with it. */
#ifndef CASSNN_CQL_CLOUD_H
#define CASSNN_CQL_CLOUD_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "cassnn/error.h"

typedef struct cql_cloud_bundle {
    char *host;                   /* metadata service (config.json "host", "port") */
    int port;
    char *username, *password;    /* config.json's; NULL when absent */
    char *ca, *cert, *key;        /* PEM text of ca.crt, cert, key (NUL-terminated) */
    size_t ca_len, cert_len, key_len;
} cql_cloud_bundle;

/* Reads the bundle at path (a zip; entries found by name in any folder).
 * Free with cloud_bundle_free, also after a failure. */
int cloud_bundle_read(const char *path, cql_cloud_bundle *b, cassnn_err *err);
/* The same from a zip in memory; `name` only labels errors. */
int cloud_bundle_parse(const void *zip, size_t len, const char *name, cql_cloud_bundle *b, cassnn_err *err);
/* Loads the bundle's CA (peer verification on), client certificate (with
 * its chain) and key into ctx; `name` only labels errors. */
int cloud_bundle_load_tls(const cql_cloud_bundle *b, SSL_CTX *ctx, const char *name, cassnn_err *err);
/* Frees it; the key and password are wiped first. */
void cloud_bundle_free(cql_cloud_bundle *b);

typedef struct cql_cloud_metadata {
    char *proxy_host;             /* contact_info.sni_proxy_address: host ... */
    int proxy_port;               /* ... and port (9042 when it names none) */
    char *local_dc;               /* contact_info.local_dc */
    uint8_t (*host_ids)[16];      /* contact_info.contact_points */
    int n_host_ids;
} cql_cloud_metadata;

/* Parses the metadata service's answer; `url` only labels errors. Free with
 * cloud_metadata_free, also after a failure. */
int cloud_metadata_parse(const char *body, size_t len, const char *url, cql_cloud_metadata *m, cassnn_err *err);
/* Asks the bundle's metadata service (TLS verified against the bundle's CA
 * and the service's host name; the bundle's client certificate), within
 * timeout_ms. */
int cloud_metadata_fetch(const cql_cloud_bundle *b, int timeout_ms, cql_cloud_metadata *m, cassnn_err *err);
void cloud_metadata_free(cql_cloud_metadata *m);

#endif
