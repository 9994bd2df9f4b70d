/* layer_table.c - the layer table: one row per nn_layer_kind (layer.h). */
#include "nn/layer.h"

extern const nn_layer_type nn_conv2d_type, nn_linear_type, nn_maxpool2d_type,
    nn_avgpool2d_type, nn_relu_type, nn_dropout_type, nn_dropout2d_type, nn_flatten_type,
    nn_logsoftmax_type, nn_batchnorm2d_type;

const nn_layer_type *const nn_layer_types[] = {
    [NN_CONV2D] = &nn_conv2d_type,
    [NN_LINEAR] = &nn_linear_type,
    [NN_MAXPOOL2D] = &nn_maxpool2d_type,
    [NN_AVGPOOL2D] = &nn_avgpool2d_type,
    [NN_RELU] = &nn_relu_type,
    [NN_DROPOUT] = &nn_dropout_type,
    [NN_DROPOUT2D] = &nn_dropout2d_type,
    [NN_FLATTEN] = &nn_flatten_type,
    [NN_LOGSOFTMAX] = &nn_logsoftmax_type,
    [NN_BATCHNORM2D] = &nn_batchnorm2d_type,
};

const int nn_layer_type_count = sizeof nn_layer_types / sizeof nn_layer_types[0];

/* Output size of a window sliding over the (padded) input: conv and pooling. */
int nn_window_shape(nn_layer *l, nn_layer_args *a, cassnn_err *err) {
    const int eff_h = l->in_h + 2 * l->pad, eff_w = l->in_w + 2 * l->pad;
    if (l->k > eff_h || l->k > eff_w)
        return nn_layer_error(a, err, "window %dx%d does not fit input %dx%dx%d", l->k, l->k,
                              l->in_c, l->in_h, l->in_w);
    l->out_h = (eff_h - l->k) / l->stride + 1;
    l->out_w = (eff_w - l->k) / l->stride + 1;
    return 0;
}

int nn_pool_parse(nn_layer *l, const char *word, nn_layer_args *a, cassnn_err *err) {
    (void)word;
    return nn_arg_int(a, 0, "k", 0, 1, &l->k, err) ||
           nn_arg_int(a, 1, "s", l->k, 1, &l->stride, err);
}
