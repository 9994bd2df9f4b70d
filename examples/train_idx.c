/* train_idx.c - trains PyTorch's MNIST tutorial net from the published IDX
 * files through libcassnn's public API (cassnn.h), then tests it.
 *
 *   cc train_idx.c $(pkg-config --cflags --libs --static cassnn) -o train_idx
 *   CASSNN_DATA=DIR ./train_idx [TRAIN_IMAGES [THREADS [OUT.safetensors]]]
 *
 * DIR holds mnist/ with the four .gz files (checked against their published
 * MD5s). One epoch over the first TRAIN_IMAGES training images (5000; 0: all
 * 60,000) with the tutorial's recipe (SGD, lr 0.01, momentum 0.5, batches of
 * 64, seed 1), then the accuracy on the 10,000 test images; OUT gets the net
 * as a safetensors file PyTorch loads. No Cassandra here: run_train (run.h)
 * does the same from the raw tables of a keyspace, with the registry's
 * checkpoints, or from a whole IDX folder (run_train_options.idx_dir).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cassnn.h>

typedef struct example {
    data_images train, test;
    nn_net net;
    nn_optim opt;
    nn_exec *exec;
    nn_memory_source train_src, test_src;
} example;

static void example_free(example *x) {
    nn_memory_source_free(&x->test_src);
    nn_memory_source_free(&x->train_src);
    nn_exec_free(x->exec);
    nn_optim_free(&x->opt);
    nn_net_free(&x->net);
    data_images_free(&x->test);
    data_images_free(&x->train);
}

/* The files, the net (PyTorch's initialisation), its optimizer and executor,
 * and a shuffled source over the training images, an ordered one over the
 * test images. */
static int example_open(example *x, long train_images, int threads, cassnn_err *err) {
    const uint64_t seed = 1;
    data_dataset_paths p;
    if (data_dataset_locate(data_dataset_named("mnist"), NULL, &p, err) ||
        data_idx_load(p.path[DATA_TRAIN_IMAGES], p.path[DATA_TRAIN_LABELS], &x->train, err) ||
        data_idx_load(p.path[DATA_TEST_IMAGES], p.path[DATA_TEST_LABELS], &x->test, err))
        return -1;
    /* The first train_images images: the arrays stay as allocated and
     * data_images_free frees them whole. */
    if (train_images > 0 && (size_t)train_images < x->train.count)
        x->train.count = (size_t)train_images;
    const long image_size = (long)data_image_size(&x->train);
    if (nn_net_create(&x->net, "tutorial", x->train.channels, x->train.rows, x->train.cols, err))
        return -1;
    nn_net_init(&x->net, seed);
    if (nn_optim_sgd(&x->opt, x->net.n_params, 0.01f, 0.5f, 0.0f, 0.0f, 0, err) ||
        nn_exec_create(&x->exec, &x->net, 64, 1000, threads, seed, err) ||
        nn_memory_source_init(&x->train_src, x->train.pixels, x->train.labels, (long)x->train.count,
                              image_size, NN_MNIST_MEAN, NN_MNIST_STD, 1, seed, err) ||
        nn_memory_source_init(&x->test_src, x->test.pixels, x->test.labels, (long)x->test.count,
                              image_size, NN_MNIST_MEAN, NN_MNIST_STD, 0, seed, err))
        return -1;
    return 0;
}

static int example_run(example *x, const char *out_path, cassnn_err *err) {
    nn_batch_source train = nn_memory_source_batches(&x->train_src);
    nn_batch_source test = nn_memory_source_batches(&x->test_src);
    const nn_train_config cfg = {.batch_size = 64};
    nn_epoch_stats e;
    nn_eval_stats t;
    if (nn_train_epoch(x->exec, &x->net, &x->opt, &train, 1, &cfg, NULL, NULL, &e, err))
        return -1;
    printf("epoch 1: %ld images in %.1f s, mean loss %.4f\n", e.images, e.seconds, e.loss_mean);
    if (nn_evaluate(x->exec, &x->net, &test, 1000, &t, err)) return -1;
    printf("test: average loss %.4f, accuracy %ld/%ld (%.2f%%)\n", t.loss_sum / (double)t.images,
           t.correct, t.images, 100.0 * (double)t.correct / (double)t.images);
    if (out_path) {
        if (blob_net_save_file(&x->net, BLOB_SAFETENSORS, out_path, err)) return -1;
        printf("saved %s\n", out_path);
    }
    return 0;
}

int main(int argc, char **argv) {
    const long train_images = argc > 1 ? atol(argv[1]) : 5000;
    long threads = argc > 2 ? atol(argv[2]) : 0;
    if (threads <= 0) threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads > 16) threads = 16;
    example x = {0};
    cassnn_err err = {0};
    int rc = example_open(&x, train_images, (int)(threads > 0 ? threads : 1), &err) ||
             example_run(&x, argc > 3 ? argv[3] : NULL, &err);
    if (rc) fprintf(stderr, "train_idx: %s\n", err.msg);
    example_free(&x);
    return rc ? 1 : 0;
}
