/* curl_global.h - libcurl's process-wide initialisation, done once for
 * every module that makes HTTP requests (dataset downloads, Astra's
 * metadata service). Private to the library. */
#ifndef CASSNN_UTIL_CURL_GLOBAL_H
#define CASSNN_UTIL_CURL_GLOBAL_H

#include "cassnn/error.h"

/* Initialises libcurl the first time (thread-safe); 0, or -1 with err set
 * when libcurl could not start. Call before curl_easy_init. */
int cassnn_curl_global(cassnn_err *err);

#endif
