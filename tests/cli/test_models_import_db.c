/* test_models_import_db.c - `cassnn models import` and `models export` on a
 * real node (issue 16 item 4, issue 12's export): a `train --save` file and a
 * state_dict written by PyTorch's own safetensors writer (no cassnn
 * metadata; --model names the net, and a wrong one is refused naming the
 * first tensor that does not fit) become rows; a row exports as a pickle
 * that the tutorial's pickle.load + load_state_dict reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "cassnn/blob.h"
#include "cassnn/registry.h"
#include "registry/registry_test_env.h"

#define KS "cassnn_test_models_import"

static cql_session *S;
static char DIR[600];

static int setup(void **state) {
    (void)state;
    S = reg_connect();
    reg_drop(S, KS);
    char *out;
    int rc = reg_run(&out, "schema --keyspace %s 2>&1", KS);
    if (rc) fail_msg("cassnn schema (exit %d):\n%s", rc, out);
    free(out);
    /* a few hundred images as IDX files for `train --idx` */
    data_images train, test;
    reg_load_head("mnist", 300, 100, &train, &test);
    snprintf(DIR, sizeof DIR, "%s/%s_idx", getenv("CASSNN_BINARY_DIR"), KS);
    char mk[700];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", DIR);
    if (system(mk)) fail_msg("%s failed", mk);
    reg_write_idx(DIR, "train", &train);
    reg_write_idx(DIR, "t10k", &test);
    data_images_free(&train);
    data_images_free(&test);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    reg_drop(S, KS);
    cql_session_close(S);
    return 0;
}

/* The id `models import` printed, as a row of KS. */
static void imported_row(const char *out, registry_model *m) {
    uint8_t id[16];
    char text[37] = "";
    cassnn_err err = {0};
    sscanf(out, "%36s", text);
    reg_must(registry_uuid_parse(text, id, &err), &err, out);
    reg_must(registry_get(S, KS, id, m, &err), &err, "the imported row");
}

static void test_train_save_file(void **state) {
    (void)state;
    char *out, path[700];
    snprintf(path, sizeof path, "%s/m.safetensors", DIR);
    if (reg_run(&out, "train --idx '%s' --epochs 1 --save '%s' 2>&1", DIR, path))
        fail_msg("cassnn train:\n%s", out);
    free(out);
    if (reg_run(&out, "models import '%s' --keyspace %s --accuracy 0.5", path, KS))
        fail_msg("models import of a train --save file:\n%s", out);
    registry_model m;
    imported_row(out, &m);
    free(out);
    /* the row decodes by itself and holds the file's weights */
    cassnn_err err = {0};
    nn_net a, b;
    reg_must(blob_net_load_file(path, NULL, &a, &err), &err, path);
    reg_must(blob_net_decode(m.network, m.network_len, NULL, &b, &err), &err, "the row");
    assert_string_equal(a.description, b.description);
    assert_memory_equal(a.params, b.params, sizeof(float) * (size_t)a.n_params);
    assert_true(m.accuracy == 0.5f);
    nn_net_free(&a);
    nn_net_free(&b);
    registry_model_free(&m);
}

static void test_pytorch_state_dict(void **state) {
    (void)state;
    char *out, path[1024];
    snprintf(path, sizeof path, "%s/tests/blob/fixtures/torch2/tutorial_state_dict.safetensors",
             getenv("CASSNN_SOURCE_DIR"));
    /* no description in the file: --model is needed */
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED, "models import '%s' --keyspace %s", path, KS), 1);
    assert_non_null(strstr(out, "give --model"));
    free(out);
    /* a description that does not fit: the first tensor that differs */
    assert_int_equal(cassnn_run(&out, RUN_STDERR_MERGED,
                                "models import '%s' --keyspace %s --model 'conv(10,k=5) "
                                "maxpool(2) relu conv(20,k=3) maxpool(2) relu flatten linear(50) "
                                "relu linear(10) logsoftmax'", path, KS), 1);
    assert_non_null(strstr(out, "tensor 'conv2.weight' has shape [20, 10, 5, 5], the model needs "
                                "[20, 10, 3, 3]"));
    free(out);
    if (reg_run(&out, "models import '%s' --keyspace %s --model tutorial", path, KS))
        fail_msg("models import --model tutorial:\n%s", out);
    registry_model m;
    imported_row(out, &m);
    free(out);
    char id[37];
    registry_uuid_format(m.id, id);
    /* stored with its description now: show names it */
    if (reg_run(&out, "models show %s --keyspace %s", id, KS)) fail_msg("models show:\n%s", out);
    assert_non_null(strstr(out, "format:        safetensors"));
    assert_non_null(strstr(out, "model:         conv1=conv(10,k=5"));
    free(out);
    /* and exports as the tutorial's pickle, which PyTorch loads into Net */
    char pkl[700], check[2400];
    snprintf(pkl, sizeof pkl, "%s/exported.pkl", DIR);
    if (reg_run(&out, "models export %s '%s' --keyspace %s --format pickle", id, pkl, KS))
        fail_msg("models export --format pickle:\n%s", out);
    free(out);
    snprintf(check, sizeof check,
             "/usr/bin/python3 -c \"import pickle, sys; sys.path.insert(0, '%s/tests/reference'); "
             "from tutorial_net import Net; n = Net(); n.load_state_dict(pickle.load(open('%s', "
             "'rb'))); print(float(n.fc2.bias.sum()))\"", getenv("CASSNN_SOURCE_DIR"), pkl);
    FILE *p = popen(check, "r");
    char line[128] = "";
    assert_non_null(p);
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    assert_int_equal(pclose(p), 0);
    cassnn_err err = {0};
    nn_net net;
    reg_must(blob_net_decode(m.network, m.network_len, NULL, &net, &err), &err, "row");
    nn_param bias;
    nn_net_param(&net, 7, &bias);
    double sum = 0;
    for (long i = 0; i < bias.size; i++) sum += bias.data[i];
    printf("fc2.bias sum: cassnn %.6f, PyTorch from the exported pickle %s", sum, line);
    assert_true(fabs(strtod(line, NULL) - sum) < 1e-5);
    nn_net_free(&net);
    registry_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_save_file),
        cmocka_unit_test(test_pytorch_state_dict),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
