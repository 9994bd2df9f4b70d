/* cmd_models.c - `cassnn models list|best|show|export|import|delete`: the
 * model registry in models_train / models_test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/nn_safetensors.h"
#include "cassnn/registry.h"
#include "cassnn/schema.h"
#include "commands.h"
#include "connect.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: cassnn models ACTION --keyspace KS [options]\n"
            "  list                     every checkpoint, newest first (table, epoch, loss,\n"
            "                           accuracy, blob sizes)\n"
            "  best [--by accuracy|loss] [--explain]\n"
            "                           id of the models_test row with the highest accuracy\n"
            "                           (default) or lowest loss, alone on stdout; --explain\n"
            "                           prints the CQL it ran on stderr\n"
            "  show ID                  one checkpoint's columns and its network description\n"
            "  export ID FILE           its network blob as a .safetensors file (PyTorch-readable)\n"
            "  import FILE [--optimizer FILE] [--loss X] [--accuracy X]\n"
            "                           store a .safetensors network as a new models_test row\n"
            "  delete ID                remove a checkpoint\n"
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
    nn_safetensors st;
    if (m.network && nn_st_parse(&st, m.network, m.network_len, err) == 0) {
        const char *model = nn_st_meta(&st, "cassnn.model");
        printf("model:         %s\n", model ? model : "(no description)");
        for (size_t i = 0; i < st.count; i++) {
            printf("  %-16s %s [", st.tensors[i].name, st.tensors[i].dtype);
            for (int d = 0; d < st.tensors[i].ndim; d++)
                printf("%s%lld", d ? ", " : "", (long long)st.tensors[i].shape[d]);
            printf("]\n");
        }
        nn_st_free(&st);
    }
    registry_model_free(&m);
    return 0;
}

static int do_export(cql_session *s, const char *ks, const char *text, const char *path,
                     cassnn_err *err) {
    uint8_t id[16];
    registry_model m;
    if (registry_uuid_parse(text, id, err) || registry_get(s, ks, id, &m, err)) return -1;
    int rc = m.network ? nn_file_write(path, m.network, m.network_len, err)
                       : cassnn_err_set(err, "model %s has no network blob", text);
    if (rc == 0) printf("wrote %s (%zu bytes)\n", path, m.network_len);
    registry_model_free(&m);
    return rc;
}

/* A network file must decode into a net before it is stored. */
static int do_import(cql_session *s, const char *ks, const char *path, const char *optim_path,
                     float loss, float accuracy, cassnn_err *err) {
    registry_model m = {.table = REGISTRY_TEST, .epoch = -1, .loss = loss, .accuracy = accuracy};
    nn_net net;
    if (nn_file_read(path, &m.network, &m.network_len, err)) return -1;
    if (registry_net_decode(m.network, m.network_len, &net, err)) {
        registry_model_free(&m);
        return cassnn_err_wrap(err, "%s", path);
    }
    int rc = 0;
    if (optim_path) {
        nn_optim opt;
        rc = nn_file_read(optim_path, &m.optimizer, &m.optimizer_len, err);
        if (rc == 0 && (rc = registry_optim_decode(m.optimizer, m.optimizer_len, &net, &opt, NULL,
                                                   err)) == 0)
            nn_optim_free(&opt);
        if (rc) cassnn_err_wrap(err, "%s", optim_path);
    }
    nn_net_free(&net);
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
    const char *args[3] = {0};
    int n_args = 0, port = 0, explain = 0;
    float loss = NAN, accuracy = NAN;
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
    case 3: rc = do_export(s, keyspace, args[1], args[2], &err); break;
    case 4: rc = do_import(s, keyspace, args[1], optim_path, loss, accuracy, &err); break;
    default:
        rc = registry_uuid_parse(args[1], id, &err) || registry_delete(s, keyspace, id, &err);
        if (rc == 0) printf("deleted %s\n", args[1]);
        break;
    }
    cql_session_close(s);
    if (rc) fprintf(stderr, "cassnn models: %s\n", err.msg);
    return rc ? 1 : 0;
}
