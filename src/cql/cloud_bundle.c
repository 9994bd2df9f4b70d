/* cloud_bundle.c - reading a secure connect bundle (see cloud.h): the zip
 * through libzip, config.json through jansson, the PEM files into an
 * OpenSSL context. Nothing is extracted to disk: the key stays in memory
 * and is wiped when the bundle is freed. */
#include "cql/cloud.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* No file of a bundle is anywhere near this (a zip bomb would be). */
#define ENTRY_MAX (1 << 20)

static const char BUNDLE_HINT[] = " (the secure connect bundle is the .zip the Astra console downloads: "
                                  "config.json, ca.crt, cert, key)";

/* The entry whose file name (in any folder) is `file`, -1 when none. */
static zip_int64_t find_entry(zip_t *z, const char *file) {
    zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0), *slash = name ? strrchr(name, '/') : NULL;
        if (name && !strcmp(slash ? slash + 1 : name, file)) return i;
    }
    return -1;
}

/* The whole entry `file`, NUL-terminated, into *out. */
static int read_entry(zip_t *z, const char *name, const char *file, char **out, size_t *len, cassnn_err *err) {
    zip_int64_t i = find_entry(z, file);
    if (i < 0) return cassnn_err_set(err, "cql cloud: bundle %s has no %s%s", name, file, BUNDLE_HINT);
    zip_stat_t st;
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) || !(st.valid & ZIP_STAT_SIZE))
        return cassnn_err_set(err, "cql cloud: bundle %s: %s: %s", name, file, zip_strerror(z));
    if (st.size > ENTRY_MAX)
        return cassnn_err_set(err, "cql cloud: bundle %s: %s is %llu bytes (at most %d expected)", name, file,
                              (unsigned long long)st.size, ENTRY_MAX);
    char *buf = malloc(st.size + 1);
    zip_file_t *f = buf ? zip_fopen_index(z, (zip_uint64_t)i, 0) : NULL;
    zip_int64_t got = f ? zip_fread(f, buf, st.size) : -1;
    int rc = 0;
    if (!buf) rc = cassnn_err_set(err, "cql cloud: out of memory");
    else if (got != (zip_int64_t)st.size)
        rc = cassnn_err_set(err, "cql cloud: bundle %s: cannot read %s: %s", name, file,
                            f ? zip_file_strerror(f) : zip_strerror(z));
    if (f) zip_fclose(f);
    if (rc) {
        free(buf);
        return -1;
    }
    buf[st.size] = '\0';
    *out = buf;
    *len = st.size;
    return 0;
}

static int dup_string(json_t *o, const char *key, char **out, cassnn_err *err) {
    const char *v = json_string_value(json_object_get(o, key));
    if (v && !(*out = strdup(v))) return cassnn_err_set(err, "cql cloud: out of memory");
    return 0;
}

/* config.json: "host" and "port" of the metadata service are required;
 * "username" and "password" are kept when present. The drivers' other keys
 * (keyspace, localDC, the Java keystores' passwords) are not needed. */
static int parse_config(const char *text, size_t len, const char *name, cql_cloud_bundle *b, cassnn_err *err) {
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return cassnn_err_set(err, "cql cloud: bundle %s: config.json line %d: %s", name, je.line, je.text);
    int rc = 0;
    json_t *host = json_object_get(root, "host"), *port = json_object_get(root, "port");
    if (!json_is_object(root)) rc = cassnn_err_set(err, "cql cloud: bundle %s: config.json is not a JSON object", name);
    else if (!json_is_string(host) || !*json_string_value(host))
        rc = cassnn_err_set(err, "cql cloud: bundle %s: config.json has no \"host\" (the metadata service's host name)",
                            name);
    else if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
        rc = cassnn_err_set(err, "cql cloud: bundle %s: config.json has no \"port\" (the metadata service's port, "
                                 "an integer 1-65535)", name);
    else if (!(b->host = strdup(json_string_value(host))))
        rc = cassnn_err_set(err, "cql cloud: out of memory");
    else {
        b->port = (int)json_integer_value(port);
        rc = dup_string(root, "username", &b->username, err) || dup_string(root, "password", &b->password, err);
    }
    json_decref(root);
    return rc ? -1 : 0;
}

static int read_bundle(zip_t *z, const char *name, cql_cloud_bundle *b, cassnn_err *err) {
    char *config = NULL;
    size_t config_len = 0;
    int rc = read_entry(z, name, "config.json", &config, &config_len, err) ||
                     parse_config(config, config_len, name, b, err) ||
                     read_entry(z, name, "ca.crt", &b->ca, &b->ca_len, err) ||
                     read_entry(z, name, "cert", &b->cert, &b->cert_len, err) ||
                     read_entry(z, name, "key", &b->key, &b->key_len, err)
                 ? -1
                 : 0;
    free(config);
    zip_discard(z);
    return rc;
}

static int open_error(const char *name, zip_error_t *ze, cassnn_err *err) {
    int rc = zip_error_code_zip(ze) == ZIP_ER_NOZIP
                 ? cassnn_err_set(err, "cql cloud: bundle %s is not a zip file%s", name, BUNDLE_HINT)
                 : cassnn_err_set(err, "cql cloud: bundle %s: cannot open: %s", name, zip_error_strerror(ze));
    zip_error_fini(ze);
    return rc;
}

int cloud_bundle_read(const char *path, cql_cloud_bundle *b, cassnn_err *err) {
    memset(b, 0, sizeof *b);
    int code = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &code);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        return open_error(path, &ze, err);
    }
    return read_bundle(z, path, b, err);
}

int cloud_bundle_parse(const void *data, size_t len, const char *name, cql_cloud_bundle *b, cassnn_err *err) {
    memset(b, 0, sizeof *b);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!z) {
        zip_source_free(src);
        return open_error(name, &ze, err);
    }
    zip_error_fini(&ze);
    return read_bundle(z, name, b, err);
}

/* ------------------------------------------------------------------ TLS */

static int tls_error(const char *name, const char *what, cassnn_err *err) {
    char why[256] = "no PEM data found";
    unsigned long e = ERR_peek_last_error();
    if (e) ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    return cassnn_err_set(err, "cql cloud: bundle %s: %s: %s", name, what, why);
}

/* A key that wants a password cannot be Astra's: never prompt for one. */
static int no_password(char *buf, int size, int rwflag, void *u) {
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

int cloud_bundle_load_tls(const cql_cloud_bundle *b, SSL_CTX *ctx, const char *name, cassnn_err *err) {
    BIO *bio = BIO_new_mem_buf(b->ca, (int)b->ca_len);
    STACK_OF(X509_INFO) *cas = bio ? PEM_X509_INFO_read_bio(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    int n_ca = 0;
    for (int i = 0; cas && i < sk_X509_INFO_num(cas); i++) {
        X509_INFO *info = sk_X509_INFO_value(cas, i);
        if (info->x509 && X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), info->x509) == 1) n_ca++;
    }
    sk_X509_INFO_pop_free(cas, X509_INFO_free);
    if (!n_ca) return tls_error(name, "ca.crt holds no usable certificate", err);
    ERR_clear_error();
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    bio = BIO_new_mem_buf(b->cert, (int)b->cert_len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, no_password, NULL) : NULL;
    int ok = cert && SSL_CTX_use_certificate(ctx, cert) == 1;
    X509_free(cert);
    for (X509 *more; ok && bio && (more = PEM_read_bio_X509(bio, NULL, no_password, NULL));) /* its chain */
        if (SSL_CTX_add_extra_chain_cert(ctx, more) != 1) {
            X509_free(more);
            ok = 0;
        }
    BIO_free(bio);
    if (!ok) return tls_error(name, "cert is not a PEM certificate", err);
    ERR_clear_error(); /* the end of the chain */

    bio = BIO_new_mem_buf(b->key, (int)b->key_len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    if (!key) return tls_error(name, "key is not an unencrypted PEM private key", err);
    ok = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    return ok ? 0 : tls_error(name, "key does not belong to cert", err);
}

void cloud_bundle_free(cql_cloud_bundle *b) {
    if (b->key) OPENSSL_cleanse(b->key, b->key_len);
    if (b->password) OPENSSL_cleanse(b->password, strlen(b->password));
    free(b->host);
    free(b->username);
    free(b->password);
    free(b->ca);
    free(b->cert);
    free(b->key);
    memset(b, 0, sizeof *b);
}
