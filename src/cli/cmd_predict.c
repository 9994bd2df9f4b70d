/* cmd_predict.c - `cassnn predict`: a stored model (best by accuracy, or an
 * id) classifies the rows of a raw table or image files; with labels it also
 * reports accuracy and the confusion matrix; --write stores the predictions
 * in KS.predictions for other systems to read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/feed.h"
#include "cassnn/idx.h"
#include "cassnn/png_dir.h"
#include "cassnn/registry.h"
#include "cassnn/schema.h"
#include "cassnn/stream.h"
#include "commands.h"
#include "connect.h"

enum { BATCH = 1000 };

typedef struct predict_args {
    const char *keyspace, *model, *table, *idx, *labels, *png, *dataset, *host;
    int port, write, quiet;
    size_t memory_budget;
} predict_args;

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn predict --keyspace KS [options]\n"
            "  --model ID            the checkpoint to use (default: best by accuracy in models_test)\n"
            "  --table T             raw table to classify (default raw_predict; raw_test also\n"
            "                        prints accuracy and the confusion matrix)\n"
            "  --idx FILE [--labels FILE]  classify an IDX image file instead\n"
            "  --png DIR             classify DIR/<label>/*.png instead\n"
            "  --dataset mnist|fashion  normalisation (default from the keyspace name)\n"
            "  --write               store (model_id, id, label, probability) in KS.predictions\n"
            "  --quiet               only the summary, not one line per image\n"
            "  --memory-budget SIZE  memory for the table (e.g. 64M; default: half of MemAvailable):\n"
            "                        a larger table is streamed instead of loaded\n"
            "  --host H --port P     the node (default $CASSNN_HOST/$CASSNN_PORT or 127.0.0.1:9042)\n");
}

static int parse_args(int argc, char **argv, predict_args *a) {
    *a = (predict_args){.table = "raw_predict", .memory_budget = data_default_memory_budget()};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char **value = NULL;
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(f, "--write")) {
            a->write = 1;
            continue;
        } else if (!strcmp(f, "--quiet")) {
            a->quiet = 1;
            continue;
        } else if (!strcmp(f, "--keyspace")) value = &a->keyspace;
        else if (!strcmp(f, "--model")) value = &a->model;
        else if (!strcmp(f, "--table")) value = &a->table;
        else if (!strcmp(f, "--idx")) value = &a->idx;
        else if (!strcmp(f, "--labels")) value = &a->labels;
        else if (!strcmp(f, "--png")) value = &a->png;
        else if (!strcmp(f, "--dataset")) value = &a->dataset;
        else if (!strcmp(f, "--host")) value = &a->host;
        else if (!strcmp(f, "--port") && i + 1 < argc) {
            a->port = atoi(argv[++i]);
            continue;
        } else if (!strcmp(f, "--memory-budget") && i + 1 < argc) {
            if (data_parse_size(argv[++i], &a->memory_budget)) {
                fprintf(stderr, "cassnn predict: --memory-budget '%s': expected a size such as "
                                "64M or 2G\n", argv[i]);
                return 2;
            }
            continue;
        }
        if (!value || i + 1 >= argc) {
            fprintf(stderr, "cassnn predict: unexpected or incomplete argument '%s'\n", f);
            usage(stderr);
            return 2;
        }
        *value = argv[++i];
    }
    if (!a->keyspace || !registry_valid_name(a->keyspace) || !registry_valid_name(a->table)) {
        fprintf(stderr, "cassnn predict: --keyspace KS is required (names: letters, digits, _)\n");
        return 2;
    }
    if (a->idx && a->png) {
        fprintf(stderr, "cassnn predict: give --idx or --png, not both\n");
        return 2;
    }
    if (!a->dataset) a->dataset = strstr(a->keyspace, "fashion") ? "fashion" : "mnist";
    float mean, std;
    if (data_feed_normalisation(a->dataset, &mean, &std)) {
        fprintf(stderr, "cassnn predict: --dataset %s: expected mnist or fashion\n", a->dataset);
        return 2;
    }
    return 0;
}

/* The model: --model ID, else the best by accuracy. */
static int load_model(cql_session *s, const predict_args *a, registry_model *m, nn_net *net,
                      cassnn_err *err) {
    uint8_t id[16];
    if (a->model) {
        if (registry_uuid_parse(a->model, id, err)) return -1;
    } else {
        registry_model best;
        if (registry_best(s, a->keyspace, REGISTRY_BY_ACCURACY, NULL, NULL, &best, err)) return -1;
        memcpy(id, best.id, 16);
    }
    if (registry_get(s, a->keyspace, id, m, err)) return -1;
    if (!m->network) return cassnn_err_set(err, "the model has no network blob");
    return blob_net_decode(m->network, m->network_len, &blob_tutorial_model, net, err);
}

/* Files, or a table: loaded once when it fits the budget, else streamed
 * in token order (*stream set; *out then has the shape and row count). */
static int load_images(cql_session *s, const predict_args *a, float mean, float std,
                       data_images *out, data_stream **stream, char *source, size_t cap,
                       cassnn_err *err) {
    if (a->idx) {
        snprintf(source, cap, "%s", a->idx);
        return data_idx_load(a->idx, a->labels, out, err);
    }
    if (a->png) {
        snprintf(source, cap, "%s", a->png);
        return data_png_dir_load(a->png, 0, out, NULL, err);
    }
    snprintf(source, cap, "%s.%s", a->keyspace, a->table);
    long rows;
    int exact;
    if (data_table_rows(s, a->keyspace, a->table, NULL, &rows, &exact, err)) return -1;
    const size_t need = data_load_once_bytes(rows);
    const int streaming = need > a->memory_budget;
    /* stderr: stdout is the predictions' CSV */
    fprintf(stderr, "%s: %s%ld rows (%s), %.1f MB while loading %s budget %.1f MB: %s\n", source,
            exact ? "" : "~", rows, exact ? "counted" : "system.size_estimates",
            (double)need / 1048576.0, streaming ? ">" : "<=",
            (double)a->memory_budget / 1048576.0, streaming ? "streaming" : "load-once");
    if (!streaming) return data_table_load(s, a->keyspace, a->table, NULL, out, err);
    data_stream_options o = {.memory_budget = a->memory_budget, .mean = mean, .std = std,
                             .rows = exact ? rows : 0};
    if (data_stream_open(stream, s, a->keyspace, a->table, &o, err)) return -1;
    memset(out, 0, sizeof *out);
    out->count = (size_t)data_stream_rows(*stream);
    out->channels = 1;
    out->rows = out->cols = 28;
    return 0;
}

static void print_confusion(const long *confusion, int classes) {
    printf("confusion matrix (rows: true label, columns: predicted):\n      ");
    for (int p = 0; p < classes; p++) printf("%6d", p);
    printf("\n");
    for (int t = 0; t < classes; t++) {
        printf("%6d", t);
        for (int p = 0; p < classes; p++) printf("%6ld", confusion[t * classes + p]);
        printf("\n");
    }
}

static int predict(const predict_args *a) {
    cassnn_err err = {0};
    cql_session *s = NULL;
    registry_model m = {0};
    nn_net net = {0};
    nn_exec *exec = NULL;
    data_images images = {0};
    data_feed feed = {0};
    data_stream *stream = NULL;
    float *x = NULL, *logp = NULL, *prob = NULL;
    int32_t *labels = NULL, *predicted = NULL, *batch_labels = NULL;
    int32_t *row_ids = NULL, *batch_ids = NULL; /* streaming: the ids as they come */
    long *confusion = NULL;
    char source[1100], model_id[37];
    int rc = 1;
    float mean, std;
    data_feed_normalisation(a->dataset, &mean, &std);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cli_connect(a->host, a->port, 0, &s, &err) || load_model(s, a, &m, &net, &err) ||
        load_images(s, a, mean, std, &images, &stream, source, sizeof source, &err))
        goto fail;
    registry_uuid_format(m.id, model_id);
    if (images.channels != net.in_c || images.rows != net.in_h || images.cols != net.in_w) {
        cassnn_err_set(&err, "%s: images are %dx%dx%d but model %s takes %dx%dx%d", source,
                       images.channels, images.rows, images.cols, model_id, net.in_c, net.in_h,
                       net.in_w);
        goto fail;
    }
    const size_t n = images.count;
    const long image = (long)data_image_size(&images);
    x = malloc(sizeof *x * (size_t)(BATCH * image));
    logp = malloc(sizeof *logp * (size_t)BATCH * (size_t)net.classes);
    batch_labels = malloc(sizeof *batch_labels * BATCH);
    predicted = malloc(sizeof *predicted * (n ? n : 1));
    labels = malloc(sizeof *labels * (n ? n : 1));
    prob = malloc(sizeof *prob * (n ? n : 1));
    confusion = calloc((size_t)(net.classes * net.classes), sizeof *confusion);
    if (stream) {
        row_ids = malloc(sizeof *row_ids * (n ? n : 1));
        batch_ids = malloc(sizeof *batch_ids * BATCH);
    }
    if (!x || !logp || !batch_labels || !predicted || !labels || !prob || !confusion ||
        (stream && (!row_ids || !batch_ids))) {
        cassnn_err_set(&err, "out of memory for %zu images", n);
        goto fail;
    }
    if (nn_exec_create(&exec, &net, 0, BATCH, cpus > 0 ? (int)cpus : 1, 0, &err) ||
        (!stream && data_feed_init(&feed, &images, mean, std, 0, 0, &err)))
        goto fail;
    nn_batch_source src = stream ? data_stream_batches(stream) : data_feed_batches(&feed);
    const int32_t *ids = stream ? row_ids : images.ids;
    if (src.begin_epoch(src.ctx, 1, &err)) goto fail;
    size_t done = 0;
    long labelled = 0, correct = 0;
    for (int got; (got = stream ? data_stream_next(stream, x, batch_labels, batch_ids, BATCH, &err)
                                : src.next(src.ctx, x, batch_labels, BATCH, &err)) != 0;
         done += (size_t)got) {
        if (got < 0) goto fail;
        if (done + (size_t)got > n) {
            cassnn_err_set(&err, "%s: more than the %zu rows counted at start (written to while "
                                 "predicting?)", source, n);
            goto fail;
        }
        if (stream) memcpy(row_ids + done, batch_ids, sizeof *batch_ids * (size_t)got);
        nn_exec_eval_batch(exec, x, NULL, got, logp, NULL, NULL);
        for (int i = 0; i < got; i++) {
            const float *row = logp + (long)i * net.classes;
            int best = 0;
            for (int c = 1; c < net.classes; c++)
                if (row[c] > row[best]) best = c;
            const size_t k = done + (size_t)i;
            predicted[k] = best;
            prob[k] = expf(row[best]);
            labels[k] = batch_labels[i];
            if (labels[k] >= 0 && labels[k] < net.classes) {
                labelled++;
                correct += labels[k] == best;
                confusion[labels[k] * net.classes + best]++;
            }
        }
    }
    if (done != n) {
        cassnn_err_set(&err, "%s: %zu rows read, %zu counted at start (written to while "
                             "predicting?)", source, done, n);
        goto fail;
    }
    if (!a->quiet) {
        printf("id,label,probability\n");
        for (size_t k = 0; k < n; k++)
            printf("%d,%d,%.6f\n", ids[k], predicted[k], (double)prob[k]);
    }
    printf("model %s predicted %zu images of %s\n", model_id, n, source);
    if (labelled > 0) {
        printf("accuracy: %ld/%ld (%.2f%%)\n", correct, labelled,
               100.0 * (double)correct / (double)labelled);
        print_confusion(confusion, net.classes);
    }
    if (a->write) {
        if (registry_predictions_write(s, a->keyspace, m.id, ids, predicted, prob, n, &err))
            goto fail;
        printf("wrote %zu predictions to %s.predictions (model_id %s)\n", n, a->keyspace,
               model_id);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "cassnn predict: %s\n", err.msg);
done:
    data_feed_free(&feed);
    data_stream_close(stream);
    free(row_ids);
    free(batch_ids);
    nn_exec_free(exec);
    nn_net_free(&net);
    registry_model_free(&m);
    data_images_free(&images);
    free(x);
    free(logp);
    free(batch_labels);
    free(predicted);
    free(labels);
    free(prob);
    free(confusion);
    cql_session_close(s);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    predict_args a;
    int status = parse_args(argc, argv, &a);
    if (status) return status < 0 ? 0 : status;
    return predict(&a);
}
