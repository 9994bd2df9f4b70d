/* nn_bench - training and inference throughput of a cassnn model on MNIST.
 *
 *   nn_bench [--data DIR] [--model DESC] [--threads N] [--epochs N]
 *            [--batch-size 64] [--test-batch-size 1000] [--images N]
 *
 * Trains for --epochs epochs of the training set (its first --images images
 * when given; shuffled, dropout on, SGD lr 0.01 momentum 0.5: the tutorial
 * recipe) and then runs inference over the test set 3 times, timing each
 * phase with a monotonic clock. Prints one key=value line that
 * bench/nn_bench.sh parses:
 *   cassnn train_img_s=... train_img_per_cpu_s=... infer_img_s=... accuracy=...
 *          peak_rss_mb=... threads=... train_mflop_img=... infer_mflop_img=...
 * The MFLOP per image count the multiply-adds of the convolutions and
 * linear layers (2 FLOPs each) as dense: forward for inference; forward,
 * weight gradient and input gradient (not for the first layer) for training.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cassnn/idx.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"

/* CPU seconds used by the whole process: on a shared, busy machine
 * images per CPU-second is steadier than wall-clock throughput. */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Dense FLOPs per image of the convolutions and linear layers. */
static void flops_per_image(const nn_net *net, double *train, double *infer) {
    *train = *infer = 0.0;
    int first = 1;
    for (int i = 0; i < net->n_layers; i++) {
        const nn_layer *l = &net->layers[i];
        double f;
        if (l->kind == NN_CONV2D)
            f = 2.0 * l->out_c * l->out_h * l->out_w * l->in_c * l->k * l->k;
        else if (l->kind == NN_LINEAR)
            f = 2.0 * l->in_c * l->out_c;
        else
            continue;
        *infer += f;
        *train += f * (first ? 2 : 3);
        first = 0;
    }
}

static int load(const char *dir, const char *prefix, data_images *out, cassnn_err *err) {
    char images[4096], labels[4096];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    return data_idx_load(images, labels, out, err);
}

int main(int argc, char **argv) {
    const char *data = getenv("CASSNN_DATA");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/mnist", data ? data : "data");
    const char *model = "tutorial";
    int threads = 2, epochs = 1, batch = 64, test_batch = 1000;
    long images = 0;
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},    {"model", required_argument, 0, 'm'},
        {"threads", required_argument, 0, 't'}, {"epochs", required_argument, 0, 'e'},
        {"batch-size", required_argument, 0, 'b'}, {"test-batch-size", required_argument, 0, 'B'},
        {"images", required_argument, 0, 'n'},  {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': snprintf(dir, sizeof dir, "%s", optarg); break;
        case 'm': model = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'e': epochs = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'B': test_batch = atoi(optarg); break;
        case 'n': images = atol(optarg); break;
        default: fprintf(stderr, "usage: nn_bench [--data DIR] [--model DESC] [--threads N] [--epochs N] [--batch-size N] [--test-batch-size N] [--images N]\n"); return 2;
        }
    }
    cassnn_err err = {0};
    data_images train = {0}, test = {0};
    nn_net net;
    nn_exec *e;
    nn_optim opt;
    nn_memory_source tsrc, esrc;
    if (load(dir, "train", &train, &err) || load(dir, "t10k", &test, &err) ||
        nn_net_create(&net, model, train.channels, train.rows, train.cols, &err)) {
        fprintf(stderr, "nn_bench: %s\n", err.msg);
        return 1;
    }
    nn_net_init(&net, 1);
    if (nn_exec_create(&e, &net, batch, test_batch, threads, 1, &err) ||
        nn_optim_sgd(&opt, net.n_params, 0.01f, 0.5f, 0, 0, 0, &err) ||
        nn_memory_source_init(&tsrc, train.pixels, train.labels,
                              images > 0 && images < (long)train.count ? images : (long)train.count, 784,
                              NN_MNIST_MEAN, NN_MNIST_STD, 1, 1, &err) ||
        nn_memory_source_init(&esrc, test.pixels, test.labels, (long)test.count, 784,
                              NN_MNIST_MEAN, NN_MNIST_STD, 0, 1, &err)) {
        fprintf(stderr, "nn_bench: %s\n", err.msg);
        return 1;
    }
    nn_batch_source tb = nn_memory_source_batches(&tsrc), eb = nn_memory_source_batches(&esrc);
    nn_train_config cfg = {.batch_size = batch};
    double train_s = 0, cpu0 = cpu_seconds();
    long train_n = 0;
    for (int ep = 1; ep <= epochs; ep++) {
        nn_epoch_stats st;
        if (nn_train_epoch(e, &net, &opt, &tb, ep, &cfg, NULL, NULL, &st, &err)) {
            fprintf(stderr, "nn_bench: %s\n", err.msg);
            return 1;
        }
        train_s += st.seconds;
        train_n += st.images;
    }
    const double train_cpu = cpu_seconds() - cpu0;
    double infer_s = 0;
    long infer_n = 0, correct = 0;
    for (int rep = 0; rep < 3; rep++) {
        nn_eval_stats st;
        if (nn_evaluate(e, &net, &eb, test_batch, &st, &err)) {
            fprintf(stderr, "nn_bench: %s\n", err.msg);
            return 1;
        }
        infer_s += st.seconds;
        infer_n += st.images;
        correct = st.correct;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double train_flops, infer_flops;
    flops_per_image(&net, &train_flops, &infer_flops);
    printf("cassnn train_img_s=%.0f train_img_per_cpu_s=%.0f infer_img_s=%.0f accuracy=%.4f "
           "peak_rss_mb=%.1f threads=%d train_mflop_img=%.3f infer_mflop_img=%.3f\n",
           train_n / train_s, train_n / train_cpu, infer_n / infer_s, (double)correct / (double)test.count,
           ru.ru_maxrss / 1024.0, threads, train_flops / 1e6, infer_flops / 1e6);
    nn_memory_source_free(&tsrc);
    nn_memory_source_free(&esrc);
    nn_optim_free(&opt);
    nn_exec_free(e);
    nn_net_free(&net);
    data_images_free(&train);
    data_images_free(&test);
    return 0;
}
