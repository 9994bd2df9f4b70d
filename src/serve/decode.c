/* decode.c - POST /predict bodies as images (see decode.h). */
#include "decode.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digit.h"

/* jansson makes every value a separate allocation: a body of 784 numbers
 * costs 784 mallocs and as many frees. While a thread decodes a body, those
 * come from its arena instead and go all at once when the body is done;
 * every other allocation of jansson (other threads, other callers, a body
 * that outgrows the arena) is malloc's as before, and free tells the two
 * apart by address. */
enum { ARENA_BYTES = 128 * 1024 };

typedef struct arena {
    char *base;
    size_t used;
} arena;

static __thread arena *decoding; /* this thread's arena while it decodes a body */
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void *arena_malloc(size_t n) {
    arena *a = decoding;
    n = (n + 15) & ~(size_t)15;
    if (a && ARENA_BYTES - a->used >= n) {
        void *p = a->base + a->used;
        a->used += n;
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p) {
    const arena *a = decoding;
    if (a && (char *)p >= a->base && (char *)p < a->base + ARENA_BYTES) return;
    free(p);
}

static void arena_destroy(void *a) {
    free(((arena *)a)->base);
    free(a);
}

static void arena_init(void) {
    pthread_key_create(&arena_key, arena_destroy);
    json_set_alloc_funcs(arena_malloc, arena_free);
}

/* This thread's arena, emptied (NULL when out of memory: malloc then). */
static arena *arena_begin(void) {
    pthread_once(&arena_once, arena_init);
    arena *a = pthread_getspecific(arena_key);
    if (!a && (a = calloc(1, sizeof *a)) != NULL) {
        if (!(a->base = malloc(ARENA_BYTES)) || pthread_setspecific(arena_key, a)) {
            free(a->base);
            free(a);
            return NULL;
        }
    }
    if (a) a->used = 0;
    return a;
}

void serve_input_free(serve_input *in) {
    free(in->pixels);
    in->pixels = NULL;
    in->n = 0;
}

/* One image's values from a JSON array into out[0..size). where names it
 * ("pixels", "batch[3]"). */
static int read_image(const json_t *values, size_t size, serve_shape shape, const char *where,
                      uint8_t *out, char *msg, size_t cap) {
    if (!json_is_array(values)) {
        snprintf(msg, cap, "%s: expected an array of %zu numbers (%dx%dx%d)", where, size,
                 shape.c, shape.h, shape.w);
        return 422;
    }
    const size_t n = json_array_size(values);
    if (n != size) {
        snprintf(msg, cap, "%s: %zu values, the model takes %zu (%dx%dx%d)", where, n, size,
                 shape.c, shape.h, shape.w);
        return 422;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(values, i);
        double x;
        if (json_is_integer(v)) {
            const json_int_t k = json_integer_value(v);
            if (k < 0 || k > 255) {
                snprintf(msg, cap, "%s[%zu]: %lld is outside 0..255", where, i, (long long)k);
                return 422;
            }
            out[i] = (uint8_t)k;
            continue;
        }
        if (!json_is_real(v)) {
            snprintf(msg, cap, "%s[%zu]: expected a number 0..255", where, i);
            return 422;
        }
        x = json_real_value(v);
        if (!(x >= 0.0 && x <= 255.0)) {
            snprintf(msg, cap, "%s[%zu]: %g is outside 0..255", where, i, x);
            return 422;
        }
        out[i] = (uint8_t)lround(x);
    }
    return 0;
}

static int decode_json(const uint8_t *body, size_t len, serve_shape shape, int max_images,
                       serve_input *out, char *msg, size_t cap) {
    json_error_t jerr;
    decoding = arena_begin(); /* until every value of the body is freed below */
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        decoding = NULL;
        snprintf(msg, cap, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return 400;
    }
    const size_t size = (size_t)shape.c * (size_t)shape.h * (size_t)shape.w;
    int status = 0;
    const json_t *pixels = json_is_object(root) ? json_object_get(root, "pixels") : NULL;
    const json_t *batch = json_is_object(root) ? json_object_get(root, "batch") : NULL;
    if (!json_is_object(root) || (!pixels == !batch)) {
        snprintf(msg, cap, "expected an object with \"pixels\": [%zu values] or \"batch\": "
                           "[[%zu values], ...]", size, size);
        status = 422;
    } else if (pixels) {
        out->n = 1;
        out->pixels = malloc(size);
        status = out->pixels ? read_image(pixels, size, shape, "pixels", out->pixels, msg, cap)
                             : (snprintf(msg, cap, "out of memory"), 500);
    } else if (!json_is_array(batch) || json_array_size(batch) == 0 ||
               json_array_size(batch) > (size_t)max_images) {
        snprintf(msg, cap, "batch: expected a list of 1..%d images", max_images);
        status = 422;
    } else {
        out->n = (int)json_array_size(batch);
        out->batch = 1;
        out->pixels = malloc(size * (size_t)out->n);
        if (!out->pixels) {
            snprintf(msg, cap, "out of memory");
            status = 500;
        }
        for (int i = 0; status == 0 && i < out->n; i++) {
            char where[32];
            snprintf(where, sizeof where, "batch[%d]", i);
            status = read_image(json_array_get(batch, (size_t)i), size, shape, where,
                                out->pixels + size * (size_t)i, msg, cap);
        }
    }
    json_decref(root);
    decoding = NULL;
    if (status) serve_input_free(out);
    return status;
}

/* The media type of a Content-Type value, without parameters. */
static int media_is(const char *content_type, const char *type) {
    const size_t n = strlen(type);
    if (!content_type) return 0;
    while (*content_type == ' ') content_type++;
    return strncasecmp(content_type, type, n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

int serve_decode(const uint8_t *body, size_t len, const char *content_type, serve_shape shape,
                 int max_images, serve_input *out, char *msg, size_t cap) {
    memset(out, 0, sizeof *out);
    size_t first = 0;
    while (first < len && (body[first] == ' ' || body[first] == '\t' || body[first] == '\r' ||
                           body[first] == '\n'))
        first++;
    const int png = digit_is_png(body, len) || media_is(content_type, "image/png");
    const int json = (first < len && (body[first] == '{' || body[first] == '[')) ||
                     media_is(content_type, "application/json");
    if (png && !json) {
        if (shape.c != 1 || shape.h != DIGIT_SIDE || shape.w != DIGIT_SIDE) {
            snprintf(msg, cap, "PNG bodies are for 1x28x28 models; this model takes %dx%dx%d: "
                               "send JSON pixels", shape.c, shape.h, shape.w);
            return 422;
        }
        out->pixels = malloc(DIGIT_SIDE * DIGIT_SIDE);
        if (!out->pixels) {
            snprintf(msg, cap, "out of memory");
            return 500;
        }
        out->n = 1;
        if (digit_from_png(body, len, out->pixels, msg, cap)) {
            serve_input_free(out);
            return 400;
        }
        return 0;
    }
    if (json) return decode_json(body, len, shape, max_images, out, msg, cap);
    snprintf(msg, cap, "Content-Type %s: send application/json ({\"pixels\": [...]}) or "
                       "image/png", content_type ? content_type : "(none)");
    return 415;
}
