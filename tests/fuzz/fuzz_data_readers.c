/* fuzz_data_readers.c - libFuzzer target for the file readers of untrusted
 * input: the Kaggle CSV reader (labeled/unlabeled, strict and skip_bad) and
 * the IDX reader (raw or gzip, as image file and as label file). The readers
 * take paths, so each input is written to a per-process temporary file. A
 * reader may fail (that is its job); it must not crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cassnn/csv.h"
#include "cassnn/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/cassnn-fuzz-data-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);

    data_images set;
    cassnn_err err;
    for (int labeled = 0; labeled < 2; labeled++)
        for (int skip_bad = 0; skip_bad < 2; skip_bad++)
            if (data_csv_load(path, labeled, skip_bad, &set, NULL, &err) == 0)
                data_images_free(&set);
    if (data_idx_load(path, NULL, &set, &err) == 0) data_images_free(&set);
    if (data_idx_load(path, path, &set, &err) == 0) data_images_free(&set);
    return 0;
}
