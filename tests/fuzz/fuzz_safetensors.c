/* libFuzzer target: arbitrary bytes as a safetensors network or optimizer
 * blob. Every input must end in success or a clean error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_safetensors.h"
#include "cassnn/nn_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cassnn_err err;
    nn_safetensors st;
    if (nn_st_parse(&st, data, size, &err) == 0) {
        /* touch every tensor the parser vouched for */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < st.count; i++)
            if (st.tensors[i].nbytes) sink ^= st.tensors[i].data[st.tensors[i].nbytes - 1];
        (void)sink;
        nn_st_free(&st);
    }
    /* a blob without a model in its metadata is read as the tutorial net and
     * as a batchnorm net (F32 running statistics, an I64 count) */
    static const char *const fallbacks[] = {
        "tutorial", "conv(2,k=3) bn relu maxpool(2) flatten linear(10) logsoftmax"};
    for (int i = 0; i < 2; i++) {
        nn_net net;
        if (nn_state_load_net(&net, data, size, fallbacks[i], 1, 28, 28, &err) == 0) {
            nn_optim opt;
            if (nn_state_load_optim(&opt, &net, data, size, &err) == 0) nn_optim_free(&opt);
            nn_net_free(&net);
        }
    }
    return 0;
}
