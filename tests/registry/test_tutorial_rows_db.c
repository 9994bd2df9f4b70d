/* test_tutorial_rows_db.c - the tutorial's own registry and cassnn's, both
 * ways, on a real node and a small table of real MNIST (library API only:
 * schema, ingest, registry, blob entry point, nn):
 *   - the tutorial's training loop (tests/reference/tutorial_registry.py,
 *     PyTorch 1.13 and the Python driver) writes pickled rows; every row
 *     decodes, and the best models_test row scores on raw_test exactly what
 *     PyTorch computed for it;
 *   - a row cassnn writes in pickle format loads with the tutorial's code
 *     and scores in PyTorch what the registry says;
 *   - a training run resumed from one of the tutorial's models_train rows
 *     starts from its weights, its SGD state and hyperparameters, at the
 *     batch after the one it logged. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/blob.h"
#include "cassnn/feed.h"
#include "cassnn/ingest.h"
#include "cassnn/nn_train.h"
#include "cassnn/registry.h"
#include "cassnn/run.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_tutorial_rows"
enum { N_TRAIN = 320, N_TEST = 200 };

static cql_session *S;
static data_images TRAIN, TEST;

static int setup(void **state) {
    (void)state;
    cassnn_err err = {0};
    S = reg_connect();
    reg_drop(S, KS);
    const registry_schema_options o = {KS, 1, NULL, 0};
    reg_must(registry_schema_create(S, &o, &err), &err, "schema");
    reg_load_head("mnist", N_TRAIN, N_TEST, &TRAIN, &TEST);
    const data_ingest_set sets[2] = {{"raw_train", "mnist", &TRAIN}, {"raw_test", "mnist", &TEST}};
    const data_ingest_options io = {.keyspace = KS};
    data_ingest_result r;
    reg_must(data_ingest_write(S, sets, 2, &io, &r, &err), &err, "ingest");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, KS);
    cql_session_close(S);
    data_images_free(&TRAIN);
    data_images_free(&TEST);
    return 0;
}

/* The net's correct predictions over raw_test, read back from the node,
 * and its summed NLL loss. */
static long score(nn_net *net, double *loss_sum) {
    cassnn_err err = {0};
    data_images test;
    const data_scan_options o = {0};
    reg_must(data_table_load(S, KS, "raw_test", &o, &test, &err), &err, "raw_test");
    data_feed f;
    reg_must(data_feed_init(&f, &test, NN_MNIST_MEAN, NN_MNIST_STD, 0, 1, &err), &err, "feed");
    nn_batch_source src = data_feed_batches(&f);
    nn_exec *e;
    reg_must(nn_exec_create(&e, net, 0, 1000, 2, 1, &err), &err, "exec");
    nn_eval_stats st;
    reg_must(nn_evaluate(e, net, &src, 1000, &st, &err), &err, "evaluate");
    assert_int_equal(st.images, N_TEST);
    *loss_sum = st.loss_sum;
    nn_exec_free(e);
    data_feed_free(&f);
    data_images_free(&test);
    return st.correct;
}

static void test_tutorial_rows_in_cassnn(void **state) {
    (void)state;
    cassnn_err err = {0};
    char *out = reg_tutorial(KS, "train --epochs 2 --log-interval 2");
    /* the best row, as the registry finds it */
    registry_model best, row;
    reg_must(registry_best(S, KS, REGISTRY_BY_ACCURACY, NULL, NULL, &best, &err), &err, "best");
    char id[37], line[80];
    registry_uuid_format(best.id, id);
    long correct = -1, n = -1;
    double loss = NAN, our_loss;
    snprintf(line, sizeof line, "test %s ", id);
    const char *at = strstr(out, line);
    if (!at || sscanf(at + strlen(line), "%ld %ld %lf", &correct, &n, &loss) != 3)
        fail_msg("no PyTorch result for the best row %s in:\n%s", id, out);
    reg_must(registry_get(S, KS, best.id, &row, &err), &err, "get");
    /* a tutorial row: a pickle without a description, so the tutorial's net */
    blob_format f;
    reg_must(blob_detect(row.network, row.network_len, &f, &err), &err, "detect");
    assert_int_equal(f, BLOB_PICKLE);
    nn_net net;
    assert_int_equal(blob_net_decode(row.network, row.network_len, NULL, &net, &err), -1);
    reg_must(blob_net_decode(row.network, row.network_len, &blob_tutorial_model, &net, &err),
             &err, "decode the tutorial's network");
    const long ours = score(&net, &our_loss);
    printf("best tutorial row %s: PyTorch %ld/%ld (loss sum %.6f), cassnn %ld/%d (%.6f)\n", id,
           correct, n, loss, ours, N_TEST, our_loss);
    assert_int_equal(n, N_TEST);
    assert_int_equal(ours, correct);
    assert_true(fabs(our_loss - loss) <= 1e-5 * fabs(loss));
    assert_true(fabsf(row.accuracy - (float)correct / N_TEST) < 1e-6f);
    /* its optimizer: the tutorial's SGD with its momentum buffers */
    nn_optim o;
    int has_run = -1;
    reg_must(blob_optim_decode(row.optimizer, row.optimizer_len, &net, &o, NULL, &has_run, &err),
             &err, "decode the tutorial's optimizer");
    assert_int_equal(o.kind, NN_OPTIM_SGD);
    assert_true(o.lr == 0.01f && o.momentum == 0.5f && o.buf1 && o.step >= 1);
    assert_int_equal(has_run, 0);
    nn_optim_free(&o);
    nn_net_free(&net);
    registry_model_free(&row);

    /* every models_train row the loop wrote decodes, network and optimizer */
    cql_result *r;
    char query[160];
    snprintf(query, sizeof query, "SELECT network, optimizer FROM %s.models_train", KS);
    reg_must(cql_query(S, query, NULL, 0, &r, &err), &err, query);
    const int32_t rows = cql_result_row_count(r);
    assert_int_equal(rows, 2 * 3); /* 5 batches an epoch, one row every 2 */
    for (int32_t i = 0; i < rows; i++) {
        const uint8_t *b[2];
        size_t len[2];
        for (int c = 0; c < 2; c++) reg_must(cql_get_blob(r, i, c, &b[c], &len[c], &err), &err, "blob");
        reg_must(blob_net_decode(b[0], len[0], &blob_tutorial_model, &net, &err), &err, "train row");
        reg_must(blob_optim_decode(b[1], len[1], &net, &o, NULL, NULL, &err), &err, "train row");
        nn_optim_free(&o);
        nn_net_free(&net);
    }
    cql_result_free(r);
    free(out);
}

static void test_cassnn_pickle_rows_in_tutorial(void **state) {
    (void)state;
    cassnn_err err = {0};
    /* one epoch of the tutorial's recipe in cassnn, on the same rows */
    nn_net net;
    nn_optim o;
    reg_must(nn_net_create(&net, "tutorial", 1, 28, 28, &err), &err, "net");
    nn_net_init(&net, 5);
    reg_must(nn_optim_sgd(&o, net.n_params, 0.01f, 0.5f, 0, 0, 0, &err), &err, "sgd");
    data_images train;
    const data_scan_options so = {0};
    reg_must(data_table_load(S, KS, "raw_train", &so, &train, &err), &err, "raw_train");
    data_feed f;
    reg_must(data_feed_init(&f, &train, NN_MNIST_MEAN, NN_MNIST_STD, 1, 5, &err), &err, "feed");
    nn_batch_source src = data_feed_batches(&f);
    nn_exec *e;
    reg_must(nn_exec_create(&e, &net, 64, 1000, 2, 5, &err), &err, "exec");
    const nn_train_config cfg = {.batch_size = 64};
    nn_epoch_stats st;
    reg_must(nn_train_epoch(e, &net, &o, &src, 1, &cfg, NULL, NULL, &st, &err), &err, "train");
    nn_exec_free(e);
    data_feed_free(&f);
    data_images_free(&train);
    double loss;
    const long correct = score(&net, &loss);

    /* its row, in the tutorial's format */
    registry_model m;
    const registry_train_state ts = {2, 0, 5, 64};
    reg_must(registry_checkpoint(&m, REGISTRY_TEST, &net, &o, &ts, BLOB_PICKLE, &err), &err, "row");
    m.loss = (float)st.loss_mean;
    m.accuracy = (float)correct / N_TEST;
    reg_must(registry_insert(S, KS, &m, &err), &err, "insert");
    char id[37], args[80], want[120];
    registry_uuid_format(m.id, id);
    snprintf(args, sizeof args, "score --model %s", id);
    char *out = reg_tutorial(KS, args);
    printf("cassnn row %s: registry says %ld/%d (loss sum %.6f); the tutorial's code: %s", id,
           correct, N_TEST, loss, out);
    snprintf(want, sizeof want, "score %s %ld %d ", id, correct, N_TEST);
    assert_non_null(strstr(out, want));
    assert_true(fabs(strtod(out + strlen(want), NULL) - loss) <= 1e-5 * fabs(loss));
    free(out);
    registry_model_free(&m);
    nn_optim_free(&o);
    nn_net_free(&net);
}

/* The first progress point a run reports. */
static void first_progress(void *user, const nn_train_progress *p) {
    nn_train_progress *first = user;
    if (first->epoch == 0) *first = *p;
}

static void test_resume_tutorial_row(void **state) {
    (void)state;
    cassnn_err err = {0};
    /* the tutorial's row after batch 2 of 5 in epoch 2 (written by the first test) */
    registry_model *models, row;
    size_t n;
    reg_must(registry_list(S, KS, &models, &n, &err), &err, "list");
    const registry_model *from = NULL;
    for (size_t i = 0; i < n; i++)
        if (models[i].table == REGISTRY_TRAIN && models[i].epoch == 2 &&
            !strcmp(models[i].batch_percent, "40%"))
            from = &models[i];
    if (!from) fail_msg("no tutorial row of epoch 2 at 40%% (run test_tutorial_rows_in_cassnn)");
    char id[37];
    registry_uuid_format(from->id, id);
    reg_must(registry_get(S, KS, from->id, &row, &err), &err, "get");
    free(models);
    nn_net want;
    nn_optim want_opt;
    reg_must(blob_net_decode(row.network, row.network_len, &blob_tutorial_model, &want, &err),
             &err, "network");
    reg_must(blob_optim_decode(row.optimizer, row.optimizer_len, &want, &want_opt, NULL, NULL,
                               &err), &err, "optimizer");

    run_train_options o;
    run_train_defaults(&o);
    o.keyspace = KS;
    o.resume = id;
    o.epochs = 2;
    o.log_interval = 2;
    o.threads = 2;
    o.seed = 7;
    nn_train_progress first = {0};
    const run_events ev = {.user = &first, .progress = first_progress};
    run_train *r;
    reg_must(run_train_open(&r, S, &o, &ev, &err), &err, "resume the tutorial's row");
    const run_train_info *in = run_train_describe(r);
    assert_int_equal(in->first_epoch, 2);
    assert_int_equal(in->batch_size, 64);
    assert_true(in->seed == 7);
    assert_int_equal(in->net->n_params, want.n_params);
    assert_memory_equal(in->net->params, want.params, (size_t)want.n_params * sizeof(float));
    const nn_optim *opt = in->optim;
    assert_int_equal(opt->kind, NN_OPTIM_SGD);
    assert_true(opt->lr == 0.01f && opt->momentum == 0.5f && opt->dampening == 0.0f &&
                opt->weight_decay == 0.0f && !opt->nesterov);
    assert_int_equal(opt->step, want_opt.step);
    assert_non_null(opt->buf1);
    assert_memory_equal(opt->buf1, want_opt.buf1, (size_t)want.n_params * sizeof(float));
    /* it goes on at batch 3 of epoch 2: the next logged batch is 4 */
    nn_epoch_stats st;
    nn_eval_stats t;
    reg_must(run_train_epoch(r, &st, &err), &err, "epoch");
    assert_int_equal(first.epoch, 2);
    assert_int_equal(first.batch_idx, 4);
    assert_int_equal(st.batches, 2);
    assert_int_equal(run_train_next_epoch(r), 3);
    reg_must(run_train_test(r, &t, &err), &err, "test");
    run_train_report rep;
    assert_int_equal(run_train_close(r, &rep), 0);
    assert_int_equal(rep.writes.written, 2); /* the row of batch 4 and the test's */
    printf("resumed tutorial row %s at epoch 2 batch 3: trained %ld images, then %ld/%ld\n", id,
           st.images, t.correct, t.images);
    nn_optim_free(&want_opt);
    nn_net_free(&want);
    registry_model_free(&row);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tutorial_rows_in_cassnn),
        cmocka_unit_test(test_cassnn_pickle_rows_in_tutorial),
        cmocka_unit_test(test_resume_tutorial_row),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
