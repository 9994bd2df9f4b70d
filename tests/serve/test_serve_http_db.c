/* `cassnn serve`'s service against a real node and real models, over real
 * HTTP (libcurl, and raw sockets for the slow clients): every endpoint,
 * every bad request (each a 4xx JSON error, the service serving on), the
 * bearer token, batching, and an alias moved back and forth under load with
 * no failed request and every answer from the whole model it names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <png.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/digit.h"
#include "serve_test_env.h"

#define KS "cassnn_test_serve"
enum { N_TRAIN = 1500, N_TEST = 64 };

static cql_session *S;
static data_images TEST;
static uint8_t IDS[2][16];         /* [0] untrained, [1] trained */
static char ID_TEXT[2][37];
static expected EXPECT[2][N_TEST]; /* each model's answer for each test image */

static int setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    S = reg_connect();
    serve_env_keyspace(S, KS, "mnist", N_TRAIN, N_TEST, &TEST);
    serve_env_models(S, KS, IDS);
    for (int m = 0; m < 2; m++) {
        registry_uuid_format(IDS[m], ID_TEXT[m]);
        for (int i = 0; i < N_TEST; i++)
            serve_env_expect(S, KS, IDS[m], TEST.pixels + 784 * (size_t)i, &EXPECT[m][i]);
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, KS);
    cql_session_close(S);
    data_images_free(&TEST);
    curl_global_cleanup();
    return 0;
}

static serve_server *start(const char *model, const char *token, size_t max_body, int max_batch,
                           int max_wait_us) {
    char listen[64], host[32];
    snprintf(listen, sizeof listen, "%s:0", test_node_addr(host, 1));
    serve_options o = {.keyspace = KS, .model = model, .listen = listen, .token = token,
                       .mean = NN_MNIST_MEAN, .std = NN_MNIST_STD, .max_batch = max_batch,
                       .max_wait_us = max_wait_us, .max_request_images = 8, .poll_ms = 25,
                       .max_body = max_body, .request_timeout_s = 1};
    serve_server *srv;
    cassnn_err err = {0};
    reg_must(serve_start(&srv, S, &o, &err), &err, "serve_start");
    return srv;
}

static void wait_ready(serve_server *srv) {
    cassnn_err err = {0};
    reg_must(serve_wait_ready(srv, 30000, &err), &err, "serve_wait_ready");
}

/* The label, probabilities and model of one answer object. */
static void check_answer(json_t *o, const char *want_model, const expected *e) {
    assert_true(json_is_object(o));
    assert_string_equal(json_string_value(json_object_get(o, "model")), want_model);
    assert_int_equal(json_integer_value(json_object_get(o, "label")), e->label);
    json_t *p = json_object_get(o, "probabilities");
    assert_int_equal(json_array_size(p), 10);
    for (int c = 0; c < 10; c++)
        if (fabs(json_number_value(json_array_get(p, (size_t)c)) - e->prob[c]) > 1e-4)
            fail_msg("probability %d: %g, expected %g", c,
                     json_number_value(json_array_get(p, (size_t)c)), (double)e->prob[c]);
}

static json_t *parse(const http_reply *r) {
    json_error_t jerr;
    json_t *j = json_loads(r->body, 0, &jerr);
    if (!j) fail_msg("not JSON (%s): %s", jerr.text, r->body);
    return j;
}

/* A JSON error with this status whose message contains needle. */
static void expect_error(const http_reply *r, long status, const char *needle) {
    if (r->status != status) fail_msg("status %ld, expected %ld: %s %s", r->status, status, r->body, r->error);
    json_t *j = parse(r);
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (!msg || !strstr(msg, needle)) fail_msg("error '%s' does not contain '%s'", msg, needle);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_string_equal(r->content_type, "application/json");
    json_decref(j);
}

static void predict_ok(CURL *c, const serve_server *srv, int model, int image) {
    char url[128];
    serve_env_url(srv, "/predict", url, sizeof url);
    char *body = serve_env_json(TEST.pixels + 784 * (size_t)image);
    http_reply r;
    http_do(c, url, body, strlen(body), "application/json", NULL, &r);
    if (r.status != 200) fail_msg("predict: %ld %s %s", r.status, r.body, r.error);
    json_t *j = parse(&r);
    check_answer(j, ID_TEXT[model], &EXPECT[model][image]);
    json_decref(j);
    http_reply_free(&r);
    free(body);
}

/* Until the followed alias exists: 503 with the reason; then the model. */
static void test_health_follows_alias(void **state) {
    (void)state;
    cassnn_err err = {0};
    serve_server *srv = start("staging", NULL, 0, 0, -1);
    CURL *c = curl_easy_init();
    char url[128];
    http_reply r;
    struct timespec pause = {0, 100000000};
    nanosleep(&pause, NULL);
    serve_env_url(srv, "/health", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "no alias 'staging'"));
    http_reply_free(&r);
    serve_env_url(srv, "/predict", url, sizeof url);
    http_do(c, url, "{\"pixels\":[]}", 13, "application/json", NULL, &r);
    expect_error(&r, 503, "no model loaded");
    http_reply_free(&r);

    reg_must(registry_alias_set(S, KS, "staging", IDS[1], &err), &err, "alias set");
    wait_ready(srv);
    serve_env_url(srv, "/health", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "model")), ID_TEXT[1]);
    assert_string_equal(json_string_value(json_object_get(j, "follows")), "staging");
    json_decref(j);
    http_reply_free(&r);
    predict_ok(c, srv, 1, 0);
    curl_easy_cleanup(c);
    serve_stop(srv);
    reg_must(registry_alias_delete(S, KS, "staging", &err), &err, "alias delete");
}

/* One image, a batch, a PNG: each answer equals the model's own. The
 * built-in "best" is the trained model. */
static void test_predict(void **state) {
    (void)state;
    serve_server *srv = start(NULL, NULL, 0, 0, -1);
    wait_ready(srv);
    CURL *c = curl_easy_init();
    for (int i = 0; i < 8; i++) predict_ok(c, srv, 1, i);

    char url[128], body[4 * 784 * 4 + 64];
    serve_env_url(srv, "/predict", url, sizeof url);
    size_t k = (size_t)sprintf(body, "{\"batch\":[");
    for (int i = 0; i < 3; i++) {
        char *one = serve_env_json(TEST.pixels + 784 * (size_t)(10 + i));
        /* the array of {"pixels":[...]} */
        k += (size_t)sprintf(body + k, "%s%.*s", i ? "," : "", (int)(strlen(one) - 11), one + 10);
        free(one);
    }
    sprintf(body + k, "]}");
    http_reply r;
    http_do(c, url, body, strlen(body), "application/json", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_int_equal(json_array_size(j), 3);
    for (int i = 0; i < 3; i++) check_answer(json_array_get(j, (size_t)i), ID_TEXT[1], &EXPECT[1][10 + i]);
    json_decref(j);
    http_reply_free(&r);

    /* a test digit drawn 8x larger, dark on light, as a PNG: the answer is
     * the model's for what digit_from_gray makes of the same picture */
    enum { W = 28 * 8 };
    static uint8_t page[W * W];
    for (int y = 0; y < W; y++)
        for (int x = 0; x < W; x++) page[y * W + x] = (uint8_t)(255 - TEST.pixels[(y / 8) * 28 + x / 8]);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = img.height = W;
    img.format = PNG_FORMAT_GRAY;
    static uint8_t png[W * W * 2];
    png_alloc_size_t len = sizeof png;
    assert_true(png_image_write_to_memory(&img, png, &len, 0, page, 0, NULL));
    uint8_t digit[784];
    digit_from_gray(page, W, W, digit);
    expected e;
    serve_env_expect(S, KS, IDS[1], digit, &e);
    http_do(c, url, (const char *)png, len, "image/png", NULL, &r);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    check_answer(j, ID_TEXT[1], &e);
    assert_int_equal(e.label, TEST.labels[0]); /* and it is right: a 7 */
    json_decref(j);
    http_reply_free(&r);
    curl_easy_cleanup(c);
    serve_stop(srv);
}

/* A raw connection to the server. */
static int connect_raw(const serve_server *srv) {
    char host[32];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)serve_port(srv))};
    inet_pton(AF_INET, test_node_addr(host, 1), &a.sin_addr);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Everything the server sends until it closes (or 10 s pass). */
static size_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (ssize_t got; n + 1 < cap && (got = recv(fd, buf + n, cap - n - 1, 0)) > 0;) n += (size_t)got;
    buf[n] = '\0';
    return n;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* Each bad request gets its 4xx JSON error; the service answers the next
 * good one, also while slow clients hold connections. */
static void test_bad_requests(void **state) {
    (void)state;
    serve_server *srv = start(NULL, NULL, 64 * 1024, 0, -1);
    wait_ready(srv);
    CURL *c = curl_easy_init();
    char url[128];
    http_reply r;
    serve_env_url(srv, "/predict", url, sizeof url);
    char *good = serve_env_json(TEST.pixels);

    char *short_body = strdup(good);
    *strrchr(short_body, ',') = '\0';
    strcat(short_body, "]}");
    http_do(c, url, short_body, strlen(short_body), "application/json", NULL, &r);
    expect_error(&r, 422, "pixels: 783 values, the model takes 784");
    http_reply_free(&r);
    free(short_body);

    char *big_value = malloc(strlen(good) + 8);
    sprintf(big_value, "{\"pixels\":[300%s", good + strlen("{\"pixels\":[0")); /* 0 -> 300 */
    http_do(c, url, big_value, strlen(big_value), "application/json", NULL, &r);
    expect_error(&r, 422, "pixels[0]: 300 is outside 0..255");
    http_reply_free(&r);
    free(big_value);

    http_do(c, url, "{\"pixels\": [1, 2", 16, "application/json", NULL, &r);
    expect_error(&r, 400, "malformed JSON at line 1");
    http_reply_free(&r);
    http_do(c, url, "GIF89a not a png", 16, "image/png", NULL, &r);
    expect_error(&r, 400, "not a PNG");
    http_reply_free(&r);
    http_do(c, url, "hello", 5, "text/plain", NULL, &r);
    expect_error(&r, 415, "Content-Type text/plain");
    http_reply_free(&r);

    /* over the size limit: said by Content-Length, refused before the body */
    char *huge = malloc(100 * 1024);
    memset(huge, ' ', 100 * 1024);
    huge[0] = '{';
    http_do(c, url, huge, 100 * 1024, "application/json", NULL, &r);
    expect_error(&r, 413, "at most 65536");
    http_reply_free(&r);
    free(huge);

    serve_env_url(srv, "/nope", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    expect_error(&r, 404, "no such endpoint: GET /nope");
    http_reply_free(&r);
    serve_env_url(srv, "/predict", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    expect_error(&r, 405, "use POST");
    http_reply_free(&r);
    serve_env_url(srv, "/health", url, sizeof url);
    http_do(c, url, "{}", 2, "application/json", NULL, &r);
    expect_error(&r, 405, "use GET");
    http_reply_free(&r);

    /* over the limit without a Content-Length (chunked): read, dropped, 413 */
    char buf[8192];
    int fd = connect_raw(srv);
    const char *head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    assert_true(send(fd, head, strlen(head), 0) > 0);
    char chunk[8200];
    memset(chunk, '1', sizeof chunk);
    memcpy(chunk, "2000\r\n", 6); /* 8192 bytes a chunk */
    memcpy(chunk + 6 + 8192, "\r\n", 2);
    for (int i = 0; i < 10; i++) assert_true(send(fd, chunk, 6 + 8192 + 2, MSG_NOSIGNAL) > 0);
    assert_true(send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL) > 0);
    read_all(fd, buf, sizeof buf);
    close(fd);
    if (!strstr(buf, "HTTP/1.1 413") || !strstr(buf, "body over 65536 bytes"))
        fail_msg("chunked over the limit got: %s", buf);

    /* too slow: the body trickles in over 1.5 s against a 1 s limit -> 408,
     * while other requests are answered at once */
    fd = connect_raw(srv);
    char slow_head[256];
    snprintf(slow_head, sizeof slow_head, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                          "application/json\r\nContent-Length: %zu\r\n\r\n", strlen(good));
    assert_true(send(fd, slow_head, strlen(slow_head), 0) > 0);
    const size_t piece = strlen(good) / 6 + 1;
    for (size_t off = 0; off < strlen(good); off += piece) {
        const size_t n = strlen(good) - off < piece ? strlen(good) - off : piece;
        assert_true(send(fd, good + off, n, MSG_NOSIGNAL) > 0);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        predict_ok(c, srv, 1, 1); /* the service goes on meanwhile */
        assert_true(seconds_since(&t0) < 0.5);
        nanosleep(&(struct timespec){0, 250000000}, NULL);
    }
    read_all(fd, buf, sizeof buf);
    close(fd);
    if (!strstr(buf, "HTTP/1.1 408") || !strstr(buf, "not received within 1 s"))
        fail_msg("slow client got: %s", buf);

    /* a client that stops sending is cut off after the idle timeout */
    fd = connect_raw(srv);
    assert_true(send(fd, slow_head, strlen(slow_head), 0) > 0);
    assert_true(send(fd, good, 100, 0) > 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(read_all(fd, buf, sizeof buf), 0); /* closed, nothing said */
    assert_true(seconds_since(&t0) < 5.0);
    close(fd);

    predict_ok(c, srv, 1, 2);
    free(good);
    curl_easy_cleanup(c);
    serve_stop(srv);
}

static void test_token(void **state) {
    (void)state;
    serve_server *srv = start(NULL, "s3cret-token", 0, 0, -1);
    wait_ready(srv);
    CURL *c = curl_easy_init();
    char url[128];
    http_reply r;
    char *good = serve_env_json(TEST.pixels);
    const char *paths[3] = {"/predict", "/models", "/metrics"};
    for (int i = 0; i < 3; i++) {
        serve_env_url(srv, paths[i], url, sizeof url);
        const char *body = i == 0 ? good : NULL;
        http_do(c, url, body, body ? strlen(body) : 0, "application/json", NULL, &r);
        expect_error(&r, 401, "Authorization: Bearer");
        http_reply_free(&r);
        http_do(c, url, body, body ? strlen(body) : 0, "application/json", "s3cret-tokeX", &r);
        expect_error(&r, 401, "Authorization: Bearer");
        http_reply_free(&r);
        http_do(c, url, body, body ? strlen(body) : 0, "application/json", "s3cret-token", &r);
        assert_int_equal(r.status, 200);
        http_reply_free(&r);
    }
    /* the page and /health stay open */
    serve_env_url(srv, "/health", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    free(good);
    curl_easy_cleanup(c);
    serve_stop(srv);
}

/* The page, /models and /metrics after some traffic. */
static void test_page_models_metrics(void **state) {
    (void)state;
    cassnn_err err = {0};
    reg_must(registry_alias_set(S, KS, "prod", IDS[0], &err), &err, "alias set");
    serve_server *srv = start("prod", NULL, 0, 0, -1);
    wait_ready(srv);
    CURL *c = curl_easy_init();
    char url[128];
    http_reply r;
    serve_env_url(srv, "/", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "<canvas id=\"pad\""));
    http_reply_free(&r);
    serve_env_url(srv, "/app.js", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "fetch('predict'"));
    http_reply_free(&r);

    for (int i = 0; i < 5; i++) predict_ok(c, srv, 0, i);
    serve_env_url(srv, "/models", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    registry_model *rows;
    size_t n;
    reg_must(registry_list(S, KS, &rows, &n, &err), &err, "list");
    assert_int_equal(json_array_size(json_object_get(j, "checkpoints")), n);
    free(rows);
    json_t *aliases = json_object_get(j, "aliases");
    assert_int_equal(json_array_size(aliases), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(aliases, 0), "name")), "prod");
    assert_string_equal(json_string_value(json_object_get(json_array_get(aliases, 0), "model")), ID_TEXT[0]);
    assert_string_equal(json_string_value(json_object_get(j, "model")), ID_TEXT[0]);
    json_decref(j);
    http_reply_free(&r);

    serve_env_url(srv, "/metrics", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "cassnn_requests_total{endpoint=\"predict\",status=\"200\"} 5\n"));
    assert_non_null(strstr(r.body, "cassnn_requests_total{endpoint=\"page\",status=\"200\"} 2\n"));
    assert_non_null(strstr(r.body, "cassnn_requests_total{endpoint=\"models\",status=\"200\"} 1\n"));
    assert_non_null(strstr(r.body, "cassnn_predict_latency_seconds_bucket{le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(r.body, "cassnn_predict_latency_seconds_count 5\n"));
    assert_non_null(strstr(r.body, "cassnn_batch_size_sum 5\n"));
    char info[128];
    snprintf(info, sizeof info, "cassnn_model_info{model=\"%s\",follows=\"prod\"} 1\n", ID_TEXT[0]);
    assert_non_null(strstr(r.body, info));
    assert_non_null(strstr(r.body, "cassnn_model_reloads_total 0\n"));
    http_reply_free(&r);
    curl_easy_cleanup(c);
    serve_stop(srv);
    reg_must(registry_alias_delete(S, KS, "prod", &err), &err, "alias delete");
}

/* ---- under load ---- */

typedef struct client {
    const serve_server *srv;
    atomic_int *stop;
    int index;
    long ok, failed, by_model[2];
    char first_failure[512];
} client;

static void *client_loop(void *arg) {
    client *cl = arg;
    CURL *c = curl_easy_init();
    char url[128];
    serve_env_url(cl->srv, "/predict", url, sizeof url);
    for (int k = 0; !atomic_load(cl->stop); k++) {
        const int image = (cl->index * 7 + k) % N_TEST;
        char *body = serve_env_json(TEST.pixels + 784 * (size_t)image);
        http_reply r;
        http_do(c, url, body, strlen(body), "application/json", NULL, &r);
        json_error_t jerr;
        json_t *j = r.status == 200 ? json_loads(r.body, 0, &jerr) : NULL;
        const char *model = j ? json_string_value(json_object_get(j, "model")) : NULL;
        const int m = model ? !strcmp(model, ID_TEXT[1]) : -1;
        int good = model && (m == 1 || !strcmp(model, ID_TEXT[0]));
        /* the answer is the whole model it names, never a mix */
        if (good && json_integer_value(json_object_get(j, "label")) != EXPECT[m][image].label) good = 0;
        for (int p = 0; good && p < 10; p++)
            if (fabs(json_number_value(json_array_get(json_object_get(j, "probabilities"), (size_t)p)) -
                     EXPECT[m][image].prob[p]) > 1e-4)
                good = 0;
        if (good) {
            cl->ok++;
            cl->by_model[m]++;
        } else if (cl->failed++ == 0) {
            snprintf(cl->first_failure, sizeof cl->first_failure, "%ld %.200s %s", r.status, r.body, r.error);
        }
        json_decref(j);
        http_reply_free(&r);
        free(body);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void clients_start(const serve_server *srv, client *cl, pthread_t *t, int n,
                          atomic_int *stop) {
    for (int i = 0; i < n; i++) {
        cl[i] = (client){.srv = srv, .stop = stop, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, client_loop, &cl[i]), 0);
    }
}

/* Stops and joins the clients; their counts added up. */
static client clients_stop(client *cl, pthread_t *t, int n, atomic_int *stop) {
    atomic_store(stop, 1);
    client sum = {0};
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        sum.ok += cl[i].ok;
        sum.failed += cl[i].failed;
        sum.by_model[0] += cl[i].by_model[0];
        sum.by_model[1] += cl[i].by_model[1];
        if (cl[i].failed) print_message("client %d: first failure: %s\n", i, cl[i].first_failure);
    }
    return sum;
}

/* The value of a metric line "NAME value" of GET /metrics. */
static double metric(const serve_server *srv, const char *name) {
    CURL *c = curl_easy_init();
    char url[128], line[128];
    http_reply r;
    serve_env_url(srv, "/metrics", url, sizeof url);
    http_do(c, url, NULL, 0, NULL, NULL, &r);
    snprintf(line, sizeof line, "\n%s ", name);
    const char *p = strstr(r.body, line);
    if (!p) fail_msg("no %s in /metrics", name);
    const double v = atof(p + strlen(line));
    http_reply_free(&r);
    curl_easy_cleanup(c);
    return v;
}

/* The alias moves between the two models every 150 ms while 6 clients
 * send requests: none fails, both models answer, the server reloads. */
static void test_alias_switch_under_load(void **state) {
    (void)state;
    enum { CLIENTS = 6, MOVES = 16 };
    cassnn_err err = {0};
    reg_must(registry_alias_set(S, KS, "live", IDS[0], &err), &err, "alias set");
    serve_server *srv = start("live", NULL, 0, 0, -1);
    wait_ready(srv);
    atomic_int stop = 0;
    client cl[CLIENTS];
    pthread_t t[CLIENTS];
    clients_start(srv, cl, t, CLIENTS, &stop);
    for (int move = 1; move <= MOVES; move++) {
        nanosleep(&(struct timespec){0, 150000000}, NULL);
        reg_must(registry_alias_set(S, KS, "live", IDS[move % 2], &err), &err, "alias move");
    }
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    const client sum = clients_stop(cl, t, CLIENTS, &stop);
    print_message("alias moved %d times under load: %ld requests answered (%ld by the untrained "
                  "model, %ld by the trained one), %ld failed\n", MOVES, sum.ok, sum.by_model[0],
                  sum.by_model[1], sum.failed);
    assert_int_equal(sum.failed, 0);
    assert_true(sum.by_model[0] > 0 && sum.by_model[1] > 0);
    const double reloads = metric(srv, "cassnn_model_reloads_total");
    print_message("reloads: %.0f\n", reloads);
    assert_true(reloads >= MOVES / 2); /* a poll every 25 ms sees (nearly) every move */
    serve_stop(srv);
    reg_must(registry_alias_delete(S, KS, "live", &err), &err, "alias delete");
}

/* With a generous wait, 4 clients at once share forward passes. */
static void test_batching_gathers(void **state) {
    (void)state;
    enum { CLIENTS = 4 };
    serve_server *srv = start(NULL, NULL, 0, CLIENTS, 50000);
    wait_ready(srv);
    atomic_int stop = 0;
    client cl[CLIENTS];
    pthread_t t[CLIENTS];
    clients_start(srv, cl, t, CLIENTS, &stop);
    nanosleep(&(struct timespec){1, 0}, NULL);
    const client sum = clients_stop(cl, t, CLIENTS, &stop);
    assert_int_equal(sum.failed, 0);
    const double mean = metric(srv, "cassnn_batch_size_sum") / metric(srv, "cassnn_batch_size_count");
    print_message("%ld requests from %d clients, %.2f images per forward pass\n", sum.ok, CLIENTS, mean);
    assert_true(mean > 2.0);
    serve_stop(srv);
}

/* `cassnn models alias set|list|delete` */
static void test_alias_cli(void **state) {
    (void)state;
    char *out, want[128];
    assert_int_equal(reg_run(&out, "models alias set canary best --keyspace " KS), 0);
    snprintf(want, sizeof want, "canary -> %s\n", ID_TEXT[1]);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(reg_run(&out, "models alias set canary.v2 %s --keyspace " KS, ID_TEXT[0]), 0);
    free(out);
    assert_int_equal(reg_run(&out, "models alias list --keyspace " KS), 0);
    const char *a = strstr(out, "canary "), *b = strstr(out, "canary.v2 ");
    assert_true(a && b && a < b);
    assert_non_null(strstr(a, ID_TEXT[1]));
    assert_non_null(strstr(b, ID_TEXT[0]));
    assert_non_null(strstr(out, "2 aliases"));
    free(out);
    assert_int_equal(reg_run(&out, "models alias delete canary --keyspace " KS), 0);
    free(out);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models alias delete canary --keyspace " KS), 1);
    assert_non_null(strstr(out, "no alias 'canary'"));
    free(out);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models alias set best %s --keyspace " KS, ID_TEXT[0]), 2);
    assert_non_null(strstr(out, "cannot be an alias"));
    free(out);
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED,
                                "models alias set x 123e4567-e89b-42d3-a456-426614174000 --keyspace " KS), 1);
    assert_non_null(strstr(out, "no model 123e4567"));
    free(out);
    assert_int_equal(reg_run(&out, "models alias delete canary.v2 --keyspace " KS), 0);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_follows_alias),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_page_models_metrics),
        cmocka_unit_test(test_alias_switch_under_load),
        cmocka_unit_test(test_batching_gathers),
        cmocka_unit_test(test_alias_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
