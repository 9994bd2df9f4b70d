/* source.c - a run's images, in memory or streamed (see source.h). */
#include "source.h"

#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int empty_table(const run_source *src, cassnn_err *err) {
    return cassnn_err_set(err, "%s.%s has no rows: ingest data first (cassnn ingest)",
                          src->keyspace, src->table);
}

int run_sources_open_tables(run_source *out, int n, cql_session *s, const char *keyspace,
                            const char *const *tables, size_t budget, const run_events *events,
                            cassnn_err *err) {
    run_tables_plan p = {.keyspace = keyspace, .n = n, .memory_budget = budget};
    memset(out, 0, (size_t)n * sizeof *out);
    for (int i = 0; i < n; i++) {
        out[i].keyspace = keyspace;
        out[i].table = p.tables[i] = tables[i];
        if (data_table_size_of(s, keyspace, tables[i], &p.sizes[i], err)) return -1;
        if (p.sizes[i].rows == 0) return empty_table(&out[i], err);
    }
    data_plan_tables(p.sizes, n, budget, &p.plan);
    if (events->planned) events->planned(events->user, &p);
    const double t0 = now_seconds();
    size_t loaded = 0;
    for (int i = 0; i < n; i++) {
        run_source *src = &out[i];
        src->stream_budget = p.plan.stream_budget[i];
        if (src->stream_budget) {
            /* the shape and row count of what the stream will hand out (the
             * count is exact once the stream opens) */
            const data_shape sh = p.sizes[i].shape;
            src->images = (data_images){.count = (size_t)p.sizes[i].rows, .channels = sh.channels,
                                        .rows = sh.rows, .cols = sh.cols};
            src->counted_rows = p.sizes[i].estimated ? 0 : p.sizes[i].rows;
            continue;
        }
        if (data_table_load(s, keyspace, tables[i], NULL, &src->images, err)) return -1;
        if (src->images.count == 0) return empty_table(src, err);
        loaded += src->images.count;
    }
    if (loaded && events->loaded) events->loaded(events->user, loaded, now_seconds() - t0);
    return 0;
}

int run_source_start(run_source *src, cql_session *s, int shuffle, uint64_t seed, float mean,
                     float std, const run_events *events, cassnn_err *err) {
    if (!src->stream_budget)
        return data_feed_init(&src->feed, &src->images, mean, std, shuffle, seed, err);
    const data_stream_options o = {
        .memory_budget = src->stream_budget, .shuffle = shuffle, .seed = seed, .mean = mean,
        .std = std, .rows = src->counted_rows,
        .shape = {src->images.channels, src->images.rows, src->images.cols}};
    if (data_stream_open(&src->stream, s, src->keyspace, src->table, &o, err)) return -1;
    src->images.count = (size_t)data_stream_rows(src->stream);
    const run_stream_info info = {src->keyspace, src->table, shuffle,
                                  data_stream_rows(src->stream),
                                  data_stream_buffer_rows(src->stream),
                                  data_stream_memory(src->stream), src->stream_budget};
    if (events->streaming) events->streaming(events->user, &info);
    return 0;
}

void run_source_resume_at(run_source *src, long images) {
    if (src->stream) data_stream_resume_at(src->stream, images);
    else data_feed_resume_at(&src->feed, images);
}

nn_batch_source run_source_batches(run_source *src) {
    return src->stream ? data_stream_batches(src->stream) : data_feed_batches(&src->feed);
}

int run_source_next(run_source *src, float *x, int32_t *labels, int32_t *ids, int max,
                    long done, cassnn_err *err) {
    if (src->stream) return data_stream_next(src->stream, x, labels, ids, max, err);
    nn_batch_source b = data_feed_batches(&src->feed);
    const int got = b.next(b.ctx, x, labels, max, err);
    /* unshuffled: the set's own order */
    for (int i = 0; i < got; i++) ids[i] = src->images.ids[done + i];
    return got;
}

void run_source_free(run_source *src) {
    data_stream_close(src->stream);
    data_feed_free(&src->feed);
    data_images_free(&src->images);
    memset(src, 0, sizeof *src);
}

int run_normalisation(const char *dataset, const char *keyspace, float *mean, float *std,
                      cassnn_err *err) {
    if (!dataset) dataset = keyspace && strstr(keyspace, "fashion") ? "fashion" : "mnist";
    if (data_feed_normalisation(dataset, mean, std))
        return cassnn_err_set(err, "dataset %s: expected mnist or fashion", dataset);
    return 0;
}
