/* libFuzzer target: POST /predict bodies (JSON pixels or batches, PNGs of
 * any size) through serve_decode. The first byte picks the Content-Type;
 * the rest is the body. Every input must give an image set or a 4xx, never
 * a crash, a leak or an image of the wrong size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const types[4] = {NULL, "application/json", "image/png", "text/plain"};
    if (size < 1) return 0;
    const serve_shape shapes[2] = {{1, 28, 28}, {1, 2, 2}};
    const int pick = data[0];
    serve_input in;
    char msg[512];
    const int status = serve_decode(data + 1, size - 1, types[pick & 3], shapes[(pick >> 2) & 1], 4,
                                    &in, msg, sizeof msg);
    if (status == 0) {
        const size_t image = (size_t)shapes[(pick >> 2) & 1].h * (size_t)shapes[(pick >> 2) & 1].w;
        if (in.n < 1 || in.n > 4 || !in.pixels) abort();
        volatile uint8_t sum = 0; /* every pixel is readable */
        for (size_t i = 0; i < image * (size_t)in.n; i++) sum += in.pixels[i];
        (void)sum;
        serve_input_free(&in);
    } else if (status < 400 || status > 599 || in.pixels || !msg[0]) {
        abort();
    }
    return 0;
}
