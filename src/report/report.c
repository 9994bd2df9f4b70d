/* report.c - the HTML training report (see report.h). */
#include "cassnn/report.h"

#include <math.h>
#include <openssl/evp.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/feed.h"
#include "cassnn/nn.h"
#include "cassnn/png_dir.h"
#include "cassnn/registry.h"
#include "cassnn/registry_alias.h"
#include "cassnn/run.h"
#include "cassnn/stream.h"
#include "cassnn/table_plan.h"
#include "svg.h"

static const char *const run_colours[] = {"#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf"};
#define RUN_COLOUR(k) run_colours[(k) % 5]
#define TEST_COLOUR "#d62728"

typedef struct wrong_image {
    size_t index;               /* into the test set */
    int predicted;
    float probability;
} wrong_image;

/* Everything one keyspace's column shows. */
typedef struct ks_report {
    const char *keyspace;
    char train_table[64], test_table[64];
    int fashion;
    registry_model *rows;       /* registry_list: newest first */
    size_t n_rows;
    registry_model **by_time;   /* oldest first */
    double *seen;               /* examples seen, per by_time row */
    int *run;                   /* run index, per by_time row */
    int runs;
    long train_rows;
    int train_exact;
    data_images test;
    registry_model model;       /* the evaluated model's row (without blobs) */
    char model_id[37];
    char *description;
    int classes;
    long *confusion;            /* [true][predicted] */
    long correct, total;
    wrong_image *wrong;
    int n_wrong;
} ks_report;

static void ks_report_free(ks_report *r) {
    free(r->rows);
    free(r->by_time);
    free(r->seen);
    free(r->run);
    data_images_free(&r->test);
    free(r->description);
    free(r->confusion);
    free(r->wrong);
}

static int oldest_first(const void *a, const void *b) {
    const int64_t x = (*(registry_model *const *)a)->upload_ms,
                  y = (*(registry_model *const *)b)->upload_ms;
    return (x > y) - (x < y);
}

/* Positions in examples seen and runs (see report.h). */
static void place_rows(ks_report *r) {
    double last_pos = 0; /* in epochs, of the current run's last train row */
    int have_train = 0;
    r->runs = 1;
    for (size_t i = 0; i < r->n_rows; i++) {
        const registry_model *m = r->by_time[i];
        if (m->table == REGISTRY_TRAIN) {
            const double pos = (m->epoch - 1) + atof(m->batch_percent) / 100.0;
            if (have_train && pos < last_pos - 1e-9) r->runs++;
            last_pos = pos;
            have_train = 1;
            r->seen[i] = pos * (double)r->train_rows;
        } else {
            r->seen[i] = (have_train ? round(last_pos) : 0.0) * (double)r->train_rows;
        }
        r->run[i] = r->runs - 1;
    }
}

/* The table of a pair (tutorial layout, blob layout) that has rows. */
static int pick_table(cql_session *s, const char *ks, const char *given, const char *plain,
                      char *out, size_t cap, long *rows, int *exact, cassnn_err *err) {
    const char *names[2] = {given ? given : plain, NULL};
    char blob[64];
    snprintf(blob, sizeof blob, "%s_blob", plain);
    if (!given) names[1] = blob;
    for (int i = 0; i < 2 && names[i]; i++) {
        cassnn_err e = {0};
        data_table_size size;
        if (data_table_size_of(s, ks, names[i], &size, &e)) {
            if (given || i == 1) {
                *err = e;
                return -1;
            }
            continue;
        }
        snprintf(out, cap, "%s", names[i]);
        *rows = size.rows;
        *exact = !size.estimated;
        if (*rows > 0) return 0;
    }
    return cassnn_err_set(err, "%s.%s has no rows%s", ks, names[0],
                          given ? "" : " (nor its _blob table)");
}

/* Runs the model over the test set: confusion matrix and the most
 * confidently wrong images. */
static int evaluate(ks_report *r, nn_net *net, int wrong_max, int threads, cassnn_err *err) {
    enum { BATCH = 500 };
    float mean, std;
    if (run_normalisation(NULL, r->keyspace, &mean, &std, err)) return -1;
    const size_t image = data_image_size(&r->test);
    if (r->test.channels != net->in_c || r->test.rows != net->in_h || r->test.cols != net->in_w)
        return cassnn_err_set(err, "%s.%s holds %dx%dx%d images, model %s takes %dx%dx%d",
                              r->keyspace, r->test_table, r->test.channels, r->test.rows,
                              r->test.cols, r->model_id, net->in_c, net->in_h, net->in_w);
    r->classes = net->classes;
    r->confusion = calloc((size_t)(net->classes * net->classes), sizeof *r->confusion);
    r->wrong = calloc((size_t)wrong_max + 1, sizeof *r->wrong);
    float *x = malloc(sizeof *x * BATCH * image);
    float *logp = malloc(sizeof *logp * BATCH * (size_t)net->classes);
    nn_exec *exec = NULL;
    int rc = -1;
    if (!r->confusion || !r->wrong || !x || !logp) {
        cassnn_err_set(err, "out of memory evaluating %s", r->model_id);
        goto done;
    }
    if (nn_exec_create(&exec, net, 0, BATCH, threads, 0, err)) goto done;
    for (size_t start = 0; start < r->test.count; start += BATCH) {
        const int n = (int)(r->test.count - start < BATCH ? r->test.count - start : BATCH);
        for (size_t i = 0; i < (size_t)n * image; i++)
            x[i] = ((float)r->test.pixels[start * image + i] / 255.0f - mean) / std;
        nn_exec_eval_batch(exec, x, NULL, n, logp, NULL, NULL);
        for (int i = 0; i < n; i++) {
            const float *lp = logp + (size_t)i * (size_t)net->classes;
            int best = 0;
            for (int c = 1; c < net->classes; c++)
                if (lp[c] > lp[best]) best = c;
            const int label = r->test.labels[start + (size_t)i];
            if (label < 0 || label >= net->classes) continue;
            r->total++;
            r->confusion[label * net->classes + best]++;
            if (label == best) {
                r->correct++;
                continue;
            }
            /* keep the wrong_max most confident mistakes, most confident first */
            const float p = expf(lp[best]);
            int k = r->n_wrong;
            while (k > 0 && r->wrong[k - 1].probability < p) {
                r->wrong[k] = r->wrong[k - 1];
                k--;
            }
            if (k < wrong_max) {
                r->wrong[k] = (wrong_image){start + (size_t)i, best, p};
                if (r->n_wrong < wrong_max) r->n_wrong++;
            }
        }
    }
    rc = 0;
done:
    nn_exec_free(exec);
    free(x);
    free(logp);
    return rc;
}

static int gather(cql_session *s, const report_options *o, const char *ks, ks_report *r,
                  cassnn_err *err) {
    memset(r, 0, sizeof *r);
    r->keyspace = ks;
    r->fashion = strstr(ks, "fashion") != NULL;
    long test_rows;
    int test_exact;
    if (registry_list(s, ks, &r->rows, &r->n_rows, err)) return -1;
    if (r->n_rows == 0) return cassnn_err_set(err, "%s has no checkpoints (train a model first)", ks);
    if (pick_table(s, ks, o->train_table, "raw_train", r->train_table, sizeof r->train_table,
                   &r->train_rows, &r->train_exact, err) ||
        pick_table(s, ks, o->test_table, "raw_test", r->test_table, sizeof r->test_table,
                   &test_rows, &test_exact, err) ||
        data_table_load(s, ks, r->test_table, NULL, &r->test, err))
        return -1;
    r->by_time = malloc(sizeof *r->by_time * r->n_rows);
    r->seen = malloc(sizeof *r->seen * r->n_rows);
    r->run = malloc(sizeof *r->run * r->n_rows);
    if (!r->by_time || !r->seen || !r->run) return cassnn_err_set(err, "out of memory");
    for (size_t i = 0; i < r->n_rows; i++) r->by_time[i] = &r->rows[i];
    qsort(r->by_time, r->n_rows, sizeof *r->by_time, oldest_first);
    place_rows(r);

    uint8_t id[16];
    nn_net net;
    if (registry_model_resolve(s, ks, o->model ? o->model : REGISTRY_ALIAS_BEST, id, err) ||
        registry_load_net(s, ks, id, NULL, &net, &r->model, err))
        return -1;
    registry_uuid_format(id, r->model_id);
    r->description = strdup(net.description);
    const int rc = evaluate(r, &net, o->wrong > 0 ? o->wrong : 24, o->threads > 0 ? o->threads : 2, err);
    nn_net_free(&net);
    return rc;
}

/* ---- HTML ---- */

static const char *class_name(const ks_report *r, int c, char *buf, size_t cap) {
    const char *name = r->fashion ? data_fashion_class_name(c) : NULL;
    if (name) return name;
    snprintf(buf, cap, "%d", c);
    return buf;
}

/* A 28x28 gray image as a data: URI (PNG, base64). */
static char *png_data_uri(const uint8_t *pixels, int w, int h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_GRAY;
    png_alloc_size_t len = 0;
    if (!png_image_write_to_memory(&img, NULL, &len, 0, pixels, 0, NULL)) return NULL;
    unsigned char *png = malloc(len);
    char *uri = malloc(22 + 4 * ((len + 2) / 3) + 1);
    if (png && uri && png_image_write_to_memory(&img, png, &len, 0, pixels, 0, NULL)) {
        memcpy(uri, "data:image/png;base64,", 22);
        EVP_EncodeBlock((unsigned char *)uri + 22, png, (int)len);
        free(png);
        return uri;
    }
    free(png);
    free(uri);
    return NULL;
}

static void loss_chart(FILE *f, const ks_report *r, int w) {
    double xmax = 0, ymax = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        if (r->seen[i] > xmax) xmax = r->seen[i];
        if (isfinite(r->by_time[i]->loss) && r->by_time[i]->loss > ymax) ymax = r->by_time[i]->loss;
    }
    double *x = malloc(sizeof *x * (r->n_rows + 1)), *y = malloc(sizeof *y * (r->n_rows + 1));
    if (!x || !y) {
        free(x);
        free(y);
        return;
    }
    svg_chart c;
    svg_chart_begin(&c, f, w, 300, 0, xmax > 0 ? xmax : 1, 0, ymax > 0 ? ymax * 1.05 : 1,
                    "number of training examples seen", "negative log likelihood loss");
    for (int run = 0; run < r->runs; run++) {
        for (int t = 0; t < 2; t++) {
            size_t n = 0;
            for (size_t i = 0; i < r->n_rows; i++)
                if (r->run[i] == run && (int)r->by_time[i]->table == (t ? REGISTRY_TEST : REGISTRY_TRAIN) &&
                    isfinite(r->by_time[i]->loss)) {
                    x[n] = r->seen[i];
                    y[n++] = r->by_time[i]->loss;
                }
            if (t == 0) svg_polyline(&c, x, y, n, RUN_COLOUR(run));
            else svg_points(&c, x, y, n, TEST_COLOUR, 4, NULL);
        }
    }
    for (int run = 0; run < r->runs && r->runs > 1; run++) {
        char label[32];
        snprintf(label, sizeof label, "train loss, run %d", run + 1);
        svg_legend(&c, RUN_COLOUR(run), 0, label);
    }
    if (r->runs == 1) svg_legend(&c, RUN_COLOUR(0), 0, "train loss");
    svg_legend(&c, TEST_COLOUR, 1, "test loss");
    svg_chart_end(&c);
    free(x);
    free(y);
}

static void accuracy_chart(FILE *f, const ks_report *r, int w) {
    double *x = malloc(sizeof *x * r->n_rows), *y = malloc(sizeof *y * r->n_rows);
    double xmax = 1, ymin = 100;
    for (size_t i = 0; i < r->n_rows; i++)
        if (r->by_time[i]->table == REGISTRY_TEST && isfinite(r->by_time[i]->accuracy)) {
            if (r->seen[i] / (double)r->train_rows > xmax) xmax = r->seen[i] / (double)r->train_rows;
            if (100.0 * r->by_time[i]->accuracy < ymin) ymin = 100.0 * r->by_time[i]->accuracy;
        }
    if (!x || !y) {
        free(x);
        free(y);
        return;
    }
    svg_chart c;
    const double lo = floor(ymin / 5.0) * 5.0;
    svg_chart_begin(&c, f, w, 240, 0, xmax, lo < 100 ? lo : 95, 100, "epoch", "test accuracy (%)");
    for (int run = 0; run < r->runs; run++) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_rows; i++)
            if (r->run[i] == run && r->by_time[i]->table == REGISTRY_TEST &&
                isfinite(r->by_time[i]->accuracy)) {
                x[n] = r->seen[i] / (double)r->train_rows;
                y[n++] = 100.0 * r->by_time[i]->accuracy;
            }
        svg_polyline(&c, x, y, n, RUN_COLOUR(run));
        svg_points(&c, x, y, n, RUN_COLOUR(run), 3.5, NULL);
    }
    svg_chart_end(&c);
    free(x);
    free(y);
}

static void confusion_chart(FILE *f, const ks_report *r) {
    /* class names (Fashion-MNIST) need room on the left and above */
    const int k = r->classes, cell = 30, left = r->fashion ? 96 : 40, top = r->fashion ? 96 : 40;
    long max = 1;
    for (int i = 0; i < k * k; i++)
        if (r->confusion[i] > max && i % (k + 1) != 0) max = r->confusion[i];
    char buf[16];
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"10\" class=\"confusion\">\n",
            left + k * cell + (r->fashion ? 60 : 8), top + k * cell + 8);
    fprintf(f, "<text x=\"%d\" y=\"12\" text-anchor=\"middle\" font-size=\"11\">predicted</text>"
               "<text transform=\"translate(10 %d) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"11\">true label</text>\n", left + k * cell / 2, top + k * cell / 2);
    for (int c = 0; c < k; c++) {
        fprintf(f, "<text transform=\"translate(%d %d) rotate(-45)\">%s</text>", left + c * cell + 12,
                top - 4, class_name(r, c, buf, sizeof buf));
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 4,
                top + c * cell + 19, class_name(r, c, buf, sizeof buf));
    }
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            const long n = r->confusion[t * k + p];
            /* the diagonal in green, mistakes in red by their share of the largest */
            const double a = t == p ? 0.35 : 0.1 + 0.9 * (double)n / (double)max;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                       "fill-opacity=\"%.2f\" stroke=\"#ccc\"/><text x=\"%d\" y=\"%d\" "
                       "text-anchor=\"middle\" data-true=\"%d\" data-predicted=\"%d\">%ld</text>\n",
                    left + p * cell, top + t * cell, cell, cell,
                    t == p ? "#2ca02c" : (n ? "#d62728" : "#fff"), n || t == p ? a : 1.0,
                    left + p * cell + cell / 2, top + t * cell + 19, t, p, n);
        }
    fprintf(f, "</svg>\n");
}

static void per_class_chart(FILE *f, const ks_report *r, int w) {
    const int k = r->classes, h = 220, left = 40, bottom = 50, top = 10;
    const double bw = (double)(w - left - 10) / k;
    char buf[16];
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"10\">\n", w, h);
    for (int v = 0; v <= 100; v += 25)
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n", left, w - 10,
                top + (h - top - bottom) * (1 - v / 100.0), top + (h - top - bottom) * (1 - v / 100.0),
                left - 4, top + (h - top - bottom) * (1 - v / 100.0) + 3, v);
    for (int c = 0; c < k; c++) {
        long n = 0;
        for (int p = 0; p < k; p++) n += r->confusion[c * k + p];
        const double acc = n ? (double)r->confusion[c * k + c] / (double)n : 0.0;
        const double bh = (h - top - bottom) * acc, x = left + c * bw;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a78c2\">"
                   "<title>%s: %ld of %ld (%.2f%%)</title></rect>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f</text>"
                   "<text transform=\"translate(%.1f %d) rotate(-40)\" text-anchor=\"end\">%s</text>\n",
                x + 2, top + (h - top - bottom) - bh, bw - 4, bh, class_name(r, c, buf, sizeof buf),
                r->confusion[c * k + c], n, 100 * acc, x + bw / 2, top + (h - top - bottom) - bh - 2,
                100 * acc, x + bw / 2 + 3, h - bottom + 12, class_name(r, c, buf, sizeof buf));
    }
    fprintf(f, "</svg>\n");
}

static void wrong_grid(FILE *f, const ks_report *r) {
    const int per_row = 6, cell = 76, size = 56;
    const int rows = (r->n_wrong + per_row - 1) / per_row;
    char a[16], b[16];
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"10\" class=\"wrong\">\n",
            per_row * cell, rows * (cell + 14));
    for (int i = 0; i < r->n_wrong; i++) {
        const wrong_image *w = &r->wrong[i];
        const size_t image = data_image_size(&r->test);
        char *uri = png_data_uri(r->test.pixels + w->index * image, r->test.cols, r->test.rows);
        const int x = (i % per_row) * cell, y = (i / per_row) * (cell + 14);
        if (uri)
            fprintf(f, "<image x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                       "style=\"image-rendering:pixelated\" href=\"%s\"/>", x + 10, y, size, size, uri);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" data-id=\"%d\">"
                   "%s &#8594; %s %.0f%%</text>\n", x + 10 + size / 2, y + size + 12,
                r->test.ids[w->index], class_name(r, r->test.labels[w->index], a, sizeof a),
                class_name(r, w->predicted, b, sizeof b), 100.0 * w->probability);
        free(uri);
    }
    fprintf(f, "</svg>\n");
}

static void checkpoint_table(FILE *f, const ks_report *r) {
    fprintf(f, "<details><summary>all %zu checkpoints (newest first)</summary>\n"
               "<table class=\"checkpoints\"><tr><th>id</th><th>table</th><th>upload_date (UTC)</th>"
               "<th>epoch</th><th>batch_percent</th><th>loss</th><th>accuracy</th>"
               "<th>examples seen</th></tr>\n", r->n_rows);
    for (size_t k = r->n_rows; k-- > 0;) {
        const registry_model *m = r->by_time[k];
        char id[37], when[32], acc[24] = "", epoch[16] = "";
        registry_uuid_format(m->id, id);
        const time_t t = (time_t)(m->upload_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        if (!isnan(m->accuracy)) snprintf(acc, sizeof acc, "%.4f", (double)m->accuracy);
        if (m->epoch >= 0) snprintf(epoch, sizeof epoch, "%d", m->epoch);
        fprintf(f, "<tr data-id=\"%s\" data-table=\"%s\" data-upload-ms=\"%lld\" data-epoch=\"%s\" "
                   "data-batch-percent=\"%s\" data-loss=\"%.9g\" data-accuracy=\"%.9g\">"
                   "<td><code>%s</code></td><td>%s</td><td>%s.%03d</td><td>%s</td><td>%s</td>"
                   "<td>%.6f</td><td>%s</td><td>%.0f</td></tr>\n",
                id, registry_table_name(m->table), (long long)m->upload_ms, epoch, m->batch_percent,
                (double)m->loss, (double)m->accuracy, id, registry_table_name(m->table), when,
                (int)(m->upload_ms % 1000), epoch, m->batch_percent, (double)m->loss, acc,
                r->seen[k]);
    }
    fprintf(f, "</table></details>\n");
}

static void column(FILE *f, const ks_report *r, int w) {
    long epochs = 0;
    for (size_t i = 0; i < r->n_rows; i++)
        if (r->by_time[i]->epoch > epochs) epochs = r->by_time[i]->epoch;
    fprintf(f, "<section class=\"ks\" data-keyspace=\"%s\">\n<h2>%s</h2>\n<p class=\"facts\">"
               "%zu checkpoints in %d run%s, up to epoch %ld; %s%ld rows in %s, %zu in %s.</p>\n",
            r->keyspace, r->keyspace, r->n_rows, r->runs, r->runs == 1 ? "" : "s", epochs,
            r->train_exact ? "" : "~", r->train_rows, r->train_table, r->test.count, r->test_table);
    fprintf(f, "<h3>Loss against examples seen</h3>\n");
    loss_chart(f, r, w);
    fprintf(f, "<h3>Test accuracy per epoch</h3>\n");
    accuracy_chart(f, r, w);
    fprintf(f, "<h3>Model <code>%s</code></h3>\n<p class=\"model\" data-model=\"%s\" "
               "data-correct=\"%ld\" data-total=\"%ld\" data-row-accuracy=\"%.9g\">%s; its "
               "registry row: accuracy %.4f, loss %.6f. Run again over %s here: %ld of %ld "
               "correct (%.4f).</p>\n<p class=\"desc\"><code>%s</code></p>\n",
            r->model_id, r->model_id, r->correct, r->total, (double)r->model.accuracy,
            r->model.table == REGISTRY_TEST ? "models_test" : "models_train",
            (double)r->model.accuracy, (double)r->model.loss, r->test_table, r->correct, r->total,
            r->total ? (double)r->correct / (double)r->total : 0.0, r->description);
    fprintf(f, "<h3>Confusion matrix</h3>\n");
    confusion_chart(f, r);
    fprintf(f, "<h3>Accuracy per class (%%)</h3>\n");
    per_class_chart(f, r, w);
    fprintf(f, "<h3>The %d most confidently wrong test images</h3>\n<p class=\"hint\">true "
               "&#8594; predicted, with the model's probability</p>\n", r->n_wrong);
    wrong_grid(f, r);
    fprintf(f, "<h3>Checkpoints</h3>\n");
    checkpoint_table(f, r);
    fprintf(f, "</section>\n");
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}"
    "main{padding:16px 24px}h1{font-size:22px}h2{font-size:19px;margin:4px 0}"
    "h3{font-size:15px;margin:18px 0 6px}.cols{display:flex;gap:32px;flex-wrap:wrap}"
    ".ks{flex:1;min-width:480px}svg{background:#fff;border:1px solid #ddd;display:block}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;"
    "text-align:right}td:first-child{text-align:left}.hint,.facts{color:#555}"
    ".summary td,.summary th{font-size:13px}";

int report_write(cql_session *s, const report_options *o, FILE *out, cassnn_err *err) {
    ks_report r[2];
    const int n = o->compare ? 2 : 1;
    memset(r, 0, sizeof r);
    for (int i = 0; i < n; i++)
        if (gather(s, o, i ? o->compare : o->keyspace, &r[i], err)) {
            cassnn_err_wrap(err, "report of %s", i ? o->compare : o->keyspace);
            for (int k = 0; k <= i; k++) ks_report_free(&r[k]);
            return -1;
        }
    const int w = n == 2 ? 560 : 760;
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(out, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>cassnn report: %s%s%s</title><style>%s</style></head><body><main>\n"
                 "<h1>Training report: %s%s%s</h1>\n<p class=\"hint\">Written by cassnn on %s from "
                 "the registry tables models_train and models_test; the model's numbers from "
                 "running it over the test table.</p>\n",
            o->keyspace, n == 2 ? " vs " : "", n == 2 ? o->compare : "", style, o->keyspace,
            n == 2 ? " and " : "", n == 2 ? o->compare : "", when);
    if (n == 2) {
        fprintf(out, "<table class=\"summary\"><tr><th></th><th>%s</th><th>%s</th></tr>\n",
                r[0].keyspace, r[1].keyspace);
        fprintf(out, "<tr><td>checkpoints</td><td>%zu</td><td>%zu</td></tr>\n", r[0].n_rows,
                r[1].n_rows);
        fprintf(out, "<tr><td>model test accuracy (registry row)</td><td>%.4f</td><td>%.4f</td></tr>\n",
                (double)r[0].model.accuracy, (double)r[1].model.accuracy);
        fprintf(out, "<tr><td>model test loss (registry row)</td><td>%.6f</td><td>%.6f</td></tr>\n",
                (double)r[0].model.loss, (double)r[1].model.loss);
        fprintf(out, "<tr><td>test images misclassified</td><td>%ld of %ld</td><td>%ld of %ld</td></tr>\n",
                r[0].total - r[0].correct, r[0].total, r[1].total - r[1].correct, r[1].total);
        fprintf(out, "</table>\n");
    }
    fprintf(out, "<div class=\"cols\">\n");
    for (int i = 0; i < n; i++) column(out, &r[i], w);
    fprintf(out, "</div></main></body></html>\n");
    for (int i = 0; i < n; i++) ks_report_free(&r[i]);
    if (fflush(out) || ferror(out)) return cassnn_err_set(err, "writing the report failed");
    return 0;
}
