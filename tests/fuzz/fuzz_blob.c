/* libFuzzer target: arbitrary bytes as a network or optimizer blob of
 * either format (safetensors, PyTorch pickle), through the one entry point
 * (blob.h). Every input must end in success or a clean error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cassnn/blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cassnn_err err;
    blob_dict d;
    blob_format format;
    if (blob_parse(data, size, &d, &format, &err) == 0) {
        /* touch every tensor the parser vouched for */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < d.count; i++)
            if (d.tensors[i].nbytes) sink ^= d.tensors[i].data[d.tensors[i].nbytes - 1];
        (void)sink;
        blob_dict_free(&d);
    }
    /* a blob without a model in its metadata is read as the tutorial net and
     * as a batchnorm net (F32 running statistics, an I64 count); each net
     * then reads the same bytes as its optimizer */
    static const blob_model fallbacks[] = {
        {"tutorial", 1, 28, 28},
        {"conv(2,k=3) bn relu maxpool(2) flatten linear(10) logsoftmax", 1, 10, 10}};
    for (int i = 0; i < 2; i++) {
        nn_net net;
        if (blob_net_decode(data, size, &fallbacks[i], &net, &err) == 0) {
            nn_optim opt;
            blob_run_state run;
            int has_run;
            if (blob_optim_decode(data, size, &net, &opt, &run, &has_run, &err) == 0)
                nn_optim_free(&opt);
            nn_net_free(&net);
        }
    }
    return 0;
}
