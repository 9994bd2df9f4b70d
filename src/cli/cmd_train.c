/* cmd_train.c - `cassnn train --idx DIR | --keyspace KS`: trains a model on
 * IDX files or on the raw tables of a keyspace, printing the PyTorch
 * example's progress lines. The loop itself is libcassnn's (nn_train_epoch);
 * this file parses flags, loads data and prints; with --keyspace,
 * train_registry.c adds the checkpoints and --resume. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassnn/blob.h"
#include "cassnn/feed.h"
#include "cassnn/idx.h"
#include "cassnn/nn.h"
#include "cassnn/nn_optim.h"
#include "cassnn/nn_train.h"
#include "cassnn/schema.h"
#include "cassnn/stream.h"
#include "commands.h"
#include "model_arg.h"
#include "train_optim.h"
#include "train_registry.h"

typedef struct train_options {
    const char *idx_dir, *model, *save;
    const char *keyspace, *train_table, *test_table, *dataset, *resume, *host;
    int port;
    int epochs, batch_size, test_batch_size, log_interval, threads;
    train_optim_flags optim;
    unsigned long long seed;
    size_t memory_budget;
} train_options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn train --idx DIR | --keyspace KS [options]\n"
            "  --idx DIR               folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],\n"
            "                          t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]\n"
            "  --keyspace KS           read the raw tables of KS and checkpoint into KS.models_train\n"
            "                          (every log interval) and KS.models_test (after every test)\n"
            "  --train-table T         (default raw_train; raw_train_blob for the blob layout)\n"
            "  --test-table T          (default raw_test; raw_test_blob for the blob layout)\n"
            "  --memory-budget SIZE    memory for the tables (e.g. 64M, 2G; default: half of\n"
            "                          MemAvailable): a table that fits is loaded once, a larger one\n"
            "                          is streamed through a shuffle buffer that fits the budget\n"
            "  --resume ID             continue the run of checkpoint ID (its net, optimizer state,\n"
            "                          seed, batch size and position) up to --epochs\n"
            "  --dataset mnist|fashion normalisation constants (default: fashion when the keyspace\n"
            "                          name contains 'fashion', else mnist)\n"
            "  --host H --port P       the node (default $CASSNN_HOST/$CASSNN_PORT or 127.0.0.1:9042)\n"
            "  --model DESC|@FILE      model description or built-in name (default: tutorial)\n"
            "  --epochs N              (default 3)\n"
            "  --batch-size N          (default 64)\n"
            "  --test-batch-size N     (default 1000)\n"
            "  --seed N                init, shuffle and dropout seed (default 1)\n"
            "  --log-interval N        batches between progress lines (default 10)\n"
            "  --threads N             worker threads (default: online CPUs)\n"
            "  --save FILE             write the trained network as safetensors (PyTorch state_dict names)\n");
    train_optim_usage(out);
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

static void print_progress(void *user, const nn_train_progress *p) {
    train_registry *registry = user;
    if (registry) train_registry_checkpoint(registry, p);
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
    data_feed train_src = {0}, test_src = {0};
    data_stream *train_stream = NULL, *test_stream = NULL;
    train_registry registry = {0}, *checkpoints = o->keyspace ? &registry : NULL;
    registry_train_state resume = {.epoch = 1};
    char *model = NULL;
    int rc = 1;
    float mean, std;
    data_feed_normalisation(o->dataset, &mean, &std);

    if (o->keyspace) {
        if (train_registry_open(&registry, o->host, o->port, o->keyspace, o->train_table,
                                o->test_table, o->memory_budget, &train_set, &test_set, &err))
            goto fail;
    } else if (load_split(o->idx_dir, "train", &train_set, &err) ||
               load_split(o->idx_dir, "t10k", &test_set, &err)) {
        goto fail;
    }
    if (train_set.channels != test_set.channels || train_set.rows != test_set.rows ||
        train_set.cols != test_set.cols) {
        cassnn_err_set(&err, "%s: train images are %dx%dx%d but test images %dx%dx%d", o->idx_dir,
                       train_set.channels, train_set.rows, train_set.cols, test_set.channels,
                       test_set.rows, test_set.cols);
        goto fail;
    }
    uint64_t seed = o->seed;
    int batch_size = o->batch_size;
    if (o->resume) {
        /* The checkpoint decides the net, optimizer, seed and batch size. */
        if (train_registry_resume(&registry, o->resume, &net, &opt, &resume, &err)) goto fail;
        seed = resume.seed;
        batch_size = resume.batch_size;
    } else {
        if (!(model = cli_model_arg(o->model, &err))) goto fail;
        if (nn_net_create(&net, model, train_set.channels, train_set.rows, train_set.cols, &err))
            goto fail;
        nn_net_init(&net, seed);
        if (train_optim_create(&o->optim, &opt, net.n_params, &err)) goto fail;
    }
    if (nn_exec_create(&exec, &net, batch_size, o->test_batch_size, o->threads, seed, &err) ||
        (registry.train_stream_budget
             ? train_registry_stream(&registry, 1, seed, mean, std, &train_set, &train_stream, &err)
             : data_feed_init(&train_src, &train_set, mean, std, 1, seed, &err)) ||
        (registry.test_stream_budget
             ? train_registry_stream(&registry, 0, seed, mean, std, &test_set, &test_stream, &err)
             : data_feed_init(&test_src, &test_set, mean, std, 0, seed, &err)) ||
        (checkpoints && train_registry_start(checkpoints, &net, &opt, seed, batch_size, &err)))
        goto fail;
    /* Dropout masks are keyed by the step count: a resumed run continues it. */
    nn_exec_set_step(exec, (uint64_t)opt.step);
    if (train_stream) data_stream_resume_at(train_stream, resume.next_batch * batch_size);
    else data_feed_resume_at(&train_src, resume.next_batch * batch_size);
    printf("model: %s\ninput: %dx%dx%d, %ld parameters, %zu train / %zu test images, %d threads\n",
           net.description, net.in_c, net.in_h, net.in_w, net.n_params, train_set.count,
           test_set.count, nn_exec_threads(exec));
    nn_batch_source train_batches =
        train_stream ? data_stream_batches(train_stream) : data_feed_batches(&train_src);
    nn_batch_source test_batches =
        test_stream ? data_stream_batches(test_stream) : data_feed_batches(&test_src);
    if (o->keyspace) {
        /* What the tutorial prints first: the shape of the first test batch. */
        const long first = test_set.count < (size_t)o->test_batch_size ? (long)test_set.count
                                                                         : o->test_batch_size;
        printf("first test batch: [%ld, %d, %d, %d]\n", first, test_set.channels, test_set.rows,
               test_set.cols);
    }
    nn_lr_schedule schedule;
    const long batches_per_epoch =
        (train_batches.size(train_batches.ctx) + batch_size - 1) / batch_size;
    const nn_lr_schedule *lr =
        train_optim_schedule(&o->optim, &schedule, o->epochs, batches_per_epoch);
    train_optim_describe(stdout, &opt, lr);
    nn_train_config cfg = {.batch_size = batch_size, .log_interval = o->log_interval, .lr = lr,
                           .first_batch = resume.next_batch};
    nn_eval_stats test;
    if (run_test(exec, &net, &test_batches, o->test_batch_size, &test, &err)) goto fail;
    if (checkpoints) train_registry_test(checkpoints, resume.epoch, &test);
    double train_seconds = 0.0, test_seconds = test.seconds;
    long train_images = 0, test_images = test.images;
    for (int epoch = resume.epoch; epoch <= o->epochs; epoch++) {
        nn_epoch_stats stats;
        if (nn_train_epoch(exec, &net, &opt, &train_batches, epoch, &cfg, print_progress,
                           checkpoints, &stats, &err))
            goto fail;
        cfg.first_batch = 0;
        train_seconds += stats.seconds;
        train_images += stats.images;
        if (run_test(exec, &net, &test_batches, o->test_batch_size, &test, &err)) goto fail;
        test_seconds += test.seconds;
        test_images += test.images;
        if (checkpoints) train_registry_test(checkpoints, epoch + 1, &test);
    }
    if (o->save && blob_net_save_file(&net, BLOB_SAFETENSORS, o->save, &err)) goto fail;
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
    /* Waits for the checkpoint writes and reports any that failed. */
    if (o->keyspace && train_registry_close(&registry)) rc = 1;
    data_stream_close(train_stream);
    data_stream_close(test_stream);
    data_feed_free(&train_src);
    data_feed_free(&test_src);
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
    train_options o = {.model = "tutorial", .train_table = "raw_train", .test_table = "raw_test",
                       .epochs = 3, .batch_size = 64,
                       .test_batch_size = 1000, .log_interval = 10,
                       .threads = cpus > 0 ? (int)cpus : 1,
                       .seed = 1, .memory_budget = data_default_memory_budget()};
    static const struct option longopts[] = {
        {"idx", required_argument, 0, 'i'},        {"model", required_argument, 0, 'm'},
        {"epochs", required_argument, 0, 'e'},     {"batch-size", required_argument, 0, 'b'},
        {"test-batch-size", required_argument, 0, 'B'}, {"seed", required_argument, 0, 's'},
        {"log-interval", required_argument, 0, 'L'}, {"threads", required_argument, 0, 't'},
        {"keyspace", required_argument, 0, 'k'},   {"train-table", required_argument, 0, 'T'},
        {"test-table", required_argument, 0, 'U'}, {"dataset", required_argument, 0, 'd'},
        {"resume", required_argument, 0, 'r'},     {"host", required_argument, 0, 'H'},
        {"port", required_argument, 0, 'P'},       {"save", required_argument, 0, 'S'},
        {"memory-budget", required_argument, 0, 'G'}, {"help", no_argument, 0, 'h'},
        TRAIN_OPTIM_OPTIONS,
        {0, 0, 0, 0},
    };
    train_optim_defaults(&o.optim);
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
        case 'S': o.save = optarg; break;
        case 'e': if (train_parse_int(flag, optarg, 0, &o.epochs)) return 2; break;
        case 'b': if (train_parse_int(flag, optarg, 1, &o.batch_size)) return 2; break;
        case 'B': if (train_parse_int(flag, optarg, 1, &o.test_batch_size)) return 2; break;
        case 'L': if (train_parse_int(flag, optarg, 0, &o.log_interval)) return 2; break;
        case 't': if (train_parse_int(flag, optarg, 1, &o.threads)) return 2; break;
        case 's': if (train_parse_number(flag, optarg, 0, 1.8e19, &v)) return 2; o.seed = (unsigned long long)v; break;
        case 'k': o.keyspace = optarg; break;
        case 'T': o.train_table = optarg; break;
        case 'U': o.test_table = optarg; break;
        case 'd': o.dataset = optarg; break;
        case 'r': o.resume = optarg; break;
        case 'H': o.host = optarg; break;
        case 'P': if (train_parse_int(flag, optarg, 1, &o.port)) return 2; break;
        case 'G':
            if (data_parse_size(optarg, &o.memory_budget)) {
                fprintf(stderr, "cassnn train: --memory-budget '%s': expected a size such as "
                                "64M or 2G\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: {
            const int taken = train_optim_parse(&o.optim, c, flag, optarg);
            if (taken < 0) return 2;
            if (taken > 0) {
                usage(stderr);
                return 2;
            }
        }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cassnn train: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!o.idx_dir == !o.keyspace || (o.resume && !o.keyspace)) {
        fprintf(stderr, "cassnn train: give --idx DIR or --keyspace KS (--resume needs --keyspace)\n");
        usage(stderr);
        return 2;
    }
    if (train_optim_check(&o.optim, o.resume != NULL)) return 2;
    if (!o.dataset) o.dataset = o.keyspace && strstr(o.keyspace, "fashion") ? "fashion" : "mnist";
    float mean, std;
    if (data_feed_normalisation(o.dataset, &mean, &std)) {
        fprintf(stderr, "cassnn train: --dataset %s: expected mnist or fashion\n", o.dataset);
        return 2;
    }
    if (o.keyspace && (!registry_valid_name(o.keyspace) || !registry_valid_name(o.train_table) ||
                       !registry_valid_name(o.test_table))) {
        fprintf(stderr, "cassnn train: keyspace and table names are letters, digits and _ "
                        "(at most 48)\n");
        return 2;
    }
    return train(&o);
}
