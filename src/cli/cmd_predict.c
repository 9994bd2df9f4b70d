/* cmd_predict.c - `cassnn predict`: a stored model (best by accuracy, or an
 * id) classifies the rows of a raw table or image files (a predict run,
 * run.h); with labels it also reports accuracy and the confusion matrix;
 * --write stores the predictions in KS.predictions for other systems to
 * read. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cassnn/run.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "model_arg.h"
#include "spool.h"
#include "report.h"

typedef struct predict_args {
    run_predict_options run;
    conn_options conn;
    cli_model_flags net;
    int write, quiet;
} predict_args;

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn predict --keyspace KS [options]\n"
            "  --id ID|best|ALIAS    the checkpoint to use: an id, the best by accuracy in\n"
            "                        models_test (the default) or an alias (cassnn models alias);\n"
            "                        --model ID says the same\n"
            "  --model DESC|@FILE [--input CxHxW]\n"
            "                        the network of a row whose blob names none (the tutorial's\n"
            "                        pickled rows; default the tutorial's net on 1x28x28); every\n"
            "                        tensor name and shape is checked, the first misfit named\n"
            "  --table T             raw table to classify (default raw_predict; raw_test also\n"
            "                        prints accuracy and the confusion matrix)\n"
            "  --idx FILE [--labels FILE]  classify an IDX image file instead\n"
            "  --png DIR             classify DIR/<label>/*.png instead\n"
            "  --dataset mnist|fashion  normalisation (default from the keyspace name)\n"
            "  --write               store (model_id, id, label, probability) in KS.predictions\n"
            "  --quiet               only the summary, not one line per image\n"
            "  --memory-budget SIZE  memory for the table (e.g. 64M; default: half of MemAvailable):\n"
            "                        a larger table is streamed instead of loaded\n");
}

static int parse(int argc, char **argv, predict_args *a, cli_command *cmd) {
    memset(a, 0, sizeof *a);
    conn_options_init(&a->conn);
    cli_model_flags_init(&a->net);
    run_predict_options *o = &a->run;
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &o->keyspace),
        CLI_FLAG("id", CLI_TEXT, &o->model),
        CLI_MODEL_FLAGS(&a->net),
        CLI_FLAG("table", CLI_TEXT, &o->table),
        CLI_FLAG("idx", CLI_TEXT, &o->idx),
        CLI_FLAG("labels", CLI_TEXT, &o->labels),
        CLI_FLAG("png", CLI_TEXT, &o->png),
        CLI_FLAG("dataset", CLI_TEXT, &o->dataset),
        CLI_FLAG("memory-budget", CLI_SIZE, &o->memory_budget),
        CLI_FLAG("write", CLI_SWITCH, &a->write),
        CLI_FLAG("quiet", CLI_SWITCH, &a->quiet),
        CLI_END,
    };
    *cmd = (cli_command){.name = "predict", .usage = usage, .flags = flags, .conn = &a->conn};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    /* --model ID, as before --id: a uuid is never a description */
    uint8_t uuid[16];
    if (a->net.model && registry_uuid_parse(a->net.model, uuid, NULL) == 0) {
        if (o->model) return cli_usage_error(cmd, "give the checkpoint by --id or --model, not both");
        o->model = a->net.model;
        a->net.model = NULL;
    }
    cassnn_err err = {0};
    if (cli_model_flags_resolve(&a->net, &o->fallback, &err))
        return cli_usage_error(cmd, "%s", err.msg);
    if (!o->keyspace || !registry_valid_name(o->keyspace) ||
        (o->table && !registry_valid_name(o->table)))
        return cli_usage_error(cmd, "--keyspace KS is required (names: letters, digits, _)");
    if (o->idx && o->png) return cli_usage_error(cmd, "give --idx or --png, not both");
    float mean, std;
    if (o->dataset && data_feed_normalisation(o->dataset, &mean, &std))
        return cli_usage_error(cmd, "--dataset %s: expected mnist or fashion", o->dataset);
    return CLI_GO;
}

static void print_confusion(const long *confusion, int classes) {
    printf("confusion matrix (rows: true label, columns: predicted):\n      ");
    for (int p = 0; p < classes; p++) printf("%6d", p);
    printf("\n");
    for (int t = 0; t < classes; t++) {
        printf("%6d", t);
        for (int p = 0; p < classes; p++) printf("%6ld", confusion[t * classes + p]);
        printf("\n");
    }
}

static void print_predictions(const run_predictions *p, int quiet) {
    if (!quiet) {
        printf("id,label,probability\n");
        for (size_t k = 0; k < p->count; k++)
            printf("%d,%d,%.6f\n", p->ids[k], p->predicted[k], (double)p->probability[k]);
    }
    printf("model %s predicted %zu images of %s\n", p->model_id, p->count, p->source);
    if (p->labelled > 0) {
        printf("accuracy: %ld/%ld (%.2f%%)\n", p->correct, p->labelled,
               100.0 * (double)p->correct / (double)p->labelled);
        print_confusion(p->confusion, p->classes);
    }
}

static int predict(predict_args *a, const cli_command *cmd) {
    cql_session *s;
    if (cli_open_registry(cmd, a->run.keyspace, &s)) return 1;
    cassnn_err err = {0};
    run_predictions p;
    /* the tables' report on stderr: stdout is the predictions' CSV */
    const run_events events = cli_table_events(stderr);
    int rc = run_predict(s, &a->run, &events, &p, &err);
    if (rc == 0) {
        print_predictions(&p, a->quiet);
        if (a->write && (rc = run_predictions_write(s, a->run.keyspace, &p, &err)) == 0)
            printf("wrote %zu predictions to %s.predictions (model_id %s)\n", p.count,
                   a->run.keyspace, p.model_id);
        run_predictions_free(&p);
    }
    if (rc) fprintf(stderr, "cassnn predict: %s\n", err.msg);
    cql_session_close(s);
    cli_model_flags_free(&a->net);
    return rc ? 1 : 0;
}

int cmd_predict(int argc, char **argv) {
    predict_args a;
    cli_command cmd;
    const int st = parse(argc, argv, &a, &cmd);
    return st != CLI_GO ? st : predict(&a, &cmd);
}
