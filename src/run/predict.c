/* predict.c - a predict run (see run.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/idx.h"
#include "cassnn/png_dir.h"
#include "cassnn/registry_alias.h"
#include "cassnn/schema.h"
#include "source.h"

enum { BATCH = 1000 };

/* The model: o->model (an id, "best" or an alias), else the best by
 * accuracy. */
static int load_model(cql_session *s, const run_predict_options *o, run_predictions *out,
                      nn_net *net, cassnn_err *err) {
    if (registry_model_resolve(s, o->keyspace, o->model ? o->model : REGISTRY_ALIAS_BEST,
                               out->model, err))
        return -1;
    registry_uuid_format(out->model, out->model_id);
    return registry_load_net(s, o->keyspace, out->model, o->fallback, net, NULL, err);
}

/* Files, or a table: loaded once when it fits the budget, else streamed in
 * token order. */
static int open_images(cql_session *s, const run_predict_options *o, float mean, float std,
                       const run_events *events, run_source *src, char *source, size_t cap,
                       cassnn_err *err) {
    memset(src, 0, sizeof *src);
    int rc;
    if (o->idx || o->png) {
        snprintf(source, cap, "%s", o->idx ? o->idx : o->png);
        rc = o->idx ? data_idx_load(o->idx, o->labels, &src->images, err)
                    : data_png_dir_load(o->png, 0, &src->images, NULL, err);
    } else {
        const char *table = o->table ? o->table : "raw_predict";
        snprintf(source, cap, "%s.%s", o->keyspace, table);
        rc = run_sources_open_tables(src, 1, s, o->keyspace, &table,
                                     o->memory_budget ? o->memory_budget
                                                      : data_default_memory_budget(),
                                     events, err);
    }
    return rc ? -1 : run_source_start(src, s, 0, 0, mean, std, events, err);
}

static int alloc_predictions(run_predictions *p, size_t n, int classes, cassnn_err *err) {
    const size_t k = n ? n : 1;
    p->count = n;
    p->classes = classes;
    p->ids = malloc(k * sizeof *p->ids);
    p->labels = malloc(k * sizeof *p->labels);
    p->predicted = malloc(k * sizeof *p->predicted);
    p->probability = malloc(k * sizeof *p->probability);
    p->confusion = calloc((size_t)classes * (size_t)classes, sizeof *p->confusion);
    if (!p->ids || !p->labels || !p->predicted || !p->probability || !p->confusion)
        return cassnn_err_set(err, "out of memory for %zu predictions", n);
    return 0;
}

/* Row k of the predictions from its log-probabilities. */
static void predict_row(run_predictions *p, size_t k, const float *logp, int32_t label) {
    int best = 0;
    for (int c = 1; c < p->classes; c++)
        if (logp[c] > logp[best]) best = c;
    p->predicted[k] = best;
    p->probability[k] = expf(logp[best]);
    p->labels[k] = label;
    if (label >= 0 && label < p->classes) {
        p->labelled++;
        p->correct += label == best;
        p->confusion[label * p->classes + best]++;
    }
}

/* Every image through the net, a batch at a time. */
static int classify(run_source *src, nn_exec *exec, const nn_net *net, run_predictions *p,
                    cassnn_err *err) {
    const size_t image = (size_t)net->in_c * (size_t)net->in_h * (size_t)net->in_w;
    float *x = malloc(sizeof *x * BATCH * image);
    float *logp = malloc(sizeof *logp * BATCH * (size_t)net->classes);
    int32_t labels[BATCH];
    int rc = -1;
    nn_batch_source b = run_source_batches(src);
    size_t done = 0;
    if (!x || !logp) {
        cassnn_err_set(err, "%s: out of memory", p->source);
        goto done;
    }
    if (b.begin_epoch(b.ctx, 1, err)) goto done;
    for (int got; (got = run_source_next(src, x, labels, p->ids + done, BATCH, (long)done,
                                         err)) != 0;
         done += (size_t)got) {
        if (got < 0) goto done;
        if (done + (size_t)got > p->count) {
            cassnn_err_set(err, "%s: more than the %zu rows counted at start (written to while "
                                "predicting?)", p->source, p->count);
            goto done;
        }
        nn_exec_eval_batch(exec, x, NULL, got, logp, NULL, NULL);
        for (int i = 0; i < got; i++)
            predict_row(p, done + (size_t)i, logp + (size_t)i * (size_t)net->classes, labels[i]);
    }
    if (done != p->count)
        cassnn_err_set(err, "%s: %zu rows read, %zu counted at start (written to while "
                            "predicting?)", p->source, done, p->count);
    else rc = 0;
done:
    free(x);
    free(logp);
    return rc;
}

int run_predict(cql_session *s, const run_predict_options *o, const run_events *events,
                run_predictions *out, cassnn_err *err) {
    memset(out, 0, sizeof *out);
    const run_events none = {0};
    if (!events) events = &none;
    if (!s) return cassnn_err_set(err, "a predict run needs a session: its model is in the registry");
    if (!o->keyspace || !registry_valid_name(o->keyspace) ||
        (o->table && !registry_valid_name(o->table)))
        return cassnn_err_set(err, "keyspace and table names are letters, digits and _ (at most 48)");
    if (o->idx && o->png) return cassnn_err_set(err, "an IDX file or a PNG folder, not both");
    float mean, std;
    nn_net net = {0};
    nn_exec *exec = NULL;
    run_source src = {0};
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = o->threads > 0 ? o->threads : cpus > 0 ? (int)cpus : 1;
    int rc = run_normalisation(o->dataset, o->keyspace, &mean, &std, err) ||
             load_model(s, o, out, &net, err) ||
             open_images(s, o, mean, std, events, &src, out->source, sizeof out->source, err);
    const data_images *d = &src.images;
    if (rc == 0 && (d->channels != net.in_c || d->rows != net.in_h || d->cols != net.in_w))
        rc = cassnn_err_set(err, "%s: images are %dx%dx%d but model %s takes %dx%dx%d",
                            out->source, d->channels, d->rows, d->cols, out->model_id, net.in_c,
                            net.in_h, net.in_w);
    if (rc == 0)
        rc = alloc_predictions(out, d->count, net.classes, err) ||
             nn_exec_create(&exec, &net, 0, BATCH, threads, 0, err) ||
             classify(&src, exec, &net, out, err);
    nn_exec_free(exec);
    nn_net_free(&net);
    run_source_free(&src);
    if (rc) run_predictions_free(out);
    return rc ? -1 : 0;
}

int run_predictions_write(cql_session *s, const char *keyspace, const run_predictions *p,
                          cassnn_err *err) {
    return registry_predictions_write(s, keyspace, p->model, p->ids, p->predicted,
                                      p->probability, p->count, err);
}

void run_predictions_free(run_predictions *p) {
    free(p->ids);
    free(p->labels);
    free(p->predicted);
    free(p->probability);
    free(p->confusion);
    p->ids = p->labels = p->predicted = NULL;
    p->probability = NULL;
    p->confusion = NULL;
}
