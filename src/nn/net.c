/* net.c - model description parser, shape inference, parameters, init. */
#include "cassnn/nn.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassnn/nn_rng.h"

#define MAX_ARGS 4
/* Largest activation (per image) or parameter count a model may have. */
#define MAX_TENSOR_FLOATS (1 << 28)

static const struct {
    const char *name, *description;
} builtin_models[] = {
    {"tutorial",
     "conv(10,k=5) maxpool(2) relu conv(20,k=5) dropout2d(0.5) maxpool(2) relu flatten "
     "linear(50) relu dropout(0.5) linear(10) logsoftmax"},
};

const char *nn_builtin_model(const char *name) {
    for (size_t i = 0; i < sizeof builtin_models / sizeof builtin_models[0]; i++)
        if (!strcmp(name, builtin_models[i].name)) return builtin_models[i].description;
    return NULL;
}

static const struct {
    const char *word;
    nn_layer_kind kind;
} kinds[] = {
    {"conv", NN_CONV2D},       {"linear", NN_LINEAR},       {"maxpool", NN_MAXPOOL2D},
    {"avgpool", NN_AVGPOOL2D}, {"gap", NN_AVGPOOL2D},       {"relu", NN_RELU},
    {"dropout", NN_DROPOUT},   {"dropout2d", NN_DROPOUT2D}, {"flatten", NN_FLATTEN},
    {"logsoftmax", NN_LOGSOFTMAX}, {"batchnorm2d", NN_BATCHNORM2D}, {"bn", NN_BATCHNORM2D},
};

/* One layer as written, before shapes are known. */
typedef struct parsed_layer {
    char text[96];                 /* as written, for error messages */
    char name[32];
    char word[16];
    int n_args;
    char keys[MAX_ARGS][8];        /* "" for a positional argument */
    double values[MAX_ARGS];
} parsed_layer;

static void reset_batchnorm(nn_net *net, nn_layer *l);

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

/* Parses one layer at *s; on error returns -1 with err naming layer index. */
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
    char ident[32];
    if (!read_ident(&p, ident, sizeof ident))
        return cassnn_err_set(err, "model layer %d '%s': expected a layer kind or name=kind",
                              index + 1, pl->text);
    if (*p == '=') {
        p++;
        snprintf(pl->name, sizeof pl->name, "%s", ident);
        if (!read_ident(&p, ident, sizeof ident))
            return cassnn_err_set(err, "model layer %d '%s': expected a layer kind after '='",
                                  index + 1, pl->text);
    }
    if (strlen(ident) >= sizeof pl->word)
        return cassnn_err_set(err, "model layer %d '%s': unknown layer kind '%s'", index + 1,
                              pl->text, ident);
    strcpy(pl->word, ident);
    if (*p == '(') {
        p++;
        for (;;) {
            p = skip_space(p);
            if (*p == ')' && pl->n_args == 0) break;
            if (pl->n_args == MAX_ARGS)
                return cassnn_err_set(err, "model layer %d '%s': too many arguments", index + 1,
                                      pl->text);
            char key[8] = "";
            const char *q = p;
            char k[8];
            if (read_ident(&q, k, sizeof k) && *q == '=') {
                strcpy(key, k);
                p = q + 1;
            }
            char *num_end;
            double v = strtod(p, &num_end);
            if (num_end == p || !isfinite(v))
                return cassnn_err_set(err, "model layer %d '%s': expected a number in arguments",
                                      index + 1, pl->text);
            strcpy(pl->keys[pl->n_args], key);
            pl->values[pl->n_args++] = v;
            p = skip_space(num_end);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == ')') break;
            return cassnn_err_set(err, "model layer %d '%s': expected ',' or ')' in arguments",
                                  index + 1, pl->text);
        }
        p++;
    }
    if (*p && !isspace((unsigned char)*p) && *p != '#')
        return cassnn_err_set(err, "model layer %d '%s': unexpected '%c' (layers are separated "
                              "by spaces)", index + 1, pl->text, *p);
    *s = p;
    return 0;
}

/* Argument lookup: positional argument `pos` or key `key`; *out keeps the
 * default when absent. Returns -1 on a non-integer where an integer is needed. */
static double arg_value(const parsed_layer *pl, int pos, const char *key, double dflt,
                        int *used) {
    int positional = 0;
    for (int i = 0; i < pl->n_args; i++) {
        if (pl->keys[i][0] == '\0') {
            if (positional++ == pos) {
                used[i] = 1;
                return pl->values[i];
            }
        } else if (key && !strcmp(pl->keys[i], key)) {
            used[i] = 1;
            return pl->values[i];
        }
    }
    return dflt;
}

static int int_arg(const parsed_layer *pl, int index, int pos, const char *key, int dflt,
                   int min, int *used, int *out, cassnn_err *err) {
    double v = arg_value(pl, pos, key, dflt, used);
    if (v == dflt && dflt < min)
        return cassnn_err_set(err, "model layer %d '%s': %s is required", index + 1, pl->text,
                              key ? key : "argument");
    if (v != floor(v) || v < min || v > 1e6)
        return cassnn_err_set(err, "model layer %d '%s': %s must be an integer >= %d", index + 1,
                              pl->text, key ? key : "argument", min);
    *out = (int)v;
    return 0;
}

/* Fills l's kind-specific settings from the arguments and checks that every
 * argument was used. */
static int configure(nn_layer *l, const parsed_layer *pl, int index, int *out_arg,
                     cassnn_err *err) {
    int used[MAX_ARGS] = {0};
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(pl->word, kinds[i].word)) break;
    if (i == sizeof kinds / sizeof kinds[0])
        return cassnn_err_set(err, "model layer %d '%s': unknown layer kind '%s' (known: conv "
                              "linear maxpool avgpool gap relu dropout dropout2d flatten "
                              "logsoftmax batchnorm2d bn)", index + 1, pl->text, pl->word);
    l->kind = kinds[i].kind;
    l->global = !strcmp(pl->word, "gap");
    switch (l->kind) {
    case NN_CONV2D:
        if (pl->n_args == 0 || pl->keys[0][0] != '\0')
            return cassnn_err_set(err, "model layer %d '%s': conv needs (out_channels, k=K)",
                                  index + 1, pl->text);
        if (int_arg(pl, index, 0, "out", 0, 1, used, out_arg, err) ||
            int_arg(pl, index, 1, "k", 0, 1, used, &l->k, err) ||
            int_arg(pl, index, 2, "s", 1, 1, used, &l->stride, err) ||
            int_arg(pl, index, 3, "p", 0, 0, used, &l->pad, err))
            return -1;
        break;
    case NN_LINEAR:
        if (int_arg(pl, index, 0, "out", 0, 1, used, out_arg, err)) return -1;
        break;
    case NN_MAXPOOL2D:
    case NN_AVGPOOL2D:
        if (l->global) break;
        if (int_arg(pl, index, 0, "k", 0, 1, used, &l->k, err) ||
            int_arg(pl, index, 1, "s", l->k, 1, used, &l->stride, err))
            return -1;
        break;
    case NN_DROPOUT:
    case NN_DROPOUT2D:
        l->p = (float)arg_value(pl, 0, "p", 0.5, used);
        if (!(l->p >= 0.0f && l->p < 1.0f))
            return cassnn_err_set(err, "model layer %d '%s': dropout probability must be in "
                                  "[0, 1)", index + 1, pl->text);
        break;
    default:
        break;
    }
    for (int a = 0; a < pl->n_args; a++)
        if (!used[a])
            return cassnn_err_set(err, "model layer %d '%s': unexpected argument %d", index + 1,
                                  pl->text, a + 1);
    return 0;
}

/* Computes l's output shape from its input shape; errors name the shapes. */
static int infer_shape(nn_layer *l, int out_arg, int index, const char *text, cassnn_err *err) {
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    const int flat = l->in_h == 1 && l->in_w == 1;
    switch (l->kind) {
    case NN_CONV2D:
    case NN_MAXPOOL2D:
    case NN_AVGPOOL2D: {
        if (l->global) {
            l->k = l->in_h > l->in_w ? l->in_h : l->in_w;
            if (l->in_h != l->in_w)
                return cassnn_err_set(err, "model layer %d '%s': gap needs a square input, got "
                                      "%dx%dx%d", index + 1, text, l->in_c, l->in_h, l->in_w);
            l->stride = l->k;
        }
        const int eff_h = l->in_h + 2 * l->pad, eff_w = l->in_w + 2 * l->pad;
        if (l->k > eff_h || l->k > eff_w)
            return cassnn_err_set(err, "model layer %d '%s': window %dx%d does not fit input "
                                  "%dx%dx%d", index + 1, text, l->k, l->k, l->in_c, l->in_h,
                                  l->in_w);
        l->out_h = (eff_h - l->k) / l->stride + 1;
        l->out_w = (eff_w - l->k) / l->stride + 1;
        if (l->kind == NN_CONV2D) {
            l->out_c = out_arg;
            if ((double)out_arg * l->in_c * l->k * l->k > MAX_TENSOR_FLOATS)
                return cassnn_err_set(err, "model layer %d '%s': too many weights", index + 1, text);
            l->weight_size = (long)out_arg * l->in_c * l->k * l->k;
            l->bias_size = out_arg;
        }
        break;
    }
    case NN_LINEAR:
        if (!flat)
            return cassnn_err_set(err, "model layer %d '%s': linear needs a flat input, got "
                                  "%dx%dx%d (add flatten before it)", index + 1, text, l->in_c,
                                  l->in_h, l->in_w);
        l->out_c = out_arg;
        if ((double)out_arg * l->in_c > MAX_TENSOR_FLOATS)
            return cassnn_err_set(err, "model layer %d '%s': too many weights", index + 1, text);
        l->weight_size = (long)out_arg * l->in_c;
        l->bias_size = out_arg;
        break;
    case NN_BATCHNORM2D:
        /* on a flat input (C x 1 x 1) this is also PyTorch's BatchNorm1d */
        l->weight_size = l->bias_size = l->in_c;
        break;
    case NN_FLATTEN:
        l->out_c = l->in_c * l->in_h * l->in_w;
        l->out_h = l->out_w = 1;
        break;
    case NN_LOGSOFTMAX:
        if (!flat)
            return cassnn_err_set(err, "model layer %d '%s': logsoftmax needs a flat input, got "
                                  "%dx%dx%d", index + 1, text, l->in_c, l->in_h, l->in_w);
        break;
    default:
        break;
    }
    return 0;
}

static void describe_layer(const nn_layer *l, char *buf, size_t cap) {
    switch (l->kind) {
    case NN_CONV2D:
        snprintf(buf, cap, "%s=conv(%d,k=%d,s=%d,p=%d)", l->name, l->out_c, l->k, l->stride,
                 l->pad);
        break;
    case NN_LINEAR: snprintf(buf, cap, "%s=linear(%d)", l->name, l->out_c); break;
    case NN_MAXPOOL2D: snprintf(buf, cap, "maxpool(%d,s=%d)", l->k, l->stride); break;
    case NN_AVGPOOL2D:
        if (l->global) snprintf(buf, cap, "gap");
        else snprintf(buf, cap, "avgpool(%d,s=%d)", l->k, l->stride);
        break;
    case NN_RELU: snprintf(buf, cap, "relu"); break;
    case NN_DROPOUT: snprintf(buf, cap, "dropout(%.9g)", l->p); break;
    case NN_DROPOUT2D: snprintf(buf, cap, "dropout2d(%.9g)", l->p); break;
    case NN_FLATTEN: snprintf(buf, cap, "flatten"); break;
    case NN_LOGSOFTMAX: snprintf(buf, cap, "logsoftmax"); break;
    case NN_BATCHNORM2D: snprintf(buf, cap, "%s=batchnorm2d", l->name); break;
    }
}

long nn_layer_out_size(const nn_layer *l) { return (long)l->out_c * l->out_h * l->out_w; }

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

    int cap = 8, conv_count = 0, linear_count = 0, bn_count = 0;
    net->layers = calloc((size_t)cap, sizeof *net->layers);
    if (!net->layers) return cassnn_err_set(err, "model: out of memory");
    int c = in_c, h = in_h, w = in_w;
    const char *s = skip_space(description);
    while (*s) {
        int index = net->n_layers;
        parsed_layer pl;
        if (parse_layer(&s, index, &pl, err)) goto fail;
        s = skip_space(s);
        if (net->n_layers == cap) {
            nn_layer *grown = realloc(net->layers, sizeof *grown * (size_t)cap * 2);
            if (!grown) {
                cassnn_err_set(err, "model: out of memory");
                goto fail;
            }
            net->layers = grown;
            cap *= 2;
        }
        nn_layer *l = &net->layers[net->n_layers++];
        memset(l, 0, sizeof *l);
        l->weight_off = l->bias_off = l->buffer_off = -1;
        l->stride = 1;
        int out_arg = 0;
        if (configure(l, &pl, index, &out_arg, err)) goto fail;
        l->in_c = c;
        l->in_h = h;
        l->in_w = w;
        if (infer_shape(l, out_arg, index, pl.text, err)) goto fail;
        /* bounds that keep every size computation far from overflow */
        if ((double)l->out_c * l->out_h * l->out_w > MAX_TENSOR_FLOATS ||
            (double)l->weight_size + (double)net->n_params > MAX_TENSOR_FLOATS) {
            cassnn_err_set(err, "model layer %d '%s': too large (output %dx%dx%d)", index + 1,
                           pl.text, l->out_c, l->out_h, l->out_w);
            goto fail;
        }
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
        if (l->weight_size) {
            if (pl.name[0]) snprintf(l->name, sizeof l->name, "%s", pl.name);
            else if (l->kind == NN_CONV2D) snprintf(l->name, sizeof l->name, "conv%d", conv_count + 1);
            else if (l->kind == NN_BATCHNORM2D) snprintf(l->name, sizeof l->name, "bn%d", bn_count + 1);
            else snprintf(l->name, sizeof l->name, "fc%d", linear_count + 1);
            for (int j = 0; j < net->n_layers - 1; j++)
                if (!strcmp(net->layers[j].name, l->name)) {
                    cassnn_err_set(err, "model layer %d '%s': name '%s' is already used by layer "
                                   "%d", index + 1, pl.text, l->name, j + 1);
                    goto fail;
                }
            l->weight_off = net->n_params;
            l->bias_off = net->n_params + l->weight_size;
            net->n_params += l->weight_size + l->bias_size;
            if (l->kind == NN_BATCHNORM2D) {
                l->buffer_off = net->n_buffers;
                net->n_buffers += 2L * l->out_c;
            }
        } else if (pl.name[0]) {
            cassnn_err_set(err, "model layer %d '%s': only layers with parameters (conv, linear, "
                           "batchnorm2d) take a name", index + 1, pl.text);
            goto fail;
        }
        if (l->kind == NN_CONV2D) conv_count++;
        if (l->kind == NN_LINEAR) linear_count++;
        if (l->kind == NN_BATCHNORM2D) bn_count++;
    }
    if (net->n_layers == 0) {
        cassnn_err_set(err, "model: empty description");
        goto fail;
    }
    if (net->layers[net->n_layers - 1].kind != NN_LOGSOFTMAX) {
        cassnn_err_set(err, "model: the last layer must be logsoftmax (the loss is NLL), got "
                       "layer %d", net->n_layers);
        goto fail;
    }
    net->classes = c;
    if (net->n_params == 0) {
        cassnn_err_set(err, "model: no layer has parameters");
        goto fail;
    }
    net->params = calloc((size_t)net->n_params, sizeof(float));
    net->grads = calloc((size_t)net->n_params, sizeof(float));
    net->buffers = net->n_buffers ? calloc((size_t)net->n_buffers, sizeof(float)) : NULL;
    size_t desc_cap = (size_t)net->n_layers * 100 + 1;
    net->description = malloc(desc_cap);
    if (!net->params || !net->grads || !net->description || (net->n_buffers && !net->buffers)) {
        cassnn_err_set(err, "model: out of memory for %ld parameters", net->n_params);
        goto fail;
    }
    /* batchnorm2d starts as PyTorch's does even before nn_net_init: a net
     * built for loading never has a zero running variance */
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == NN_BATCHNORM2D) reset_batchnorm(net, &net->layers[i]);
    size_t used = 0;
    for (int i = 0; i < net->n_layers; i++) {
        char buf[100];
        describe_layer(&net->layers[i], buf, sizeof buf);
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

static long fan_in(const nn_layer *l) {
    return l->kind == NN_CONV2D ? (long)l->in_c * l->k * l->k : l->in_c;
}

/* BatchNorm2d.reset_parameters(): an identity transform, no history. */
static void reset_batchnorm(nn_net *net, nn_layer *l) {
    for (int c = 0; c < l->out_c; c++) {
        net->params[l->weight_off + c] = 1.0f;
        net->params[l->bias_off + c] = 0.0f;
        net->buffers[l->buffer_off + c] = 0.0f;
        net->buffers[l->buffer_off + l->out_c + c] = 1.0f;
    }
    l->batches_tracked = 0;
}

void nn_net_init(nn_net *net, uint64_t seed) {
    for (int i = 0; i < net->n_layers; i++) {
        nn_layer *l = &net->layers[i];
        if (l->weight_off < 0) continue;
        if (l->kind == NN_BATCHNORM2D) {
            reset_batchnorm(net, l);
            continue;
        }
        nn_rng rng;
        nn_rng_seed(&rng, seed, (uint64_t)i);
        /* kaiming_uniform_(a=sqrt(5)) gives bound = gain*sqrt(3/fan_in) with
         * gain = sqrt(2/(1+5)), i.e. 1/sqrt(fan_in); the bias uses the same. */
        const float bound = 1.0f / sqrtf((float)fan_in(l));
        float *wgt = net->params + l->weight_off;
        for (long j = 0; j < l->weight_size; j++)
            wgt[j] = (2.0f * nn_rng_uniform(&rng) - 1.0f) * bound;
        float *b = net->params + l->bias_off;
        for (long j = 0; j < l->bias_size; j++) b[j] = (2.0f * nn_rng_uniform(&rng) - 1.0f) * bound;
    }
}

/* Tensors of layer l in state_dict order: weight, bias and, with buffers,
 * batchnorm2d's running_mean, running_var, num_batches_tracked. */
static int layer_tensor_count(const nn_layer *l, int with_buffers) {
    if (l->weight_off < 0) return 0;
    return with_buffers && l->kind == NN_BATCHNORM2D ? 5 : 2;
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
        if (l->kind == NN_CONV2D) {
            out->ndim = 4;
            out->shape[1] = l->in_c;
            out->shape[2] = out->shape[3] = l->k;
        } else if (l->kind == NN_LINEAR) {
            out->ndim = 2;
            out->shape[1] = l->in_c;
        }
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
