/* fuzz_cloud.c - libFuzzer target for what Astra's side hands the client:
 * a secure connect bundle (a zip read from memory by cloud_bundle_parse,
 * then its PEMs loaded into an OpenSSL context) when the first byte is 0,
 * the metadata service's JSON answer (cloud_metadata_parse, with the SNI
 * proxy address and host ids parsed by hand) otherwise. Either may fail
 * (that is its job); neither may crash or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "cql/cloud.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    cassnn_err err;
    if (data[0] == 0) {
        cql_cloud_bundle b;
        if (cloud_bundle_parse(data + 1, size - 1, "fuzz", &b, &err) == 0) {
            SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
            if (ctx) cloud_bundle_load_tls(&b, ctx, "fuzz", &err);
            SSL_CTX_free(ctx);
        }
        cloud_bundle_free(&b);
    } else {
        cql_cloud_metadata m;
        cloud_metadata_parse((const char *)data + 1, size - 1, "fuzz", &m, &err);
        cloud_metadata_free(&m);
    }
    return 0;
}
