/* cmd_models.c - `cassnn models list|best|show|export|import|delete`: the
 * model registry in models_train / models_test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/blob.h"
#include "cassnn/registry.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "connect.h"
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
            "  --host H --port P        the node (default $CASSNN_HOST/$CASSNN_PORT or 127.0.0.1:9042)\n");
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

/* --model / --input: the network of blobs that name none. */
typedef struct model_flags {
    const char *model;          /* NULL: none given */
    int in_c, in_h, in_w;
} model_flags;

/* The fallback for a blob without a description: --model, else for
 * registry rows (tutorial_default) the tutorial's net. */
static int fallback_model(const model_flags *f, int tutorial_default, blob_model *out, char **text,
                          cassnn_err *err) {
    *text = NULL;
    if (!f->model) {
        *out = blob_tutorial_model;
        return tutorial_default ? 1 : 0;
    }
    if (!(*text = cli_model_arg(f->model, err))) return -1;
    *out = (blob_model){*text, f->in_c, f->in_h, f->in_w};
    return 1;
}

static int do_show(cql_session *s, const char *ks, const char *text, cassnn_err *err) {
    uint8_t id[16];
    registry_model m;
    if (registry_uuid_parse(text, id, err) || registry_get(s, ks, id, &m, err)) return -1;
    char when[32];
    format_time(m.upload_ms, when, sizeof when);
    printf("id:            %s\ntable:         %s.%s\nupload_date:   %s UTC\n", text, ks,
           registry_table_name(m.table), when);
    if (m.table == REGISTRY_TRAIN)
        printf("epoch:         %d\nbatch_percent: %s\n", m.epoch, m.batch_percent);
    printf("loss:          %.6f\n", (double)m.loss);
    if (m.table == REGISTRY_TEST) printf("accuracy:      %.4f\n", (double)m.accuracy);
    printf("network:       %zu bytes\noptimizer:     %zu bytes\n", m.network_len, m.optimizer_len);
    blob_dict d;
    blob_format format;
    if (m.network && blob_parse(m.network, m.network_len, &d, &format, err) == 0) {
        const char *model = blob_dict_meta(&d, "cassnn.model");
        printf("format:        %s\nmodel:         %s\n", blob_format_name(format),
               model ? model : "(none in the blob: a tutorial or PyTorch state_dict)");
        for (size_t i = 0; i < d.count; i++) {
            char shape[96];
            blob_format_shape(shape, sizeof shape, d.tensors[i].ndim, d.tensors[i].shape);
            printf("  %-16s %s %s\n", d.tensors[i].name, d.tensors[i].dtype, shape);
        }
        blob_dict_free(&d);
    }
    registry_model_free(&m);
    return 0;
}

/* Re-encodes a row's blobs in `format`: the network always, the optimizer
 * when asked (*optim_out). */
static int convert_row(const registry_model *m, const blob_model *fallback, blob_format format,
                       int with_optim, uint8_t **net_out, size_t *net_len, uint8_t **optim_out,
                       size_t *optim_len, cassnn_err *err) {
    nn_net net;
    if (blob_net_decode(m->network, m->network_len, fallback, &net, err)) return -1;
    int rc = blob_net_encode(&net, format, net_out, net_len, err);
    if (rc == 0 && with_optim) {
        nn_optim opt;
        blob_run_state run;
        int has_run;
        rc = m->optimizer ? blob_optim_decode(m->optimizer, m->optimizer_len, &net, &opt, &run,
                                              &has_run, err)
                          : cassnn_err_set(err, "the row has no optimizer blob");
        if (rc == 0) {
            rc = blob_optim_encode(&opt, &net, has_run ? &run : NULL, format, optim_out,
                                   optim_len, err);
            nn_optim_free(&opt);
        }
        if (rc) free(*net_out);
    }
    nn_net_free(&net);
    return rc;
}

static int do_export(cql_session *s, const char *ks, const char *text, const char *path,
                     const char *format_name, const char *optim_path, const model_flags *mf,
                     cassnn_err *err) {
    uint8_t id[16];
    registry_model m;
    blob_format format;
    blob_model fallback;
    char *desc = NULL;
    if ((format_name && blob_format_parse(format_name, &format, err)) ||
        fallback_model(mf, 1, &fallback, &desc, err) < 0)
        return -1;
    if (registry_uuid_parse(text, id, err) || registry_get(s, ks, id, &m, err)) {
        free(desc);
        return -1;
    }
    uint8_t *net = m.network, *optim = m.optimizer;
    size_t net_len = m.network_len, optim_len = m.optimizer_len;
    int rc = m.network ? 0 : cassnn_err_set(err, "model %s has no network blob", text);
    if (rc == 0 && optim_path && !m.optimizer)
        rc = cassnn_err_set(err, "model %s has no optimizer blob", text);
    if (rc == 0 && format_name)
        rc = convert_row(&m, &fallback, format, optim_path != NULL, &net, &net_len, &optim,
                         &optim_len, err);
    if (rc == 0) rc = blob_file_write(path, net, net_len, err);
    if (rc == 0) printf("wrote %s (%zu bytes)\n", path, net_len);
    if (rc == 0 && optim_path && (rc = blob_file_write(optim_path, optim, optim_len, err)) == 0)
        printf("wrote %s (%zu bytes)\n", optim_path, optim_len);
    if (net != m.network) free(net);
    if (optim != m.optimizer) free(optim);
    registry_model_free(&m);
    free(desc);
    return rc;
}

/* A network file (with its optimizer) is decoded, checked against the
 * model, and stored re-encoded as safetensors with its description. */
static int do_import(cql_session *s, const char *ks, const char *path, const char *optim_path,
                     float loss, float accuracy, const model_flags *mf, cassnn_err *err) {
    registry_model m = {.table = REGISTRY_TEST, .epoch = -1, .loss = loss, .accuracy = accuracy};
    blob_model fallback;
    char *desc = NULL;
    const int has_fallback = fallback_model(mf, 0, &fallback, &desc, err);
    if (has_fallback < 0) return -1;
    registry_model file = {0};
    int rc = blob_file_read(path, &file.network, &file.network_len, err);
    if (rc == 0 && optim_path) {
        rc = blob_file_read(optim_path, &file.optimizer, &file.optimizer_len, err);
        if (rc) cassnn_err_wrap(err, "%s", optim_path);
    }
    if (rc == 0 && (rc = convert_row(&file, has_fallback ? &fallback : NULL, BLOB_SAFETENSORS,
                                     optim_path != NULL, &m.network, &m.network_len,
                                     &m.optimizer, &m.optimizer_len, err)))
        cassnn_err_wrap(err, "%s%s", path,
                        !has_fallback && strstr(err->msg, "names no model") ? " (give --model DESC|@FILE)" : "");
    registry_model_free(&file);
    free(desc);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m.upload_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (rc == 0) rc = registry_uuid_v4(m.id, err);
    if (rc == 0) rc = registry_insert(s, ks, &m, err);
    if (rc == 0) {
        char id[37];
        registry_uuid_format(m.id, id);
        printf("%s\n", id);
    }
    registry_model_free(&m);
    return rc;
}

static int parse_float(const char *flag, const char *text, float *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v)) {
        fprintf(stderr, "cassnn models: %s '%s': expected a number\n", flag, text);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cmd_models(int argc, char **argv) {
    const char *keyspace = NULL, *host = NULL, *optim_path = NULL, *by = "accuracy";
    const char *format = NULL;
    model_flags mf = {NULL, 1, 28, 28};
    const char *args[3] = {0};
    int n_args = 0, port = 0, explain = 0;
    float loss = NAN, accuracy = NAN;
    if (argc > 1 && !strcmp(argv[1], "alias")) return cmd_models_alias(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--keyspace") && has_value) {
            keyspace = argv[++i];
        } else if (!strcmp(a, "--host") && has_value) {
            host = argv[++i];
        } else if (!strcmp(a, "--port") && has_value) {
            port = atoi(argv[++i]);
        } else if (!strcmp(a, "--by") && has_value) {
            by = argv[++i];
        } else if (!strcmp(a, "--explain")) {
            explain = 1;
        } else if (!strcmp(a, "--format") && has_value) {
            format = argv[++i];
        } else if (!strcmp(a, "--model") && has_value) {
            mf.model = argv[++i];
        } else if (!strcmp(a, "--input") && has_value) {
            char tail;
            if (sscanf(argv[++i], "%dx%dx%d%c", &mf.in_c, &mf.in_h, &mf.in_w, &tail) != 3 ||
                mf.in_c <= 0 || mf.in_h <= 0 || mf.in_w <= 0) {
                fprintf(stderr, "cassnn models: --input '%s': expected CxHxW, e.g. 1x28x28\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--optimizer") && has_value) {
            optim_path = argv[++i];
        } else if (!strcmp(a, "--loss") && has_value) {
            if (parse_float(a, argv[++i], &loss)) return 2;
        } else if (!strcmp(a, "--accuracy") && has_value) {
            if (parse_float(a, argv[++i], &accuracy)) return 2;
        } else if (a[0] == '-' || n_args == 3) {
            fprintf(stderr, "cassnn models: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            args[n_args++] = a;
        }
    }
    static const struct { const char *name; int args; } actions[] = {
        {"list", 1}, {"best", 1}, {"show", 2}, {"export", 3}, {"import", 2}, {"delete", 2}};
    int action = -1;
    for (int k = 0; n_args > 0 && k < 6; k++)
        if (!strcmp(args[0], actions[k].name)) action = k;
    if (action < 0 || n_args != actions[action].args) {
        fprintf(stderr, "cassnn models: expected list, best, show ID, export ID FILE, import FILE "
                        "or delete ID\n");
        usage(stderr);
        return 2;
    }
    if (!keyspace || !registry_valid_name(keyspace)) {
        fprintf(stderr, "cassnn models: --keyspace KS is required (letters, digits, _)\n");
        return 2;
    }
    if (strcmp(by, "accuracy") && strcmp(by, "loss")) {
        fprintf(stderr, "cassnn models: --by %s: expected accuracy or loss\n", by);
        return 2;
    }
    cassnn_err err = {0};
    cql_session *s;
    if (cli_connect(host, port, 0, &s, &err)) {
        fprintf(stderr, "cassnn models: %s\n", err.msg);
        return 1;
    }
    int rc;
    uint8_t id[16];
    switch (action) {
    case 0: rc = do_list(s, keyspace, &err); break;
    case 1:
        rc = do_best(s, keyspace, strcmp(by, "loss") ? REGISTRY_BY_ACCURACY : REGISTRY_BY_LOSS,
                     explain, &err);
        break;
    case 2: rc = do_show(s, keyspace, args[1], &err); break;
    case 3:
        rc = do_export(s, keyspace, args[1], args[2], format, optim_path, &mf, &err);
        break;
    case 4: rc = do_import(s, keyspace, args[1], optim_path, loss, accuracy, &mf, &err); break;
    default:
        rc = registry_uuid_parse(args[1], id, &err) || registry_delete(s, keyspace, id, &err);
        if (rc == 0) printf("deleted %s\n", args[1]);
        break;
    }
    cql_session_close(s);
    if (rc) fprintf(stderr, "cassnn models: %s\n", err.msg);
    return rc ? 1 : 0;
}
