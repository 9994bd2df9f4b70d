/* curl_global.c - see curl_global.h. */
#include "util/curl_global.h"

#include <curl/curl.h>
#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_code;

static void init(void) { init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

int cassnn_curl_global(cassnn_err *err) {
    pthread_once(&once, init);
    return init_code == CURLE_OK ? 0 : cassnn_err_set(err, "libcurl: %s", curl_easy_strerror(init_code));
}
