/* cmd_train.c - `cassnn train --idx DIR | --keyspace KS`: the flags become
 * a training run of libcassnn (run.h); this file prints what the run
 * reports, in the PyTorch example's words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cassnn/run.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "spool.h"
#include "model_arg.h"
#include "report.h"
#include "train_optim.h"

typedef struct train_args {
    run_train_options run;
    conn_options conn;
    train_optim_flags optim;
    const char *save;
    const char *blob_format;
    const char *recipe;
    int stats;
} train_args;

static const char *const yes_no[] = {"no", "yes", NULL};

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
            "                          seed, batch size and position) up to --epochs; a\n"
            "                          models_train row of the tutorial's own code is the net\n"
            "                          --model names (default tutorial), its SGD state, placed by\n"
            "                          its epoch and batch_percent with --batch-size and\n"
            "                          --log-interval (give the tutorial's), going on with --seed\n"
            "  --dataset mnist|fashion normalisation constants (default: fashion when the keyspace\n"
            "                          name contains 'fashion', else mnist)\n"
            "  --recipe NAME           tutorial (default) or fast: sets the model, optimizer, schedule,\n"
            "                          batch size, epochs, augmentation, log interval and initial\n"
            "                          test (fast: 99%% on MNIST in seconds; see the README); flags\n"
            "                          given beside it override its choices\n"
            "  --model DESC|@FILE      model description or built-in name (tutorial, fast;\n"
            "                          default: tutorial)\n"
            "  --epochs N              (default 3)\n"
            "  --batch-size N          (default 64)\n"
            "  --test-batch-size N     (default 1000)\n"
            "  --seed N                init, shuffle, dropout and augmentation seed (default 1)\n"
            "  --augment SPEC          random transforms of each training image: none (default) or\n"
            "                          a list of shift=N (pixels), rotate=DEG, scale=F, e.g.\n"
            "                          shift=2 or shift=1,rotate=10,scale=0.1\n"
            "  --log-interval N        batches between progress lines and checkpoints (default 10)\n"
            "  --initial-test yes|no   test the untrained net first, as the tutorial does (default yes)\n"
            "  --threads N             worker threads (default: online CPUs)\n"
            "  --save FILE             write the trained network as safetensors (PyTorch state_dict names)\n"
            "  --blob-format safetensors|pickle\n"
            "                          the checkpoints' network and optimizer blobs (default\n"
            "                          safetensors; pickle: the tutorial's own format, which its\n"
            "                          pickle.loads + load_state_dict read)\n"

            "  --stats                 print the requests sent to each node\n");
    train_optim_usage(out);
}

static int augment_flag(void *out, const char *name, const char *value) {
    cassnn_err err = {0};
    if (data_augment_parse(value, out, &err) == 0) return 0;
    fprintf(stderr, "cassnn train: --%s: %s\n", name, err.msg);
    return -1;
}

/* One pass over the flags, on top of the defaults and the recipe's
 * choices (NULL: none). */
static int parse_flags(int argc, char **argv, train_args *a, cli_command *cmd,
                       const char *recipe) {
    run_train_defaults(&a->run);
    conn_options_init(&a->conn);
    a->optim = (train_optim_flags){.optim = &a->run.optim};
    a->save = NULL;
    a->blob_format = NULL;
    a->recipe = NULL;
    a->stats = 0;
    run_train_options *o = &a->run;
    cassnn_err err = {0};
    if (recipe && run_train_recipe(o, recipe, &err)) {
        fprintf(stderr, "cassnn train: --recipe: %s\n", err.msg);
        return 2;
    }
    const cli_flag flags[] = {
        CLI_FLAG("idx", CLI_TEXT, &o->idx_dir),
        CLI_FLAG("keyspace", CLI_TEXT, &o->keyspace),
        CLI_FLAG("train-table", CLI_TEXT, &o->train_table),
        CLI_FLAG("test-table", CLI_TEXT, &o->test_table),
        CLI_FLAG("memory-budget", CLI_SIZE, &o->memory_budget),
        CLI_FLAG("resume", CLI_TEXT, &o->resume),
        CLI_FLAG("dataset", CLI_TEXT, &o->dataset),
        CLI_FLAG("model", CLI_TEXT, &o->model),
        CLI_RANGE("epochs", CLI_INT, &o->epochs, 0, 1e9),
        CLI_RANGE("batch-size", CLI_INT, &o->batch_size, 1, 1e9),
        CLI_RANGE("test-batch-size", CLI_INT, &o->test_batch_size, 1, 1e9),
        CLI_FLAG("seed", CLI_U64, &o->seed),
        {"augment", CLI_CALL, &o->augment, 0, 0, NULL, augment_flag},
        CLI_RANGE("log-interval", CLI_INT, &o->log_interval, 0, 1e9),
        CLI_RANGE("threads", CLI_INT, &o->threads, 1, 4096),
        CLI_FLAG("save", CLI_TEXT, &a->save),
        CLI_FLAG("blob-format", CLI_TEXT, &a->blob_format),
        CLI_FLAG("recipe", CLI_TEXT, &a->recipe),
        CLI_CHOICES("initial-test", &o->initial_test, yes_no),
        CLI_FLAG("stats", CLI_SWITCH, &a->stats),
        TRAIN_OPTIM_FLAGS(&a->optim),
        CLI_END,
    };
    *cmd = (cli_command){.name = "train", .usage = usage, .flags = flags, .conn = &a->conn};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    return st;
}

static int parse(int argc, char **argv, train_args *a, cli_command *cmd) {
    int st = parse_flags(argc, argv, a, cmd, NULL);
    /* A recipe sets defaults: the flags are read again on top of its
     * choices, so that each flag given overrides the recipe's. */
    if (st == CLI_GO && a->recipe) st = parse_flags(argc, argv, a, cmd, a->recipe);
    if (st != CLI_GO) return st;
    run_train_options *o = &a->run;
    if (!o->idx_dir == !o->keyspace || (o->resume && !o->keyspace))
        return cli_usage_error(cmd, "give --idx DIR or --keyspace KS (--resume needs --keyspace)");
    if (train_optim_check(&a->optim, o->resume != NULL)) return 2;
    cassnn_err err = {0};
    if (a->blob_format && blob_format_parse(a->blob_format, &o->blob_format, &err))
        return cli_usage_error(cmd, "--blob-format: %s", err.msg);
    float mean, std;
    if (o->dataset && data_feed_normalisation(o->dataset, &mean, &std))
        return cli_usage_error(cmd, "--dataset %s: expected mnist or fashion", o->dataset);
    const char *names[3] = {o->keyspace, o->train_table, o->test_table};
    for (int i = 0; i < 3; i++)
        if (names[i] && !registry_valid_name(names[i]))
            return cli_usage_error(cmd, "keyspace and table names are letters, digits and _ "
                                        "(at most 48)");
    return CLI_GO;
}

static void print_progress(void *user, const nn_train_progress *p) {
    (void)user;
    printf("Train Epoch: %d [%ld/%ld (%.0f%%)]\tLoss: %.6f\n", p->epoch,
           p->batch_idx * p->batch_len, p->dataset_size,
           100.0 * (double)p->batch_idx / (double)p->batches_per_epoch, p->loss);
    fflush(stdout);
}

static void print_lost(void *user, const char *error) {
    (void)user;
    fprintf(stderr, "cassnn train: CHECKPOINT NOT WRITTEN: %s\n", error);
}

static void print_test(const nn_eval_stats *t) {
    const long n = t->images ? t->images : 1;
    printf("\nTest set: Average loss: %.4f, Accuracy: %ld/%ld (%.0f%%)\n\n",
           t->loss_sum / (double)n, t->correct, t->images, 100.0 * (double)t->correct / (double)n);
    fflush(stdout);
}

static void print_header(const run_train_info *in, const run_train_options *o) {
    const nn_net *net = in->net;
    printf("model: %s\ninput: %dx%dx%d, %ld parameters, %zu train / %zu test images, %d threads\n",
           net->description, net->in_c, net->in_h, net->in_w, net->n_params, in->train_images,
           in->test_images, in->threads);
    if (o->keyspace) {
        /* What the tutorial prints first: the shape of the first test batch. */
        const size_t first = in->test_images < (size_t)o->test_batch_size
                                 ? in->test_images : (size_t)o->test_batch_size;
        printf("first test batch: [%zu, %d, %d, %d]\n", first, net->in_c, net->in_h, net->in_w);
    }
    train_optim_describe(stdout, in->optim, in->schedule);
    char augment[96];
    data_augment_format(&o->augment, augment, sizeof augment);
    printf("batch size %d, augmentation: %s\n", in->batch_size, augment);
}

/* Tests before the first epoch and after each; the totals for "Done". */
static int run_epochs(run_train *r, const run_train_options *o, nn_eval_stats *test,
                      double *train_s, long *train_n, double *test_s, long *test_n,
                      cassnn_err *err) {
    *test_s = 0;
    *test_n = 0;
    if (o->initial_test) {
        if (run_train_test(r, test, err)) return -1;
        print_test(test);
        *test_s = test->seconds;
        *test_n = test->images;
    }
    while (run_train_next_epoch(r) <= o->epochs) {
        nn_epoch_stats stats;
        if (run_train_epoch(r, &stats, err) || run_train_test(r, test, err)) return -1;
        print_test(test);
        *train_s += stats.seconds;
        *train_n += stats.images;
        *test_s += test->seconds;
        *test_n += test->images;
    }
    return 0;
}

/* As soon as checkpoint writes fail: which node and error, what is queued. */
static void print_failing(void *user, const registry_writer_report *now) {
    (void)user;
    fprintf(stderr, "cassnn train: WARNING: checkpoint writes are failing (%s); %ld queued, %ld "
                    "spooled to %s so far; training goes on\n",
            now->last_error, now->queued, now->spooled, now->spool_dir);
}

/* Waits for the checkpoint writes and sums them up: 0, 1 when some were
 * lost, CLI_EXIT_SPOOLED when some wait in the spool. */
static int close_run(run_train *r, const char *keyspace) {
    run_train_report rep;
    const int rc = run_train_close(r, &rep);
    if (!rep.checkpoints) return rc ? 1 : 0;
    const registry_writer_report *w = &rep.writes;
    printf("registry: %ld of %ld checkpoints written to %s.models_train/models_test (%ld retried "
           "requests)\n", w->written, w->submitted, keyspace, w->retried);
    if (w->spooled)
        fprintf(stderr, "cassnn train: %ld checkpoint%s (the final model among them when it was "
                        "not written) could not be written and %s in the spool %s; `cassnn models "
                        "sync --keyspace %s` writes them (first error: %s)\n", w->spooled,
                w->spooled == 1 ? "" : "s", w->spooled == 1 ? "is" : "are", w->spool_dir,
                keyspace, w->first_error);
    if (w->failed)
        fprintf(stderr, "\ncassnn train: *** %ld CHECKPOINTS LOST (neither written nor spooled) "
                        "*** first error: %s\n", w->failed, w->first_error);
    return rc ? 1 : w->spooled ? CLI_EXIT_SPOOLED : 0;
}

static int train(train_args *a, const cli_command *cmd) {
    const run_train_options *o = &a->run;
    cassnn_err err = {0};
    cql_session *s = NULL;
    run_train *r = NULL;
    char *model = NULL;
    run_events events = cli_table_events(stdout);
    events.progress = print_progress;
    events.checkpoint_lost = print_lost;
    events.checkpoints_failing = print_failing;
    if (o->keyspace && cli_open_registry(cmd, o->keyspace, &s)) return 1;
    int rc = 1;
    if (o->model && !(model = cli_model_arg(o->model, &err))) goto fail;
    if (model) a->run.model = model;
    if (run_train_open(&r, s, o, &events, &err)) goto fail;
    print_header(run_train_describe(r), o);
    nn_eval_stats test = {0};
    double train_s = 0, test_s = 0;
    long train_n = 0, test_n = 0;
    if (run_epochs(r, o, &test, &train_s, &train_n, &test_s, &test_n, &err)) goto fail;
    if (a->save && run_train_save(r, a->save, &err)) goto fail;
    printf("Done: %d epochs, %ld training images in %.2f s = %.0f images/s training, "
           "%.0f images/s testing (%d threads); final accuracy %ld/%ld (%.2f%%)\n",
           o->epochs, train_n, train_s, train_s > 0 ? (double)train_n / train_s : 0.0,
           test_s > 0 ? (double)test_n / test_s : 0.0, run_train_describe(r)->threads,
           test.correct, test.images,
           test.images ? 100.0 * (double)test.correct / (double)test.images : 0.0);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "cassnn train: %s\n", err.msg);
done:;
    const int closed = close_run(r, o->keyspace);
    if (rc == 0) rc = closed;
    else if (closed == 1) rc = 1;
    if (a->stats) cli_print_node_stats(stdout, s);
    cql_session_close(s);
    free(model);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_args a;
    cli_command cmd;
    const int st = parse(argc, argv, &a, &cmd);
    return st != CLI_GO ? st : train(&a, &cmd);
}
