/* net.c - model description parser, shapes, parameters, init and state_dict
 * order. Everything kind-specific comes from the layer table (layer.h). */
#include "cassnn/nn.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/rng.h"
#include "nn/layer.h"

/* Largest activation (per image) or parameter count a model may have. */
#define MAX_TENSOR_FLOATS (1 << 28)

static const struct {
    const char *name, *description;
} builtin_models[] = {
    {"tutorial",
     "conv(10,k=5) maxpool(2) relu conv(20,k=5) dropout2d(0.5) maxpool(2) relu flatten "
     "linear(50) relu dropout(0.5) linear(10) logsoftmax"},
    /* the fast recipe's (run.h, README "The fast recipe"): pooling before
     * batchnorm and ReLU, so both run on a quarter of the pixels */
    {"fast",
     "conv(8,k=5) maxpool(2) bn relu conv(16,k=5) maxpool(2) bn relu flatten linear(64) relu "
     "linear(10) logsoftmax"},
};

const char *nn_builtin_model(const char *name) {
    for (size_t i = 0; i < sizeof builtin_models / sizeof builtin_models[0]; i++)
        if (!strcmp(name, builtin_models[i].name)) return builtin_models[i].description;
    return NULL;
}

/* One layer as written, before shapes are known. */
typedef struct parsed_layer {
    char text[96];                 /* as written, for error messages */
    char name[32];
    char word[16];
    nn_layer_args args;
} parsed_layer;

int nn_layer_error(const nn_layer_args *a, cassnn_err *err, const char *fmt, ...) {
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cassnn_err_set(err, "model layer %d '%s': %s", a->index + 1, a->text, msg);
}

static const char *skip_space(const char *s) {
    for (;;) {
        while (isspace((unsigned char)*s)) s++;
        if (*s != '#') return s;
        while (*s && *s != '\n') s++;
    }
}

static int read_ident(const char **s, char *out, size_t cap) {
    size_t n = 0;
    const char *p = *s;
    if (!(isalpha((unsigned char)*p) || *p == '_')) return 0;
    while (isalnum((unsigned char)*p) || *p == '_') {
        if (n + 1 >= cap) return 0;
        out[n++] = *p++;
    }
    out[n] = '\0';
    *s = p;
    return 1;
}

/* The arguments between '(' and ')' at *s (just past the '('). */
static int parse_args(const char **s, nn_layer_args *a, cassnn_err *err) {
    const char *p = *s;
    for (;;) {
        p = skip_space(p);
        if (*p == ')' && a->n == 0) break;
        if (a->n == NN_MAX_ARGS) return nn_layer_error(a, err, "too many arguments");
        const char *q = p;
        char key[8];
        a->keys[a->n][0] = '\0';
        if (read_ident(&q, key, sizeof key) && *q == '=') {
            strcpy(a->keys[a->n], key);
            p = q + 1;
        }
        char *num_end;
        const double v = strtod(p, &num_end);
        if (num_end == p || !isfinite(v))
            return nn_layer_error(a, err, "expected a number in arguments");
        a->values[a->n++] = v;
        p = skip_space(num_end);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ')') break;
        return nn_layer_error(a, err, "expected ',' or ')' in arguments");
    }
    *s = p + 1;
    return 0;
}

/* Parses one layer at *s; errors name the layer's index and text. */
static int parse_layer(const char **s, int index, parsed_layer *pl, cassnn_err *err) {
    const char *start = *s, *p = *s;
    memset(pl, 0, sizeof *pl);
    const char *end = p;
    while (*end && !isspace((unsigned char)*end) && *end != '#') {
        if (*end == '(') {
            while (*end && *end != ')') end++;
            if (*end) end++;
            break;
        }
        end++;
    }
    snprintf(pl->text, sizeof pl->text, "%.*s", (int)(end - start), start);
    pl->args.text = pl->text;
    pl->args.index = index;
    char ident[32];
    if (!read_ident(&p, ident, sizeof ident))
        return nn_layer_error(&pl->args, err, "expected a layer kind or name=kind");
    if (*p == '=') {
        p++;
        snprintf(pl->name, sizeof pl->name, "%s", ident);
        if (!read_ident(&p, ident, sizeof ident))
            return nn_layer_error(&pl->args, err, "expected a layer kind after '='");
    }
    if (strlen(ident) >= sizeof pl->word)
        return nn_layer_error(&pl->args, err, "unknown layer kind '%s'", ident);
    strcpy(pl->word, ident);
    if (*p == '(') {
        p++;
        if (parse_args(&p, &pl->args, err)) return -1;
    }
    if (*p && !isspace((unsigned char)*p) && *p != '#')
        return nn_layer_error(&pl->args, err, "unexpected '%c' (layers are separated by spaces)",
                              *p);
    *s = p;
    return 0;
}

double nn_arg(nn_layer_args *a, int pos, const char *key, double dflt) {
    int positional = 0;
    for (int i = 0; i < a->n; i++) {
        if (a->keys[i][0] == '\0' ? positional++ == pos : key && !strcmp(a->keys[i], key)) {
            a->used[i] = 1;
            return a->values[i];
        }
    }
    return dflt;
}

int nn_arg_int(nn_layer_args *a, int pos, const char *key, int dflt, int min, int *out,
               cassnn_err *err) {
    const double v = nn_arg(a, pos, key, dflt);
    const char *what = key ? key : "argument";
    if (v == dflt && dflt < min) return nn_layer_error(a, err, "%s is required", what);
    if (v != floor(v) || v < min || v > 1e6)
        return nn_layer_error(a, err, "%s must be an integer >= %d", what, min);
    *out = (int)v;
    return 0;
}

/* The table row whose words include `word`, or -1. */
static int kind_of_word(const char *word) {
    for (int k = 0; k < nn_layer_type_count; k++)
        for (const char *const *w = nn_layer_types[k]->words; *w; w++)
            if (!strcmp(*w, word)) return k;
    return -1;
}

static int unknown_kind(nn_layer_args *a, const char *word, cassnn_err *err) {
    char known[256] = "";
    size_t used = 0;
    for (int k = 0; k < nn_layer_type_count; k++)
        for (const char *const *w = nn_layer_types[k]->words; *w; w++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? " " : "",
                                     *w);
    return nn_layer_error(a, err, "unknown layer kind '%s' (known: %s)", word, known);
}

/* Settings, shape and parameter sizes of layer l from what was written, on
 * an input of c x h x w. */
static int build_layer(nn_layer *l, parsed_layer *pl, int c, int h, int w, cassnn_err *err) {
    memset(l, 0, sizeof *l);
    l->weight_off = l->bias_off = l->buffer_off = -1;
    l->stride = 1;
    const int kind = kind_of_word(pl->word);
    if (kind < 0) return unknown_kind(&pl->args, pl->word, err);
    l->kind = (nn_layer_kind)kind;
    const nn_layer_type *type = nn_type_of(l);
    if (type->parse && type->parse(l, pl->word, &pl->args, err)) return -1;
    for (int a = 0; a < pl->args.n; a++)
        if (!pl->args.used[a]) return nn_layer_error(&pl->args, err, "unexpected argument %d", a + 1);
    /* the output keeps the input's shape unless the kind says otherwise
     * (parse sets out_c for conv and linear) */
    l->in_c = c;
    l->in_h = l->out_h = h;
    l->in_w = l->out_w = w;
    if (!l->out_c) l->out_c = c;
    if (type->shape && type->shape(l, &pl->args, err)) return -1;
    /* bounds that keep every size computation far from overflow */
    if ((double)l->out_c * l->out_h * l->out_w > MAX_TENSOR_FLOATS ||
        (double)l->weight_size > MAX_TENSOR_FLOATS)
        return nn_layer_error(&pl->args, err, "too large (output %dx%dx%d)", l->out_c, l->out_h,
                              l->out_w);
    return 0;
}

/* The state_dict prefix of l: its NAME= or the kind's prefix and count. */
static int name_layer(nn_net *net, nn_layer *l, parsed_layer *pl, int number, cassnn_err *err) {
    const nn_layer_type *type = nn_type_of(l);
    if (!l->weight_size) {
        if (pl->name[0])
            return nn_layer_error(&pl->args, err, "only layers with parameters (conv, linear, "
                                  "batchnorm2d) take a name");
        return 0;
    }
    if (pl->name[0]) snprintf(l->name, sizeof l->name, "%s", pl->name);
    else snprintf(l->name, sizeof l->name, "%s%d", type->prefix, number);
    for (int j = 0; j < net->n_layers - 1; j++)
        if (!strcmp(net->layers[j].name, l->name))
            return nn_layer_error(&pl->args, err, "name '%s' is already used by layer %d",
                                  l->name, j + 1);
    l->weight_off = net->n_params;
    l->bias_off = net->n_params + l->weight_size;
    net->n_params += l->weight_size + l->bias_size;
    const long buffers = type->buffers ? type->buffers(l) : 0;
    if (buffers) {
        l->buffer_off = net->n_buffers;
        net->n_buffers += buffers;
    }
    if ((double)net->n_params > MAX_TENSOR_FLOATS)
        return nn_layer_error(&pl->args, err, "too many weights");
    return 0;
}

/* Parses every layer of description into net->layers. */
static int parse_net(nn_net *net, const char *description, cassnn_err *err) {
    int cap = 8, counts[32] = {0};
    net->layers = calloc((size_t)cap, sizeof *net->layers);
    if (!net->layers) return cassnn_err_set(err, "model: out of memory");
    int c = net->in_c, h = net->in_h, w = net->in_w;
    for (const char *s = skip_space(description); *s; s = skip_space(s)) {
        parsed_layer pl;
        if (parse_layer(&s, net->n_layers, &pl, err)) return -1;
        if (net->n_layers == cap) {
            nn_layer *grown = realloc(net->layers, sizeof *grown * (size_t)cap * 2);
            if (!grown) return cassnn_err_set(err, "model: out of memory");
            net->layers = grown;
            cap *= 2;
        }
        nn_layer *l = &net->layers[net->n_layers++];
        if (build_layer(l, &pl, c, h, w, err) || name_layer(net, l, &pl, ++counts[l->kind], err))
            return -1;
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
    }
    if (net->n_layers == 0) return cassnn_err_set(err, "model: empty description");
    if (net->layers[net->n_layers - 1].kind != NN_LOGSOFTMAX)
        return cassnn_err_set(err, "model: the last layer must be logsoftmax (the loss is NLL), "
                              "got layer %d", net->n_layers);
    net->classes = c;
    if (net->n_params == 0) return cassnn_err_set(err, "model: no layer has parameters");
    return 0;
}

long nn_layer_out_size(const nn_layer *l) { return (long)l->out_c * l->out_h * l->out_w; }

static float *layer_buffers(const nn_net *net, const nn_layer *l) {
    return l->buffer_off >= 0 ? net->buffers + l->buffer_off : NULL;
}

int nn_net_create(nn_net *net, const char *description, int in_c, int in_h, int in_w,
                  cassnn_err *err) {
    memset(net, 0, sizeof *net);
    const char *builtin = nn_builtin_model(description);
    if (builtin) description = builtin;
    if (in_c <= 0 || in_h <= 0 || in_w <= 0 || (double)in_c * in_h * in_w > MAX_TENSOR_FLOATS)
        return cassnn_err_set(err, "model: invalid input shape %dx%dx%d", in_c, in_h, in_w);
    net->in_c = in_c;
    net->in_h = in_h;
    net->in_w = in_w;
    if (parse_net(net, description, err)) goto fail;
    net->params = calloc((size_t)net->n_params, sizeof(float));
    net->grads = calloc((size_t)net->n_params, sizeof(float));
    net->buffers = net->n_buffers ? calloc((size_t)net->n_buffers, sizeof(float)) : NULL;
    size_t desc_cap = (size_t)net->n_layers * 100 + 1;
    net->description = malloc(desc_cap);
    if (!net->params || !net->grads || !net->description || (net->n_buffers && !net->buffers)) {
        cassnn_err_set(err, "model: out of memory for %ld parameters", net->n_params);
        goto fail;
    }
    size_t used = 0;
    for (int i = 0; i < net->n_layers; i++) {
        nn_layer *l = &net->layers[i];
        /* layers with running state start as PyTorch's do even before
         * nn_net_init: a net built for loading never has a zero running
         * variance */
        if (l->buffer_off >= 0)
            nn_type_of(l)->init(l, net->params + l->weight_off, net->params + l->bias_off,
                                layer_buffers(net, l), 0, i);
        char buf[100];
        nn_type_of(l)->describe(l, buf, sizeof buf);
        used += (size_t)snprintf(net->description + used, desc_cap - used, "%s%s", i ? " " : "",
                                 buf);
    }
    return 0;
fail:
    nn_net_free(net);
    return -1;
}

void nn_net_free(nn_net *net) {
    free(net->layers);
    free(net->params);
    free(net->grads);
    free(net->buffers);
    free(net->description);
    memset(net, 0, sizeof *net);
}

void nn_init_fan_in(const nn_layer *l, float *weight, float *bias, long fan_in, uint64_t seed,
                    int index) {
    nn_rng rng;
    nn_rng_seed(&rng, seed, (uint64_t)index);
    /* kaiming_uniform_(a=sqrt(5)) gives bound = gain*sqrt(3/fan_in) with
     * gain = sqrt(2/(1+5)), i.e. 1/sqrt(fan_in); the bias uses the same. */
    const float bound = 1.0f / sqrtf((float)fan_in);
    for (long j = 0; j < l->weight_size; j++)
        weight[j] = (2.0f * nn_rng_uniform(&rng) - 1.0f) * bound;
    for (long j = 0; j < l->bias_size; j++) bias[j] = (2.0f * nn_rng_uniform(&rng) - 1.0f) * bound;
}

void nn_net_init(nn_net *net, uint64_t seed) {
    for (int i = 0; i < net->n_layers; i++) {
        nn_layer *l = &net->layers[i];
        if (l->weight_off >= 0)
            nn_type_of(l)->init(l, net->params + l->weight_off, net->params + l->bias_off,
                                layer_buffers(net, l), seed, i);
    }
}

/* Tensors of layer l in state_dict order: weight, bias and, with buffers,
 * the running state (BatchNorm2d: running_mean, running_var,
 * num_batches_tracked). */
static int layer_tensor_count(const nn_layer *l, int with_buffers) {
    if (l->weight_off < 0) return 0;
    return with_buffers && l->buffer_off >= 0 ? 5 : 2;
}

static void layer_tensor(const nn_net *net, nn_layer *l, int j, nn_param *out) {
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"};
    snprintf(out->name, sizeof out->name, "%s.%s", l->name, names[j]);
    out->ndim = 1;
    out->shape[0] = l->out_c;
    out->size = l->out_c;
    switch (j) {
    case 0:
        out->size = l->weight_size;
        out->data = net->params + l->weight_off;
        out->grad = net->grads + l->weight_off;
        out->ndim = nn_type_of(l)->weight_shape(l, out->shape);
        break;
    case 1:
        out->data = net->params + l->bias_off;
        out->grad = net->grads + l->bias_off;
        break;
    case 2:
    case 3: out->data = net->buffers + l->buffer_off + (j == 3 ? l->out_c : 0); break;
    case 4:
        out->ndim = 0;
        out->size = 1;
        out->count = &l->batches_tracked;
        break;
    }
}

static void find_tensor(const nn_net *net, int index, int with_buffers, nn_param *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < net->n_layers; i++) {
        const int k = layer_tensor_count(&net->layers[i], with_buffers);
        if (index < k) {
            layer_tensor(net, &net->layers[i], index, out);
            return;
        }
        index -= k;
    }
}

static int tensor_count(const nn_net *net, int with_buffers) {
    int n = 0;
    for (int i = 0; i < net->n_layers; i++) n += layer_tensor_count(&net->layers[i], with_buffers);
    return n;
}

int nn_net_param_count(const nn_net *net) { return tensor_count(net, 0); }

void nn_net_param(const nn_net *net, int index, nn_param *out) { find_tensor(net, index, 0, out); }

int nn_net_state_count(const nn_net *net) { return tensor_count(net, 1); }

void nn_net_state_tensor(const nn_net *net, int index, nn_param *out) {
    find_tensor(net, index, 1, out);
}
