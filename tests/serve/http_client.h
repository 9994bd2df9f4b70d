/* http_client.h - a small HTTP client on libcurl for the tests that talk to
 * `cassnn serve` (the serve tests, the secured-node test). */
#ifndef CASSNN_TESTS_HTTP_CLIENT_H
#define CASSNN_TESTS_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_reply {
    long status;                /* 0: no answer (transport error in error) */
    char *body;
    size_t len;
    char error[CURL_ERROR_SIZE];
    char content_type[128];
} http_reply;

static inline size_t http_collect(char *data, size_t size, size_t n, void *user) {
    http_reply *r = user;
    char *p = realloc(r->body, r->len + size * n + 1);
    if (!p) return 0;
    memcpy(p + r->len, data, size * n);
    r->body = p;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

/* One request on curl (a handle is reused: keep-alive). body NULL: GET. */
static inline void http_do(CURL *curl, const char *url, const char *body, size_t len,
                    const char *content_type, const char *token, http_reply *r) {
    memset(r, 0, sizeof *r);
    struct curl_slist *headers = NULL;
    char h[300];
    if (content_type) {
        snprintf(h, sizeof h, "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, h);
    }
    if (token) {
        snprintf(h, sizeof h, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, h);
    }
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        char *type = NULL;
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
        if (type) snprintf(r->content_type, sizeof r->content_type, "%s", type);
    }
    if (!r->body) r->body = calloc(1, 1);
    curl_slist_free_all(headers);
}

static inline void http_reply_free(http_reply *r) {
    free(r->body);
    r->body = NULL;
}

#endif
