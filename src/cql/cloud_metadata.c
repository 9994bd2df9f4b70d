/* cloud_metadata.c - asking a bundle's metadata service where the cluster
 * is (see cloud.h): one HTTPS GET through libcurl with the bundle's CA and
 * client certificate from memory, its JSON answer read with jansson. */
#include "cql/cloud.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/cql_types.h"
#include "util/curl_global.h"

/* The answer lists a few dozen host ids at most. */
#define ANSWER_MAX (1 << 20)
#define DEFAULT_PROXY_PORT 9042 /* what the Python driver assumes when the address has none */

/* ------------------------------------------------------------- parsing */

/* "host:port" or "[v6]:port" (port optional) into m. */
static int parse_proxy(const char *text, const char *url, cql_cloud_metadata *m, cassnn_err *err) {
    const char *colon = strrchr(text, ':'), *host = text, *host_end;
    if (text[0] == '[') { /* an IPv6 literal */
        host = text + 1;
        host_end = strchr(host, ']');
        if (!host_end || (host_end[1] && host_end[1] != ':')) host_end = NULL;
        colon = host_end && host_end[1] ? host_end + 1 : NULL;
    } else {
        host_end = colon ? colon : text + strlen(text);
    }
    long port = DEFAULT_PROXY_PORT;
    char *end = NULL;
    if (colon) port = strtol(colon + 1, &end, 10);
    if (!host_end || host_end == host || (colon && (end == colon + 1 || *end)) || port < 1 || port > 65535)
        return cassnn_err_set(err, "cql cloud: %s: contact_info.sni_proxy_address '%s' is not host:port", url, text);
    m->proxy_host = strndup(host, (size_t)(host_end - host));
    m->proxy_port = (int)port;
    return m->proxy_host ? 0 : cassnn_err_set(err, "cql cloud: out of memory");
}

static int parse_contact_points(json_t *list, const char *url, cql_cloud_metadata *m, cassnn_err *err) {
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0)
        return cassnn_err_set(err, "cql cloud: %s: no contact_info.contact_points (a list of host ids)", url);
    if (!(m->host_ids = calloc(n, sizeof *m->host_ids))) return cassnn_err_set(err, "cql cloud: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(list, i));
        if (!id || cql_uuid_parse(id, m->host_ids[i]))
            return cassnn_err_set(err, "cql cloud: %s: contact_info.contact_points[%zu] is not a host id (a uuid)",
                                  url, i);
        m->n_host_ids++;
    }
    return 0;
}

int cloud_metadata_parse(const char *body, size_t len, const char *url, cql_cloud_metadata *m, cassnn_err *err) {
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) return cassnn_err_set(err, "cql cloud: %s answered what is not JSON (line %d: %s)", url, je.line, je.text);
    json_t *info = json_object_get(root, "contact_info");
    const char *dc = json_string_value(json_object_get(info, "local_dc")),
               *proxy = json_string_value(json_object_get(info, "sni_proxy_address"));
    int rc = 0;
    if (!json_is_object(info)) rc = cassnn_err_set(err, "cql cloud: %s: the answer has no contact_info object", url);
    else if (!dc || !*dc) rc = cassnn_err_set(err, "cql cloud: %s: no contact_info.local_dc (a string)", url);
    else if (!proxy || !*proxy)
        rc = cassnn_err_set(err, "cql cloud: %s: no contact_info.sni_proxy_address (a \"host:port\" string)", url);
    else if (!(m->local_dc = strdup(dc))) rc = cassnn_err_set(err, "cql cloud: out of memory");
    else rc = parse_proxy(proxy, url, m, err) || parse_contact_points(json_object_get(info, "contact_points"), url, m, err);
    json_decref(root);
    return rc ? -1 : 0;
}

void cloud_metadata_free(cql_cloud_metadata *m) {
    free(m->proxy_host);
    free(m->local_dc);
    free(m->host_ids);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------ fetching */

typedef struct answer {
    char *data;
    size_t len;
    int too_big;
} answer;

static size_t on_data(char *p, size_t size, size_t n, void *user) {
    answer *a = user;
    size_t add = size * n;
    if (a->len + add > ANSWER_MAX) {
        a->too_big = 1;
        return 0; /* aborts the transfer */
    }
    char *grown = realloc(a->data, a->len + add + 1);
    if (!grown) return 0;
    memcpy(grown + a->len, p, add);
    a->data = grown;
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

/* An error answer's reason: its JSON "message" (Astra's services send one),
 * else the start of the body, printable characters only. */
static void answer_reason(const answer *a, char *out, size_t cap) {
    json_t *root = a->len ? json_loadb(a->data, a->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(root, "message"));
    size_t k = 0;
    for (const char *p = msg ? msg : a->data ? a->data : ""; *p && k + 1 < cap && k < 200; p++)
        out[k++] = *p >= 32 && *p < 127 ? *p : ' ';
    out[k] = '\0';
    json_decref(root);
}

int cloud_metadata_fetch(const cql_cloud_bundle *b, int timeout_ms, cql_cloud_metadata *m, cassnn_err *err) {
    memset(m, 0, sizeof *m);
    char url[400];
    snprintf(url, sizeof url, strchr(b->host, ':') ? "https://[%s]:%d/metadata" : "https://%s:%d/metadata", b->host,
             b->port);
    if (cassnn_curl_global(err)) return -1;
    CURL *curl = curl_easy_init();
    if (!curl) return cassnn_err_set(err, "cql cloud: %s: cannot start libcurl", url);
    struct curl_blob ca = {b->ca, b->ca_len, CURL_BLOB_NOCOPY}, cert = {b->cert, b->cert_len, CURL_BLOB_NOCOPY},
                     key = {b->key, b->key_len, CURL_BLOB_NOCOPY};
    answer a = {0};
    char reason[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca); /* the bundle's CA only, not the system's */
    curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 5000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, reason);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    int out;
    if (a.too_big) out = cassnn_err_set(err, "cql cloud: %s answered more than %d bytes", url, ANSWER_MAX);
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_RESOLVE_HOST)
        out = cassnn_err_set(err, "cql cloud: the metadata service %s did not answer: %s", url,
                             reason[0] ? reason : curl_easy_strerror(rc));
    else if (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
        /* TLS 1.3: a refused client certificate shows after the handshake */
        out = cassnn_err_set(err, "cql cloud: the metadata service %s ended the connection before answering (%s): "
                                  "does it accept the bundle's client certificate?",
                             url, reason[0] ? reason : curl_easy_strerror(rc));
    else if (rc != CURLE_OK)
        out = cassnn_err_set(err, "cql cloud: the metadata service %s: %s", url, reason[0] ? reason : curl_easy_strerror(rc));
    else if (status != 200) {
        char why[256];
        answer_reason(&a, why, sizeof why);
        out = cassnn_err_set(err, "cql cloud: the metadata service %s answered HTTP %ld: %s", url, status,
                             why[0] ? why : "(no body)");
    } else out = cloud_metadata_parse(a.data ? a.data : "", a.len, url, m, err);
    free(a.data);
    return out;
}
