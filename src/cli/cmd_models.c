/* cmd_models.c - `cassnn models list|best|show|export|import|delete`: the
 * model registry in models_train / models_test (`models alias`:
 * cmd_models_alias.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/blob.h"
#include "cassnn/registry.h"
#include "cassnn/schema.h"
#include "args.h"
#include "commands.h"
#include "spool.h"
#include "model_arg.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn models ACTION --keyspace KS [options]\n"
            "  list                     every checkpoint, newest first (table, epoch, loss,\n"
            "                           accuracy, blob sizes)\n"
            "  best [--by accuracy|loss] [--explain]\n"
            "                           id of the models_test row with the highest accuracy\n"
            "                           (default) or lowest loss, alone on stdout; --explain\n"
            "                           prints the CQL it ran on stderr\n"
            "  show ID                  one checkpoint's columns, blob format and network description\n"
            "                           (a blob without one: whether --model's net fits it)\n"
            "  export ID FILE [--format safetensors|pickle] [--optimizer FILE]\n"
            "                           its network blob as a file: as stored, or converted to\n"
            "                           the format (pickle: what the tutorial's pickle.loads +\n"
            "                           load_state_dict reads); --optimizer also writes its\n"
            "                           optimizer blob\n"
            "  import FILE [--optimizer FILE] [--loss X] [--accuracy X]\n"
            "                           store a network file (safetensors or pickle) as a new\n"
            "                           models_test row, in safetensors with its description\n"
            "  --model DESC|@FILE [--input CxHxW]\n"
            "                           the network of a blob that names none (a plain PyTorch\n"
            "                           state_dict, a tutorial row); every tensor name and shape\n"
            "                           is checked against it (import: required for such files;\n"
            "                           show/export: default the tutorial net, 1x28x28)\n"
            "  delete ID                remove a checkpoint\n"
            "  alias set|list|delete    names for models (cassnn models alias --help)\n"

            "  sync                     write the checkpoints a training run left in the local\n"
            "                           spool ($CASSNN_SPOOL/KS, else ~/.cassnn/spool/KS) to the\n"
            "                           registry; every action does this first\n");
}

static void format_time(int64_t ms, char *out, size_t cap) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static int do_list(cql_session *s, const char *ks, cassnn_err *err) {
    registry_model *models;
    size_t n;
    if (registry_list(s, ks, &models, &n, err)) return -1;
    printf("%-36s  %-5s  %-19s  %5s  %5s  %9s  %8s  %8s  %8s\n", "id", "table", "upload_date (UTC)",
           "epoch", "batch", "loss", "accuracy", "network", "optim");
    for (size_t i = 0; i < n; i++) {
        const registry_model *m = &models[i];
        char id[37], when[32], epoch[12] = "-", acc[16] = "-";
        registry_uuid_format(m->id, id);
        format_time(m->upload_ms, when, sizeof when);
        if (m->epoch >= 0) snprintf(epoch, sizeof epoch, "%d", m->epoch);
        if (!isnan(m->accuracy)) snprintf(acc, sizeof acc, "%.4f", (double)m->accuracy);
        printf("%-36s  %-5s  %-19s  %5s  %5s  %9.6f  %8s  %8zu  %8zu\n", id,
               m->table == REGISTRY_TRAIN ? "train" : "test", when, epoch,
               m->batch_percent[0] ? m->batch_percent : "-", (double)m->loss, acc, m->network_len,
               m->optimizer_len);
    }
    printf("%zu checkpoints\n", n);
    free(models);
    return 0;
}

static void explain_to_stderr(void *user, const char *cql) {
    (void)user;
    fprintf(stderr, "%s;\n", cql);
}

static int do_best(cql_session *s, const char *ks, registry_metric by, int explain,
                   cassnn_err *err) {
    registry_model m;
    if (registry_best(s, ks, by, explain ? explain_to_stderr : NULL, NULL, &m, err)) return -1;
    char id[37];
    registry_uuid_format(m.id, id);
    printf("%s\n", id);
    if (explain)
        fprintf(stderr, "best by %s: %s (accuracy %.4f, loss %.6f)\n",
                by == REGISTRY_BY_ACCURACY ? "accuracy" : "loss", id, (double)m.accuracy,
                (double)m.loss);
    return 0;
}

/* A network blob that names no model is checked against the one --model
 * names (default the tutorial's net): does every tensor fit? */
static void show_fit(const registry_model *m, const blob_model *given) {
    const blob_model *fallback = given ? given : &blob_tutorial_model;
    nn_net net;
    cassnn_err err = {0};
    printf("model:         (none in the blob: a tutorial or PyTorch state_dict)\n");
    if (blob_net_decode(m->network, m->network_len, fallback, &net, &err) == 0) {
        printf("fits:          %s on %dx%dx%d%s\n", net.description, net.in_c, net.in_h,
               net.in_w, given ? "" : " (the tutorial's net; --model names another)");
        nn_net_free(&net);
    } else {
        printf("does not fit:  %s\n", err.msg);
    }
}

static void show_network(const registry_model *m, const blob_model *given, cassnn_err *err) {
    blob_dict d;
    blob_format format;
    if (!m->network) return;
    if (blob_parse(m->network, m->network_len, &d, &format, err)) {
        printf("format:        unreadable: %s\n", err->msg);
        return;
    }
    const char *model = blob_dict_meta(&d, "cassnn.model");
    printf("format:        %s\n", blob_format_name(format));
    if (model) printf("model:         %s\n", model);
    else show_fit(m, given);
    for (size_t i = 0; i < d.count; i++) {
        char shape[96];
        blob_format_shape(shape, sizeof shape, d.tensors[i].ndim, d.tensors[i].shape);
        printf("  %-16s %s %s\n", d.tensors[i].name, d.tensors[i].dtype, shape);
    }
    blob_dict_free(&d);
}

static int do_show(cql_session *s, const char *ks, const char *text, cli_model_flags *mf,
                   cassnn_err *err) {
    uint8_t id[16];
    registry_model m;
    const blob_model *given;
    if (cli_model_flags_resolve(mf, &given, err) || registry_uuid_parse(text, id, err) ||
        registry_get(s, ks, id, &m, err))
        return -1;
    char when[32];
    format_time(m.upload_ms, when, sizeof when);
    printf("id:            %s\ntable:         %s.%s\nupload_date:   %s UTC\n", text, ks,
           registry_table_name(m.table), when);
    if (m.table == REGISTRY_TRAIN)
        printf("epoch:         %d\nbatch_percent: %s\n", m.epoch, m.batch_percent);
    printf("loss:          %.6f\n", (double)m.loss);
    if (m.table == REGISTRY_TEST) printf("accuracy:      %.4f\n", (double)m.accuracy);
    printf("network:       %zu bytes\noptimizer:     %zu bytes\n", m.network_len, m.optimizer_len);
    show_network(&m, given, err);
    registry_model_free(&m);
    return 0;
}

static int do_export(cql_session *s, const char *ks, const char *text, const char *path,
                     const char *format_name, const char *optim_path, cli_model_flags *mf,
                     cassnn_err *err) {
    uint8_t id[16];
    blob_format format;
    registry_export_options o = {path, optim_path, format_name ? &format : NULL, NULL};
    size_t net_bytes, optim_bytes;
    if (cli_model_flags_resolve(mf, &o.model, err) || (format_name && blob_format_parse(format_name, &format, err)) ||
        registry_uuid_parse(text, id, err) ||
        registry_export_files(s, ks, id, &o, &net_bytes, &optim_bytes, err))
        return -1;
    printf("wrote %s (%zu bytes)\n", path, net_bytes);
    if (optim_path) printf("wrote %s (%zu bytes)\n", optim_path, optim_bytes);
    return 0;
}

static int do_import(cql_session *s, const char *ks, registry_import_options *o,
                     cli_model_flags *mf, cassnn_err *err) {
    uint8_t id[16];
    if (cli_model_flags_resolve(mf, &o->model, err)) return -1;
    if (registry_import_files(s, ks, o, id, err)) {
        if (!o->model && strstr(err->msg, "names no model"))
            cassnn_err_wrap(err, "give --model DESC|@FILE");
        return -1;
    }
    char text[37];
    registry_uuid_format(id, text);
    printf("%s\n", text);
    return 0;
}

static int do_delete(cql_session *s, const char *ks, const char *text, cassnn_err *err) {
    uint8_t id[16];
    if (registry_uuid_parse(text, id, err) || registry_delete(s, ks, id, err)) return -1;
    printf("deleted %s\n", text);
    return 0;
}

typedef struct models_args {
    conn_options conn;
    const char *keyspace;
    registry_import_options import;
    cli_model_flags model;
    const char *format;
    double loss, accuracy;
    int by, explain;                /* by: 0 accuracy, 1 loss */
    const char *args[3];
} models_args;

enum { LIST, BEST, SHOW, EXPORT, IMPORT, DELETE, SYNC, ACTIONS };

static int parse(int argc, char **argv, models_args *a, cli_command *cmd, int *action) {
    memset(a, 0, sizeof *a);
    conn_options_init(&a->conn);
    a->loss = a->accuracy = NAN;
    cli_model_flags_init(&a->model);
    static const char *const metrics[] = {"accuracy", "loss", NULL};
    const cli_flag flags[] = {
        CLI_FLAG("keyspace", CLI_TEXT, &a->keyspace),
        CLI_CHOICES("by", &a->by, metrics),
        CLI_FLAG("explain", CLI_SWITCH, &a->explain),
        CLI_FLAG("optimizer", CLI_TEXT, &a->import.optimizer_path),
        CLI_FLAG("format", CLI_TEXT, &a->format),
        CLI_MODEL_FLAGS(&a->model),
        CLI_RANGE("loss", CLI_NUMBER, &a->loss, -HUGE_VAL, HUGE_VAL),
        CLI_RANGE("accuracy", CLI_NUMBER, &a->accuracy, -HUGE_VAL, HUGE_VAL),
        CLI_END,
    };
    *cmd = (cli_command){.name = "models", .usage = usage, .flags = flags, .conn = &a->conn,
                         .args = a->args, .max_args = 3};
    const int st = cli_parse(cmd, argc, argv);
    cmd->flags = NULL; /* the table lives on this stack frame */
    if (st != CLI_GO) return st;
    static const struct { const char *name; int args; } actions[ACTIONS] = {
        {"list", 1}, {"best", 1}, {"show", 2}, {"export", 3}, {"import", 2}, {"delete", 2}, {"sync", 1}};
    *action = -1;
    for (int k = 0; cmd->n_args > 0 && k < ACTIONS; k++)
        if (!strcmp(a->args[0], actions[k].name)) *action = k;
    if (*action < 0 || cmd->n_args != actions[*action].args)
        return cli_usage_error(cmd, "expected list, best, show ID, export ID FILE, import FILE "
                                    "delete ID or sync");
    if (!a->keyspace || !registry_valid_name(a->keyspace))
        return cli_usage_error(cmd, "--keyspace KS is required (letters, digits, _)");
    a->import.network_path = a->args[1];
    a->import.loss = (float)a->loss;
    a->import.accuracy = (float)a->accuracy;
    return CLI_GO;
}

int cmd_models(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "alias")) return cmd_models_alias(argc - 1, argv + 1);
    models_args a;
    cli_command cmd;
    int action, rc = parse(argc, argv, &a, &cmd, &action);
    if (rc != CLI_GO) return rc;
    cassnn_err err = {0};
    cql_session *s;
    if (action == SYNC) {
        if (cli_connect_for(&cmd, a.keyspace, &s)) return 1;
        rc = cli_sync_spool(&cmd, s, a.keyspace);
        if (rc == 0) printf("the spool of %s is empty: every checkpoint is in the registry\n", a.keyspace);
        cql_session_close(s);
        return rc ? 1 : 0;
    }
    if (cli_open_registry(&cmd, a.keyspace, &s)) return 1;
    switch (action) {
    case LIST: rc = do_list(s, a.keyspace, &err); break;
    case BEST:
        rc = do_best(s, a.keyspace, a.by ? REGISTRY_BY_LOSS : REGISTRY_BY_ACCURACY, a.explain, &err);
        break;
    case SHOW: rc = do_show(s, a.keyspace, a.args[1], &a.model, &err); break;
    case EXPORT:
        rc = do_export(s, a.keyspace, a.args[1], a.args[2], a.format, a.import.optimizer_path,
                       &a.model, &err);
        break;
    case IMPORT: rc = do_import(s, a.keyspace, &a.import, &a.model, &err); break;
    default: rc = do_delete(s, a.keyspace, a.args[1], &err); break;
    }
    cql_session_close(s);
    cli_model_flags_free(&a.model);
    if (rc) fprintf(stderr, "cassnn models: %s\n", err.msg);
    return rc ? 1 : 0;
}
