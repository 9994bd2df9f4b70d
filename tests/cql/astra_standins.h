/* astra_standins.h - test-only stand-ins for the two DataStax Astra services
 * that cannot exist on this machine (see the README's Astra section):
 *
 *   the metadata service  HTTPS (OpenSSL) that requires a client certificate
 *                         from the CAs it is given and answers every request
 *                         with the status and body the test sets;
 *   the SNI proxy         a relay that terminates nothing: it reads the
 *                         ClientHello's server name, checks that it is the
 *                         host id of a node the test registered (a name it
 *                         does not know is refused and reported loudly on
 *                         stderr), then forwards the untouched TLS stream to
 *                         that node in both directions.
 *
 * And astra_write_bundle, which zips a secure connect bundle (libzip).
 * Every thread they start stops within a second of *_stop. */
#ifndef CASSNN_TESTS_CQL_ASTRA_STANDINS_H
#define CASSNN_TESTS_CQL_ASTRA_STANDINS_H

#include <stddef.h>

/* Writes a zip at path with config.json (config_json's text) and the files
 * ca, cert and key under the bundle's names ca.crt, cert and key; a NULL
 * one is left out. 0, or -1 (with a message on stderr). */
int astra_write_bundle(const char *path, const char *config_json, const char *ca, const char *cert, const char *key);

/* The JSON a metadata service answers: contact_info with the SNI proxy at
 * proxy_ip:proxy_port, local_dc and the host ids. */
void astra_metadata_json(char *out, size_t cap, const char *proxy_ip, int proxy_port, const char *local_dc,
                         const char *const *host_ids, int n_ids);

typedef struct astra_metadata_service astra_metadata_service;

/* Listens on ip (a port of its own choosing) with the server certificate
 * cert/key; clients must present a certificate signed by a CA in the PEM
 * file trust. Answers 200 "{}" until told otherwise. NULL on failure. */
astra_metadata_service *astra_metadata_start(const char *ip, const char *cert, const char *key, const char *trust);
int astra_metadata_port(const astra_metadata_service *m);
/* What every later request gets; status 0 = accept the connection and
 * never answer (a service that hangs). */
void astra_metadata_answer(astra_metadata_service *m, int status, const char *body);
/* Requests received (counted before they are answered), and TLS
 * handshakes refused (e.g. no or a foreign client certificate), so far. */
int astra_metadata_requests(astra_metadata_service *m);
int astra_metadata_refused(astra_metadata_service *m);
void astra_metadata_stop(astra_metadata_service *m);

typedef struct sni_relay sni_relay;

/* Listens on ip (a port of its own choosing). NULL on failure. */
sni_relay *sni_relay_start(const char *ip);
int sni_relay_port(const sni_relay *r);
/* Streams whose SNI is host_id go to ip:port. */
void sni_relay_route(sni_relay *r, const char *host_id, const char *ip, int port);
/* Streams forwarded for host_id so far. */
int sni_relay_forwarded(sni_relay *r, const char *host_id);
/* Streams refused so far (an SNI that names no registered host id, or
 * none); the last refused name goes to last (may be NULL). */
int sni_relay_refused(sni_relay *r, char *last, size_t cap);
void sni_relay_stop(sni_relay *r);

#endif
