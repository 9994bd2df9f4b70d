/* model.h - a model as the service holds it: the net, an executor sized for
 * the batcher, and a reference count. A request takes a reference when it
 * starts and drops it when it is answered; a swap drops the server's
 * reference; the last one frees the model. */
#ifndef CASSNN_SERVE_MODEL_H
#define CASSNN_SERVE_MODEL_H

#include <stdatomic.h>
#include <stdint.h>

#include "cassnn/cql.h"
#include "cassnn/nn.h"
#include "decode.h"

typedef struct serve_model {
    atomic_int refs;
    uint8_t id[16];
    char id_text[37];
    float accuracy, loss;   /* the registry row's (NAN when it has none) */
    nn_net net;
    nn_exec *exec;          /* used by the batcher's one thread only */
    serve_shape shape;
    size_t image;           /* values per image */
    int max_images;         /* largest forward pass exec takes */
    float mean, std;
} serve_model;

/* Reads the row with this id, decodes its network and makes an executor for
 * up to max_images images with `threads` threads. *out has one reference. */
int serve_model_load(cql_session *s, const char *keyspace, const uint8_t id[16], int max_images,
                     int threads, float mean, float std, serve_model **out, cassnn_err *err);

serve_model *serve_model_ref(serve_model *m);
/* Drops a reference; frees the model with the last one. NULL is ignored. */
void serve_model_unref(serve_model *m);

#endif
