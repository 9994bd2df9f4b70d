/* PyTorch's pickled state_dicts (blob/pickle_torch.h) through the entry point
 * (blob.h): the blobs PyTorch 1.13 and 2.x wrote (fixtures/torch1, torch2,
 * from make_pickle_fixtures.py) decode to the values and outputs PyTorch
 * computed; cassnn's own pickles round-trip; a table of malicious and
 * malformed pickles is refused with its reason; blobs written before the
 * formats were one still load. Also writes the pickles that
 * check_pickle_interop.py loads into PyTorch with the tutorial's code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cassnn/blob.h"
#include "blob/pickle_torch.h"
#include "blob/safetensors.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "nn/rng.h"

/* tests/reference/bn_net.py's BNNet */
#define BN_MODEL "conv(4,k=3) bn relu maxpool(2) flatten linear(10) logsoftmax"
static const blob_model bn_model = {BN_MODEL, 1, 10, 10};

static void must(int rc, const cassnn_err *err) {
    if (rc) fail_msg("%s", err->msg);
}

typedef struct file {
    uint8_t *buf;
    size_t len;
} file;

static file load(const char *dir, const char *name) {
    char path[1024];
    const char *src = getenv("CASSNN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/blob/fixtures/%s/%s", src ? src : ".", dir, name);
    file f;
    cassnn_err err = {0};
    if (blob_file_read(path, &f.buf, &f.len, &err)) fail_msg("%s", err.msg);
    return f;
}

/* The expected values PyTorch wrote beside the pickles. */
typedef struct expected {
    file f;
    blob_dict d;
} expected;

static void expected_open(expected *e, const char *dir) {
    cassnn_err err = {0};
    e->f = load(dir, "expected.safetensors");
    must(blob_st_parse(&e->d, e->f.buf, e->f.len, &err), &err);
}

static void expected_close(expected *e) {
    blob_dict_free(&e->d);
    free(e->f.buf);
}

static const blob_tensor *want(const expected *e, const char *name) {
    const blob_tensor *t = blob_dict_find(&e->d, name);
    if (!t) fail_msg("expected.safetensors lacks %s", name);
    return t;
}

static void assert_close(const float *got, const float *expect, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - expect[i]) <= 1e-5f * (1.0f + fabsf(expect[i]))))
            fail_msg("element %zu: %g, PyTorch %g", i, (double)got[i], (double)expect[i]);
}

/* The net's eval-mode log-probabilities for 4 images match PyTorch's. */
static void check_outputs(nn_net *net, const expected *e, const char *input, const char *logp) {
    cassnn_err err = {0};
    const blob_tensor *x = want(e, input), *y = want(e, logp);
    float got[40];
    nn_exec *ex;
    must(nn_exec_create(&ex, net, 4, 4, 1, 1, &err), &err);
    nn_exec_eval_batch(ex, (const float *)x->data, NULL, 4, got, NULL, NULL);
    nn_exec_free(ex);
    assert_close(got, (const float *)y->data, 40);
}

/* Each state_dict tensor of net equals <prefix>.<name> of the expected file. */
static void check_state(const nn_net *net, const expected *e, const char *prefix) {
    for (int i = 0; i < nn_net_state_count(net); i++) {
        nn_param p;
        char name[96];
        nn_net_state_tensor(net, i, &p);
        snprintf(name, sizeof name, "%s.%s", prefix, p.name);
        const blob_tensor *t = want(e, name);
        if (p.count) assert_memory_equal(p.count, t->data, 8);
        else assert_memory_equal(p.data, t->data, t->nbytes);
    }
}

/* Each buffer the optimizer keeps equals <prefix>.state.<i>.<buffer>. */
static void check_buffers(const nn_optim *o, const nn_net *net, const expected *e,
                          const char *prefix) {
    int seen = 0;
    for (int i = 0; i < nn_net_param_count(net); i++) {
        nn_param p;
        nn_net_param(net, i, &p);
        for (int which = 0; which < 2; which++) {
            const char *b;
            const float *data = nn_optim_buffer(o, which, &b);
            if (!data) continue;
            char name[96];
            snprintf(name, sizeof name, "%s.state.%d.%s", prefix, i, b);
            const blob_tensor *t = want(e, name);
            assert_memory_equal(data + (p.data - net->params), t->data, t->nbytes);
            seen++;
        }
    }
    assert_true(seen > 0);
}

static void decode_optim(const char *dir, const char *name, const nn_net *net, nn_optim *o) {
    cassnn_err err = {0};
    file f = load(dir, name);
    int has_run = -1;
    blob_run_state run;
    must(blob_optim_decode(f.buf, f.len, net, o, &run, &has_run, &err), &err);
    assert_int_equal(has_run, 0); /* PyTorch's blobs say nothing of cassnn's run */
    free(f.buf);
}

static void check_torch(const char *dir) {
    cassnn_err err = {0};
    expected e;
    expected_open(&e, dir);

    /* the tutorial's two blobs: no description, so the tutorial's net */
    file f = load(dir, "tutorial_net.pkl");
    nn_net net;
    assert_int_equal(blob_net_decode(f.buf, f.len, NULL, &net, &err), -1);
    assert_non_null(strstr(err.msg, "names no model"));
    must(blob_net_decode(f.buf, f.len, &blob_tutorial_model, &net, &err), &err);
    check_outputs(&net, &e, "input", "tutorial_logp");
    nn_optim o;
    decode_optim(dir, "tutorial_sgd.pkl", &net, &o);
    assert_int_equal(o.kind, NN_OPTIM_SGD);
    assert_true(o.lr == 0.01f && o.momentum == 0.5f && o.dampening == 0 && !o.nesterov);
    assert_true(o.step >= 1);
    check_buffers(&o, &net, &e, "tutorial_sgd");
    nn_optim_free(&o);
    nn_net_free(&net);
    /* another net: the first tensor that does not fit is named */
    assert_int_equal(blob_net_decode(f.buf, f.len, &bn_model, &net, &err), -1);
    assert_non_null(strstr(err.msg, "conv1.weight"));
    assert_non_null(strstr(err.msg, "[10, 1, 5, 5]"));
    const blob_model k3 = {"conv(10,k=5) maxpool(2) relu conv(20,k=3) maxpool(2) relu flatten "
                           "linear(50) relu linear(10) logsoftmax", 1, 28, 28};
    assert_int_equal(blob_net_decode(f.buf, f.len, &k3, &net, &err), -1);
    assert_non_null(strstr(err.msg, "tensor 'conv2.weight' has shape [20, 10, 5, 5], the model "
                                    "needs [20, 10, 3, 3]"));
    free(f.buf);

    /* BatchNorm: running statistics, the int64 count; protocol 4 and 2 */
    const char *bn_files[] = {"bn_net.pkl", "bn_net_p2.pkl"};
    for (int i = 0; i < 2; i++) {
        f = load(dir, bn_files[i]);
        must(blob_net_decode(f.buf, f.len, &bn_model, &net, &err), &err);
        check_state(&net, &e, "bn_net");
        check_outputs(&net, &e, "bn_input", "bn_logp");
        free(f.buf);
        if (i == 0) nn_net_free(&net);
    }
    decode_optim(dir, "bn_adam.pkl", &net, &o);
    assert_int_equal(o.kind, NN_OPTIM_ADAM);
    assert_true(o.lr == 1e-2f && o.beta1 == 0.8f && o.beta2 == 0.99f && o.eps == 1e-6f &&
                o.weight_decay == 1e-2f);
    assert_int_equal(o.step, atol(blob_dict_meta(&e.d, "bn_adam.step")));
    assert_int_equal(o.step, 3);
    check_buffers(&o, &net, &e, "bn_adam");
    nn_optim_free(&o);
    decode_optim(dir, "bn_adamw.pkl", &net, &o);
    assert_int_equal(o.kind, NN_OPTIM_ADAMW);
    assert_true(o.lr == 1e-3f && o.weight_decay == 0.05f && o.beta1 == 0.9f);
    assert_int_equal(o.step, 2);
    check_buffers(&o, &net, &e, "bn_adamw");
    nn_optim_free(&o);
    decode_optim(dir, "bn_sgd_plain.pkl", &net, &o);
    assert_int_equal(o.kind, NN_OPTIM_SGD);
    assert_true(o.lr == 0.1f && o.momentum == 0 && !o.buf1);
    nn_optim_free(&o);
    /* an optimizer blob is not a network, and the other way round */
    f = load(dir, "bn_adam.pkl");
    nn_net other;
    assert_int_equal(blob_net_decode(f.buf, f.len, &bn_model, &other, &err), -1);
    assert_non_null(strstr(err.msg, "optimizer blob, not a network"));
    free(f.buf);
    f = load(dir, "bn_net.pkl");
    assert_int_equal(blob_optim_decode(f.buf, f.len, &net, &o, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "network blob, not an optimizer"));
    free(f.buf);
    /* the tutorial's optimizer for another net: parameter count or shapes */
    f = load(dir, "tutorial_sgd.pkl");
    assert_int_equal(blob_optim_decode(f.buf, f.len, &net, &o, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "8 parameter tensors, the model 6"));
    free(f.buf);
    nn_net_free(&net);
    expected_close(&e);
}

static void test_torch1_pickles(void **state) {
    (void)state;
    check_torch("torch1");
}

static void test_torch2_pickles(void **state) {
    (void)state;
    check_torch("torch2");
}

/* Issue 16: a state_dict saved by safetensors.torch.save_file (no cassnn
 * metadata) loads when the model is given, into the same outputs. */
static void test_pytorch_safetensors_writer(void **state) {
    (void)state;
    cassnn_err err = {0};
    expected e;
    expected_open(&e, "torch2");
    file f = load("torch2", "tutorial_state_dict.safetensors");
    nn_net net;
    assert_int_equal(blob_net_decode(f.buf, f.len, NULL, &net, &err), -1);
    assert_non_null(strstr(err.msg, "names no model"));
    must(blob_net_decode(f.buf, f.len, &blob_tutorial_model, &net, &err), &err);
    check_outputs(&net, &e, "input", "tutorial_logp");
    nn_net_free(&net);
    free(f.buf);
    expected_close(&e);
}

/* A trained net with dropout on, so that every buffer is non-trivial. */
static void trained(nn_net *net, nn_optim *o, const char *model, int side, int kind) {
    cassnn_err err = {0};
    must(nn_net_create(net, model, 1, side, side, &err), &err);
    nn_net_init(net, 7);
    if (kind == NN_OPTIM_SGD) must(nn_optim_sgd(o, net->n_params, 0.05f, 0.5f, 0.1f, 1e-4f, 0, &err), &err);
    else must(nn_optim_adam(o, net->n_params, 1e-3f, 0.8f, 0.95f, 1e-6f, 1e-2f, kind == NN_OPTIM_ADAMW, &err), &err);
    enum { N = 8 };
    float *x = malloc(sizeof(float) * N * (size_t)(side * side));
    int32_t labels[N];
    nn_rng r;
    nn_rng_seed(&r, 11, 1);
    for (int i = 0; i < N * side * side; i++) x[i] = 2.0f * nn_rng_uniform(&r) - 0.5f;
    for (int i = 0; i < N; i++) labels[i] = (int32_t)nn_rng_below(&r, 10);
    nn_exec *e;
    must(nn_exec_create(&e, net, N, N, 1, 7, &err), &err);
    for (int step = 0; step < 3; step++) {
        nn_exec_train_batch(e, x, labels, N, 1, NULL, NULL);
        nn_optim_step(o, net->params, net->grads);
    }
    nn_exec_free(e);
    free(x);
}

static void test_round_trip(void **state) {
    (void)state;
    cassnn_err err = {0};
    const int kinds[3] = {NN_OPTIM_SGD, NN_OPTIM_ADAM, NN_OPTIM_ADAMW};
    for (int k = 0; k < 3; k++) {
        nn_net net, back;
        nn_optim o, ob;
        trained(&net, &o, BN_MODEL, 10, kinds[k]);
        uint8_t *buf;
        size_t len;
        blob_format f;
        must(blob_net_encode(&net, BLOB_PICKLE, &buf, &len, &err), &err);
        must(blob_detect(buf, len, &f, &err), &err);
        assert_int_equal(f, BLOB_PICKLE);
        /* the description travels with it: no fallback needed */
        must(blob_net_decode(buf, len, NULL, &back, &err), &err);
        assert_string_equal(back.description, net.description);
        assert_memory_equal(back.params, net.params, sizeof(float) * (size_t)net.n_params);
        assert_memory_equal(back.buffers, net.buffers, sizeof(float) * (size_t)net.n_buffers);
        assert_int_equal(back.layers[1].batches_tracked, 3);
        free(buf);
        const blob_run_state run = {3, 41, 0xfedcba9876543210ULL, 32};
        blob_run_state run_back;
        int has_run;
        must(blob_optim_encode(&o, &net, &run, BLOB_PICKLE, &buf, &len, &err), &err);
        must(blob_optim_decode(buf, len, &back, &ob, &run_back, &has_run, &err), &err);
        assert_int_equal(has_run, 1);
        assert_true(run_back.epoch == 3 && run_back.next_batch == 41 &&
                    run_back.seed == 0xfedcba9876543210ULL && run_back.batch_size == 32);
        assert_int_equal(ob.kind, o.kind);
        assert_int_equal(ob.step, 3);
        assert_true(ob.lr == o.lr && ob.momentum == o.momentum && ob.dampening == o.dampening &&
                    ob.weight_decay == o.weight_decay && ob.beta1 == o.beta1 &&
                    ob.beta2 == o.beta2 && ob.eps == o.eps && ob.nesterov == o.nesterov);
        assert_memory_equal(ob.buf1, o.buf1, sizeof(float) * (size_t)o.n);
        if (o.buf2) assert_memory_equal(ob.buf2, o.buf2, sizeof(float) * (size_t)o.n);
        free(buf);
        nn_optim_free(&ob);
        nn_optim_free(&o);
        nn_net_free(&back);
        nn_net_free(&net);
    }
}

/* ---- malicious and malformed pickles ---------------------------------------------- */

typedef struct bytes {
    uint8_t p[2048];
    size_t n;
} bytes;

static void add(bytes *b, const void *data, size_t n) {
    assert_true(b->n + n <= sizeof b->p);
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
#define ADD(b, literal) add(b, literal, sizeof literal - 1)

static void add_str(bytes *b, const char *s) { /* BINUNICODE */
    const uint32_t n = (uint32_t)strlen(s);
    ADD(b, "X");
    add(b, &n, 4);
    add(b, s, n);
}

/* PyTorch's legacy storage of `declared` floats holding `have` of them,
 * naming storage_type (torch.FloatStorage unless told). */
static void legacy_storage(bytes *b, uint64_t declared, uint64_t have, const char *global) {
    ADD(b, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.");
    ADD(b, "\x80\x02M\xe9\x03.");
    ADD(b, "\x80\x02}(");
    add_str(b, "little_endian");
    ADD(b, "\x88u.\x80\x02(");
    add_str(b, "storage");
    add(b, global, strlen(global));
    add_str(b, "k");
    add_str(b, "cpu");
    ADD(b, "K");
    const uint8_t d = (uint8_t)declared;
    add(b, &d, 1);
    ADD(b, "NtQ.\x80\x02]");
    add_str(b, "k");
    ADD(b, "a.");
    add(b, &declared, 8);
    const float zeros[16] = {0};
    add(b, zeros, sizeof(float) * have);
}

/* {'w': tensor of `size` elements (stride 1, offset) over a storage of
 * `declared` floats holding `have`}, pickled as PyTorch does. */
static bytes tensor_pickle(int size, int offset, uint64_t declared, uint64_t have,
                           const char *storage_global) {
    bytes inner = {{0}, 0}, b = {{0}, 0};
    legacy_storage(&inner, declared, have, storage_global);
    ADD(&b, "\x80\x02}(");
    add_str(&b, "w");
    ADD(&b, "ctorch._utils\n_rebuild_tensor_v2\n(ctorch.storage\n_load_from_bytes\nC");
    const uint8_t n = (uint8_t)inner.n;
    add(&b, &n, 1);
    add(&b, inner.p, inner.n);
    ADD(&b, "\x85RK");
    const uint8_t o = (uint8_t)offset, s = (uint8_t)size;
    add(&b, &o, 1);
    ADD(&b, "K");
    add(&b, &s, 1);
    ADD(&b, "\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)RtRu.");
    return b;
}

static void expect_refused(const uint8_t *p, size_t n, const char *needle, const char *what) {
    cassnn_err err = {0};
    nn_net net;
    nn_optim o;
    blob_dict d;
    blob_format f;
    if (blob_parse(p, n, &d, &f, &err) == 0) {
        blob_dict_free(&d);
        fail_msg("%s: accepted", what);
    }
    if (!strstr(err.msg, needle)) fail_msg("%s: error '%s' lacks '%s'", what, err.msg, needle);
    /* the same through the network and optimizer decoders */
    assert_int_equal(blob_net_decode(p, n, &blob_tutorial_model, &net, &err), -1);
    must(nn_net_create(&net, "tutorial", 1, 28, 28, &err), &err);
    assert_int_equal(blob_optim_decode(p, n, &net, &o, NULL, NULL, &err), -1);
    nn_net_free(&net);
}

#define CASE(literal, needle) {(const uint8_t *)literal, sizeof literal - 1, needle}

static void test_malicious(void **state) {
    (void)state;
    static const struct {
        const uint8_t *p;
        size_t n;
        const char *needle;
    } cases[] = {
        /* code execution, the classic ways */
        CASE("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00id\x85R.", "global 'os.system' is not allowed"),
        CASE("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93\x8c\x01" "1\x85R.",
             "global 'builtins.eval' is not allowed"),
        CASE("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00id\x85R.", "'posix.system' is not allowed"),
        CASE("\x80\x02" "csubprocess\nPopen\n)R.", "'subprocess.Popen' is not allowed"),
        CASE("\x80\x02" "ctorch\nload\n)R.", "'torch.load' is not allowed"),
        /* a storage type only inside a storage pickle */
        CASE("\x80\x02" "ctorch\nFloatStorage\n)R.", "'torch.FloatStorage' is not allowed"),
        /* opcodes that build arbitrary objects */
        CASE("\x80\x02(cos\nsystem\nX\x02\x00\x00\x00idi.", "global 'os.system' is not allowed"),
        CASE("\x80\x02(X\x01\x00\x00\x00" "ai__main__\nC\n.", "opcode 0x69 'i' is not allowed"),
        CASE("\x80\x02}\x81.", "opcode 0x81 is not allowed"),
        CASE("\x80\x02}X\x01\x00\x00\x00" "aQ.", "persistent id outside a storage"),
        CASE("\x80\x02" "ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00" "aK\x01sb}b.",
             "BUILD of a dict"),
        CASE("\x80\x02]}b.", "BUILD of a list"),
        /* wrong types where a state_dict is read */
        CASE("\x80\x02]K\x01" "a.", "holds a list, not a state_dict"),
        CASE("\x80\x02}X\x01\x00\x00\x00wK\x05s.", "entry 'w' is a int, expected a tensor"),
        CASE("\x80\x02}]K\x01s.", "dict key of type list"),
        CASE("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R.", "OrderedDict is read only when called with ()"),
        CASE("\x80\x02}(X\x05\x00\x00\x00stateK\x01X\x0c\x00\x00\x00param_groups]u.",
             "without a 'state' dict"),
        CASE("\x80\x02}(X\x05\x00\x00\x00state}X\x0c\x00\x00\x00param_groups(}}lu.",
             "2 parameter groups"),
        CASE("\x80\x02}(X\x05\x00\x00\x00state}X\x0c\x00\x00\x00param_groups(}(X\x06\x00\x00\x00"
             "params(K\x03lulu.", "not 0..0 in order"),
        CASE("\x80\x02}(X\x05\x00\x00\x00state}X\x0c\x00\x00\x00param_groups(}(X\x06\x00\x00\x00"
             "params]X\x07\x00\x00\x00" "amsgrad\x88X\x05\x00\x00\x00" "betas(G?\xe9\x99\x99\x99\x99\x99\x9a"
             "G?\xef\xf7\xce\xd9\x16\x87+tulu.", "uses amsgrad"),
        /* malformed machine states */
        CASE("\x80\x02.", "STOP with a stack"),
        CASE("\x80\x02h\x05.", "memo index never stored"),
        CASE("\x80\x02" "0.", "stack underflow"),
        CASE("\x80\x02u.", "no MARK"),
        CASE("\x80\x02}(K\x01u.", "SETITEMS needs a dict and key/value pairs"),
        CASE("\x80\x02X\xff\xff\xff\x7f" "abc.", "truncated"),
        CASE("\x80\x02\x8b\xff\xff\xff\x7f.", "integer longer than 16 bytes"),
        CASE("\x80\x02\x95\xff\xff\xff\xff\xff\xff\xff\x7f}.", "frame longer than the blob"),
        CASE("\x80\x02r\x00\x00\x10\x00.", "stack underflow"),
        CASE("\x80\x02}r\x00\x00\x10\x00.", "memo index over 2^20"),
        CASE("\x80\x02}.junk", "bytes after STOP"),
        CASE("\x80\x02}", "truncated"),
        CASE("\x80\x06}.", "neither safetensors nor a pickle"),
        CASE("(dp0\n.", "neither safetensors nor a pickle"), /* protocol 0 */
        CASE("PK\x03\x04zip", "zip archive"),
        CASE("\x80\x02" "c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x05\x00\x00\x00utf-8\x86R.",
             "read only as encode(str, 'latin1')"),
        CASE("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00))\x89}tR.",
             "arguments are not (storage"),
        CASE("\x80\x02" "ctorch.storage\n_load_from_bytes\nC\x03" "abc\x85R.", "pickle (storage)"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        expect_refused(cases[i].p, cases[i].n, cases[i].needle, what);
    }
    /* storages and tensors that lie about their sizes */
    bytes b = tensor_pickle(2, 0, 2, 2, "ctorch\nFloatStorage\n");
    blob_dict d;
    blob_format f;
    cassnn_err err = {0};
    must(blob_parse(b.p, b.n, &d, &f, &err), &err); /* the well-formed one reads */
    assert_int_equal(d.count, 1);
    assert_int_equal(d.tensors[0].shape[0], 2);
    blob_dict_free(&d);
    b = tensor_pickle(5, 0, 2, 2, "ctorch\nFloatStorage\n");
    expect_refused(b.p, b.n, "reaches past the end of its storage", "tensor past its storage");
    b = tensor_pickle(2, 1, 2, 2, "ctorch\nFloatStorage\n");
    expect_refused(b.p, b.n, "reaches past the end of its storage", "offset past its storage");
    b = tensor_pickle(2, 0, 4, 2, "ctorch\nFloatStorage\n");
    expect_refused(b.p, b.n, "elements of 4 bytes need 16", "storage data short");
    b = tensor_pickle(2, 0, 2, 3, "ctorch\nFloatStorage\n");
    expect_refused(b.p, b.n, "elements of 4 bytes need 8", "storage data long");
    b = tensor_pickle(2, 0, 2, 2, "cos\nsystem\n");
    expect_refused(b.p, b.n, "global 'os.system' is not allowed", "os.system inside a storage");
    b = tensor_pickle(2, 0, 2, 2, "ctorch.storage\n_load_from_bytes\n");
    expect_refused(b.p, b.n, "'torch.storage._load_from_bytes' is not allowed", "nested storage");
    /* a blob larger than the limit is refused before it is read */
    assert_int_equal(blob_detect(b.p, BLOB_MAX_BYTES + 1, &f, &err), -1);
    assert_non_null(strstr(err.msg, "over the"));

    /* every truncation of real PyTorch blobs */
    const char *files[] = {"bn_net.pkl", "bn_adam.pkl", "bn_net_p2.pkl"};
    for (int k = 0; k < 3; k++) {
        file fx = load("torch1", files[k]);
        for (size_t cut = 0; cut < fx.len; cut++) {
            if (blob_parse(fx.buf, cut, &d, &f, &err) == 0) fail_msg("%s cut to %zu parsed", files[k], cut);
            assert_true(err.msg[0] != '\0');
        }
        /* and every single-byte change ends in a result or an error */
        for (size_t at = 0; at < fx.len; at += 7) {
            const uint8_t keep = fx.buf[at];
            fx.buf[at] ^= 0x5a;
            if (blob_parse(fx.buf, fx.len, &d, &f, &err) == 0) blob_dict_free(&d);
            fx.buf[at] = keep;
        }
        free(fx.buf);
    }
}

/* Blobs cassnn wrote before files and rows had one format (commit 1adfd2e):
 * files with format/model/input, rows with cassnn.model/cassnn.input, and
 * optimizer rows with <buffer>.<parameter> tensors. */
static void test_older_blobs(void **state) {
    (void)state;
    cassnn_err err = {0};
    const char *nets[] = {"legacy_file_net.safetensors", "legacy_row_net.safetensors"};
    nn_net net;
    for (int i = 0; i < 2; i++) {
        file f = load(".", nets[i]);
        must(blob_net_decode(f.buf, f.len, NULL, &net, &err), &err);
        assert_string_equal(net.description, "conv1=conv(4,k=3,s=1,p=0) bn1=batchnorm2d relu "
                                             "maxpool(2,s=2) flatten fc1=linear(10) logsoftmax");
        assert_int_equal(net.in_h, 10);
        assert_int_equal(net.layers[1].batches_tracked, 7);
        /* the values are those the blob holds */
        blob_dict d;
        must(blob_st_parse(&d, f.buf, f.len, &err), &err);
        assert_memory_equal(net.params, blob_dict_find(&d, "conv1.weight")->data, 36 * 4);
        blob_dict_free(&d);
        free(f.buf);
        if (i == 0) nn_net_free(&net);
    }
    const struct {
        const char *file;
        nn_optim_kind kind;
        long step;
        int has_run;
    } optims[] = {{"legacy_file_sgd.safetensors", NN_OPTIM_SGD, 3, 0},
                  {"legacy_row_sgd.safetensors", NN_OPTIM_SGD, 3, 1},
                  {"legacy_row_adamw.safetensors", NN_OPTIM_ADAMW, 5, 1}};
    for (int i = 0; i < 3; i++) {
        file f = load(".", optims[i].file);
        nn_optim o;
        blob_run_state run;
        int has_run;
        must(blob_optim_decode(f.buf, f.len, &net, &o, &run, &has_run, &err), &err);
        assert_int_equal(o.kind, optims[i].kind);
        assert_int_equal(o.step, optims[i].step);
        assert_int_equal(has_run, optims[i].has_run);
        if (has_run)
            assert_true(run.epoch == 2 && run.next_batch == 17 && run.seed == 12345678901234ULL &&
                        run.batch_size == 64);
        /* the buffers the blob holds, whichever name it used */
        blob_dict d;
        must(blob_st_parse(&d, f.buf, f.len, &err), &err);
        const blob_tensor *t = blob_dict_find(&d, "state.4.momentum_buffer");
        if (!t) t = blob_dict_find(&d, o.kind == NN_OPTIM_SGD ? "momentum_buffer.fc1.weight"
                                                               : "exp_avg.fc1.weight");
        assert_non_null(t);
        nn_param p;
        nn_net_param(&net, 4, &p);
        assert_memory_equal(o.buf1 + (p.data - net.params), t->data, t->nbytes);
        blob_dict_free(&d);
        nn_optim_free(&o);
        free(f.buf);
    }
    nn_net_free(&net);
}

/* Writes, under $CASSNN_BINARY_DIR/tests/blob/interop/, cassnn's pickles of
 * a trained tutorial net with SGD and of BNNet with Adam and AdamW, and
 * (input, cassnn's log-probabilities) beside them, for
 * check_pickle_interop.py to load with the tutorial's code. */
static void test_write_pickle_interop_files(void **state) {
    (void)state;
    const char *bin = getenv("CASSNN_BINARY_DIR");
    assert_non_null(bin);
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/blob/interop", bin);
    mkdir(dir, 0777);
    cassnn_err err = {0};
    const struct {
        const char *name, *model;
        int side, kind;
    } runs[] = {{"tutorial_sgd", "tutorial", 28, NN_OPTIM_SGD},
                {"bn_adam", BN_MODEL, 10, NN_OPTIM_ADAM},
                {"bn_adamw", BN_MODEL, 10, NN_OPTIM_ADAMW}};
    for (int k = 0; k < 3; k++) {
        nn_net net;
        nn_optim o;
        trained(&net, &o, runs[k].model, runs[k].side, runs[k].kind);
        uint8_t *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/%s.net.pkl", dir, runs[k].name);
        must(blob_net_save_file(&net, BLOB_PICKLE, path, &err), &err);
        const blob_run_state run = {2, 5, 9, 8};
        must(blob_optim_encode(&o, &net, &run, BLOB_PICKLE, &buf, &len, &err), &err);
        snprintf(path, sizeof path, "%s/%s.optim.pkl", dir, runs[k].name);
        must(blob_file_write(path, buf, len, &err), &err);
        free(buf);
        /* what PyTorch must find: outputs for a batch, and the buffers */
        enum { N = 4 };
        float x[N * 784], logp[N * 10];
        nn_rng r;
        nn_rng_seed(&r, 5, 2);
        for (int i = 0; i < N * runs[k].side * runs[k].side; i++) x[i] = 2.0f * nn_rng_uniform(&r) - 0.5f;
        nn_exec *e;
        must(nn_exec_create(&e, &net, N, N, 1, 1, &err), &err);
        nn_exec_eval_batch(e, x, NULL, N, logp, NULL, NULL);
        nn_exec_free(e);
        blob_dict d = {0};
        const int64_t xs[4] = {N, 1, runs[k].side, runs[k].side}, ls[2] = {N, 10};
        must(blob_dict_add(&d, "input", "F32", 4, xs, x, &err), &err);
        must(blob_dict_add(&d, "logp", "F32", 2, ls, logp, &err), &err);
        for (int i = 0; i < nn_net_param_count(&net); i++) {
            nn_param p;
            nn_net_param(&net, i, &p);
            for (int which = 0; which < 2; which++) {
                const char *b;
                const float *data = nn_optim_buffer(&o, which, &b);
                char name[64];
                snprintf(name, sizeof name, "state.%d.%s", i, b ? b : "");
                if (data) must(blob_dict_add(&d, name, "F32", p.ndim, p.shape, data + (p.data - net.params), &err), &err);
            }
        }
        char step[16];
        snprintf(step, sizeof step, "%ld", o.step);
        must(blob_dict_set_meta(&d, "step", step, &err), &err);
        must(blob_st_write(&d, &buf, &len, &err), &err);
        snprintf(path, sizeof path, "%s/%s.expected.safetensors", dir, runs[k].name);
        must(blob_file_write(path, buf, len, &err), &err);
        free(buf);
        blob_dict_free(&d);
        nn_optim_free(&o);
        nn_net_free(&net);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch1_pickles),
        cmocka_unit_test(test_torch2_pickles),
        cmocka_unit_test(test_pytorch_safetensors_writer),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malicious),
        cmocka_unit_test(test_older_blobs),
        cmocka_unit_test(test_write_pickle_interop_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
