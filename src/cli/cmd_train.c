/* cmd_train.c - `cassnn train --idx DIR`: trains a model on IDX files held in
 * memory, printing the PyTorch example's progress lines. The loop itself is
 * libcassnn's (nn_train_epoch); this file parses flags, loads data and prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/idx.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_safetensors.h"
#include "cassnn/nn_train.h"
#include "commands.h"

typedef struct train_options {
    const char *idx_dir, *model;
    int epochs, batch_size, test_batch_size, log_interval, threads;
    float lr, momentum;
    unsigned long long seed;
} train_options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn train --idx DIR [options]\n"
            "  --idx DIR               folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],\n"
            "                          t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]\n"
            "  --model DESC|@FILE      model description or built-in name (default: tutorial)\n"
            "  --epochs N              (default 3)\n"
            "  --lr X                  SGD learning rate (default 0.01)\n"
            "  --momentum X            SGD momentum (default 0.5)\n"
            "  --batch-size N          (default 64)\n"
            "  --test-batch-size N     (default 1000)\n"
            "  --seed N                init, shuffle and dropout seed (default 1)\n"
            "  --log-interval N        batches between progress lines (default 10)\n"
            "  --threads N             worker threads (default: online CPUs)\n");
}

/* Parses a whole-string number within [min, max]; prints the flag on error. */
static int parse_number(const char *flag, const char *text, double min, double max, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "cassnn train: %s '%s': expected a number in [%g, %g]\n", flag, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *flag, const char *text, int min, int *out) {
    double v;
    if (parse_number(flag, text, min, 1e9, &v)) return -1;
    if (v != (double)(int)v) {
        fprintf(stderr, "cassnn train: %s '%s': expected an integer\n", flag, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* DIR/name, or DIR/name.gz when only that exists. */
static void idx_path(char *out, size_t cap, const char *dir, const char *name) {
    struct stat st;
    snprintf(out, cap, "%s/%s", dir, name);
    if (stat(out, &st) == 0) return;
    snprintf(out, cap, "%s/%s.gz", dir, name);
}

static int load_split(const char *dir, const char *prefix, data_images *out, cassnn_err *err) {
    char images[4096], labels[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    idx_path(images, sizeof images, dir, name);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    idx_path(labels, sizeof labels, dir, name);
    return data_idx_load(images, labels, out, err);
}

/* The description: a built-in name, text, or @file. */
static char *read_model(const char *arg, cassnn_err *err) {
    if (arg[0] != '@') return strdup(arg);
    uint8_t *buf;
    size_t len;
    if (nn_file_read(arg + 1, &buf, &len, err)) return NULL;
    char *text = realloc(buf, len + 1);
    if (!text) {
        free(buf);
        cassnn_err_set(err, "%s: out of memory", arg + 1);
        return NULL;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        free(text);
        cassnn_err_set(err, "%s: model description contains a NUL byte", arg + 1);
        return NULL;
    }
    return text;
}

static void print_progress(void *user, const nn_train_progress *p) {
    (void)user;
    printf("Train Epoch: %d [%ld/%ld (%.0f%%)]\tLoss: %.6f\n", p->epoch,
           p->batch_idx * p->batch_len, p->dataset_size,
           100.0 * (double)p->batch_idx / (double)p->batches_per_epoch, p->loss);
    fflush(stdout);
}

static int run_test(nn_exec *e, nn_net *net, nn_batch_source *src, int batch,
                    nn_eval_stats *stats, cassnn_err *err) {
    if (nn_evaluate(e, net, src, batch, stats, err)) return -1;
    const long n = stats->images ? stats->images : 1;
    printf("\nTest set: Average loss: %.4f, Accuracy: %ld/%ld (%.0f%%)\n\n",
           stats->loss_sum / (double)n, stats->correct, stats->images,
           100.0 * (double)stats->correct / (double)n);
    fflush(stdout);
    return 0;
}

static int train(const train_options *o) {
    cassnn_err err = {0};
    data_images train_set = {0}, test_set = {0};
    nn_net net = {0};
    nn_exec *exec = NULL;
    nn_optim opt = {0};
    nn_memory_source train_src = {0}, test_src = {0};
    char *model = NULL;
    int rc = 1;

    if (load_split(o->idx_dir, "train", &train_set, &err) ||
        load_split(o->idx_dir, "t10k", &test_set, &err))
        goto fail;
    if (train_set.channels != test_set.channels || train_set.rows != test_set.rows ||
        train_set.cols != test_set.cols) {
        cassnn_err_set(&err, "%s: train images are %dx%dx%d but test images %dx%dx%d", o->idx_dir,
                       train_set.channels, train_set.rows, train_set.cols, test_set.channels,
                       test_set.rows, test_set.cols);
        goto fail;
    }
    if (!(model = read_model(o->model, &err))) goto fail;
    if (nn_net_create(&net, model, train_set.channels, train_set.rows, train_set.cols, &err))
        goto fail;
    nn_net_init(&net, o->seed);
    if (nn_exec_create(&exec, &net, o->batch_size, o->test_batch_size, o->threads, o->seed, &err) ||
        nn_optim_sgd(&opt, net.n_params, o->lr, o->momentum, 0.0f, 0.0f, 0, &err) ||
        nn_memory_source_init(&train_src, train_set.pixels, train_set.labels, (long)train_set.count,
                              (long)data_image_size(&train_set), NN_MNIST_MEAN, NN_MNIST_STD, 1,
                              o->seed, &err) ||
        nn_memory_source_init(&test_src, test_set.pixels, test_set.labels, (long)test_set.count,
                              (long)data_image_size(&test_set), NN_MNIST_MEAN, NN_MNIST_STD, 0,
                              o->seed, &err))
        goto fail;
    printf("model: %s\ninput: %dx%dx%d, %ld parameters, %zu train / %zu test images, %d threads\n",
           net.description, net.in_c, net.in_h, net.in_w, net.n_params, train_set.count,
           test_set.count, nn_exec_threads(exec));
    nn_batch_source train_batches = nn_memory_source_batches(&train_src);
    nn_batch_source test_batches = nn_memory_source_batches(&test_src);
    nn_train_config cfg = {.batch_size = o->batch_size, .log_interval = o->log_interval};
    nn_eval_stats test;
    if (run_test(exec, &net, &test_batches, o->test_batch_size, &test, &err)) goto fail;
    double train_seconds = 0.0, test_seconds = test.seconds;
    long train_images = 0, test_images = test.images;
    for (int epoch = 1; epoch <= o->epochs; epoch++) {
        nn_epoch_stats stats;
        if (nn_train_epoch(exec, &net, &opt, &train_batches, epoch, &cfg, print_progress, NULL,
                           &stats, &err))
            goto fail;
        train_seconds += stats.seconds;
        train_images += stats.images;
        if (run_test(exec, &net, &test_batches, o->test_batch_size, &test, &err)) goto fail;
        test_seconds += test.seconds;
        test_images += test.images;
    }
    printf("Done: %d epochs, %ld training images in %.2f s = %.0f images/s training, "
           "%.0f images/s testing (%d threads); final accuracy %ld/%ld (%.2f%%)\n",
           o->epochs, train_images, train_seconds,
           train_seconds > 0 ? (double)train_images / train_seconds : 0.0,
           test_seconds > 0 ? (double)test_images / test_seconds : 0.0, nn_exec_threads(exec),
           test.correct, test.images,
           test.images ? 100.0 * (double)test.correct / (double)test.images : 0.0);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "cassnn train: %s\n", err.msg);
done:
    nn_memory_source_free(&train_src);
    nn_memory_source_free(&test_src);
    nn_optim_free(&opt);
    nn_exec_free(exec);
    nn_net_free(&net);
    free(model);
    data_images_free(&train_set);
    data_images_free(&test_set);
    return rc;
}

int cmd_train(int argc, char **argv) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    train_options o = {.model = "tutorial", .epochs = 3, .batch_size = 64,
                       .test_batch_size = 1000, .log_interval = 10,
                       .threads = cpus > 0 ? (int)cpus : 1, .lr = 0.01f, .momentum = 0.5f,
                       .seed = 1};
    static const struct option longopts[] = {
        {"idx", required_argument, 0, 'i'},        {"model", required_argument, 0, 'm'},
        {"epochs", required_argument, 0, 'e'},     {"lr", required_argument, 0, 'l'},
        {"momentum", required_argument, 0, 'M'},   {"batch-size", required_argument, 0, 'b'},
        {"test-batch-size", required_argument, 0, 'B'}, {"seed", required_argument, 0, 's'},
        {"log-interval", required_argument, 0, 'L'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    int c;
    double v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *flag = longopts[0].name;
        for (const struct option *lo = longopts; lo->name; lo++)
            if (lo->val == c) flag = lo->name;
        switch (c) {
        case 'i': o.idx_dir = optarg; break;
        case 'm': o.model = optarg; break;
        case 'e': if (parse_int(flag, optarg, 0, &o.epochs)) return 2; break;
        case 'b': if (parse_int(flag, optarg, 1, &o.batch_size)) return 2; break;
        case 'B': if (parse_int(flag, optarg, 1, &o.test_batch_size)) return 2; break;
        case 'L': if (parse_int(flag, optarg, 0, &o.log_interval)) return 2; break;
        case 't': if (parse_int(flag, optarg, 1, &o.threads)) return 2; break;
        case 'l': if (parse_number(flag, optarg, 0, 1e6, &v)) return 2; o.lr = (float)v; break;
        case 'M': if (parse_number(flag, optarg, 0, 1e6, &v)) return 2; o.momentum = (float)v; break;
        case 's': if (parse_number(flag, optarg, 0, 1.8e19, &v)) return 2; o.seed = (unsigned long long)v; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cassnn train: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!o.idx_dir) {
        fprintf(stderr, "cassnn train: --idx DIR is required\n");
        usage(stderr);
        return 2;
    }
    return train(&o);
}
