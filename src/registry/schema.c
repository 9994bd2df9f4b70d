/* schema.c - creates and checks cassnn's keyspace, tables and SAI indexes.
 *
 * The expected schema is data (the tables below), used both to build the
 * CREATE statements and to compare against system_schema.columns, so the two
 * can never disagree.
 */
#include "cassnn/schema.h"

#include <stdio.h>
#include <string.h>

typedef struct column_spec {
    const char *name, *type;
} column_spec;

/* The first column is the partition key; the rest are regular columns. */
typedef struct table_spec {
    const char *name;
    column_spec columns[8];
} table_spec;

#define RAW_TABLE(name, pixels_type) \
    {name, {{"id", "int"}, {"label", "int"}, {"pixels", pixels_type}}}

static const table_spec tutorial_tables[] = {
    RAW_TABLE("raw_train", "list<int>"),
    RAW_TABLE("raw_test", "list<int>"),
    RAW_TABLE("raw_predict", "list<int>"),
    {"models_train",
     {{"id", "uuid"}, {"network", "blob"}, {"optimizer", "blob"}, {"upload_date", "timestamp"},
      {"epoch", "int"}, {"batch_percent", "text"}, {"loss", "float"}}},
    {"models_test",
     {{"id", "uuid"}, {"network", "blob"}, {"optimizer", "blob"}, {"upload_date", "timestamp"},
      {"loss", "float"}, {"accuracy", "float"}}},
};

/* names for models (registry_alias.h) */
static const table_spec alias_table = {
    "model_aliases", {{"name", "text"}, {"model_id", "uuid"}, {"updated", "timestamp"}}};

static const table_spec blob_tables[] = {
    RAW_TABLE("raw_train_blob", "blob"),
    RAW_TABLE("raw_test_blob", "blob"),
    RAW_TABLE("raw_predict_blob", "blob"),
};

const char *const registry_raw_tables[3] = {"raw_train", "raw_test", "raw_predict"};
const char *const registry_raw_blob_tables[3] = {"raw_train_blob", "raw_test_blob",
                                                 "raw_predict_blob"};

static const struct {
    const char *table, *column;
} sai_indexes[] = {
    {"models_train", "loss"},
    {"models_test", "loss"},
    {"models_test", "accuracy"},
};

int registry_valid_name(const char *name) {
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return n >= 1 && n <= 48;
}

static size_t column_count(const table_spec *t) {
    size_t n = 0;
    while (n < sizeof t->columns / sizeof t->columns[0] && t->columns[n].name) n++;
    return n;
}

static int run_ddl(cql_session *s, const char *cql, cassnn_err *err) {
    cql_statement st = cql_stmt(cql, NULL, 0);
    st.timeout_ms = 60000; /* DDL waits for schema agreement on the node */
    if (cql_execute(s, &st, NULL, err)) return cassnn_err_wrap(err, "%s", cql);
    return 0;
}

/* Compares ks.table as the node describes it with spec: every expected column
 * with its type and kind, and no other column. */
static int check_table(cql_session *s, const char *ks, const table_spec *spec, cassnn_err *err) {
    cql_value args[2] = {cql_text(ks), cql_text(spec->name)};
    cql_result *r = NULL;
    if (cql_query(s,
                  "SELECT column_name, kind, type FROM system_schema.columns "
                  "WHERE keyspace_name = ? AND table_name = ?",
                  args, 2, &r, err))
        return cassnn_err_wrap(err, "reading the schema of %s.%s", ks, spec->name);
    size_t expected = column_count(spec);
    int32_t rows = cql_result_row_count(r);
    int rc = 0;
    if (rows == 0) rc = cassnn_err_set(err, "table %s.%s does not exist", ks, spec->name);
    size_t matched = 0;
    for (int32_t row = 0; rc == 0 && row < rows; row++) {
        cql_str name, kind, type;
        if (cql_get_text(r, row, 0, &name, err) || cql_get_text(r, row, 1, &kind, err) ||
            cql_get_text(r, row, 2, &type, err)) {
            rc = -1;
            break;
        }
        const column_spec *want = NULL;
        size_t index = 0;
        for (; index < expected; index++)
            if (strlen(spec->columns[index].name) == name.len &&
                !memcmp(spec->columns[index].name, name.p, name.len)) {
                want = &spec->columns[index];
                break;
            }
        const char *want_kind = index == 0 ? "partition_key" : "regular";
        if (!want)
            rc = cassnn_err_set(err, "table %s.%s exists with a column %.*s that the cassnn "
                                     "schema does not have; not altering it",
                                ks, spec->name, (int)name.len, name.p);
        else if (strlen(want->type) != type.len || memcmp(want->type, type.p, type.len))
            rc = cassnn_err_set(err, "table %s.%s exists with column %s of type %.*s, expected "
                                     "%s; not altering it",
                                ks, spec->name, want->name, (int)type.len, type.p, want->type);
        else if (strlen(want_kind) != kind.len || memcmp(want_kind, kind.p, kind.len))
            rc = cassnn_err_set(err, "table %s.%s exists with column %s as %.*s, expected %s; "
                                     "not altering it",
                                ks, spec->name, want->name, (int)kind.len, kind.p, want_kind);
        else matched++;
    }
    if (rc == 0 && matched != expected)
        rc = cassnn_err_set(err, "table %s.%s exists with %zu of the %zu expected columns; "
                                 "not altering it",
                            ks, spec->name, matched, expected);
    cql_result_free(r);
    return rc;
}

static int create_table(cql_session *s, const char *ks, const table_spec *spec, cassnn_err *err) {
    char cql[1024];
    int n = snprintf(cql, sizeof cql, "CREATE TABLE IF NOT EXISTS %s.%s (", ks, spec->name);
    for (size_t i = 0; i < column_count(spec); i++)
        n += snprintf(cql + n, sizeof cql - (size_t)n, "%s%s %s%s", i ? ", " : "",
                      spec->columns[i].name, spec->columns[i].type, i ? "" : " PRIMARY KEY");
    snprintf(cql + n, sizeof cql - (size_t)n, ")");
    if (run_ddl(s, cql, err)) return -1;
    return check_table(s, ks, spec, err);
}

static int keyspace_exists(cql_session *s, const char *ks, int *exists, cassnn_err *err) {
    cql_value name = cql_text(ks);
    cql_result *r = NULL;
    if (cql_query(s, "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", &name, 1, &r, err))
        return cassnn_err_wrap(err, "looking up keyspace %s", ks);
    *exists = cql_result_row_count(r) > 0;
    cql_result_free(r);
    return 0;
}

static int create_keyspace(cql_session *s, const registry_schema_options *o, cassnn_err *err) {
    char cql[512];
    if (o->datacenter)
        snprintf(cql, sizeof cql,
                 "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                 "{'class': 'NetworkTopologyStrategy', '%s': %d}",
                 o->keyspace, o->datacenter, o->replication_factor);
    else
        snprintf(cql, sizeof cql,
                 "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': %d}",
                 o->keyspace, o->replication_factor);
    return run_ddl(s, cql, err);
}

int registry_schema_create(cql_session *s, const registry_schema_options *o, cassnn_err *err) {
    if (!registry_valid_name(o->keyspace))
        return cassnn_err_set(err, "invalid keyspace name '%s' (letters, digits, _; at most 48)",
                              o->keyspace);
    if (o->replication_factor < 1)
        return cassnn_err_set(err, "replication factor %d must be at least 1",
                              o->replication_factor);
    if (o->datacenter && !registry_valid_name(o->datacenter))
        return cassnn_err_set(err, "invalid datacenter name '%s'", o->datacenter);
    /* A keyspace that exists is used as it is: managed clusters (DataStax
     * Astra) create keyspaces in their console and refuse CREATE KEYSPACE
     * from CQL, even with IF NOT EXISTS. */
    int exists = 0;
    if (keyspace_exists(s, o->keyspace, &exists, err) || (!exists && create_keyspace(s, o, err))) return -1;

    char cql[512];
    for (size_t i = 0; i < sizeof tutorial_tables / sizeof tutorial_tables[0]; i++)
        if (create_table(s, o->keyspace, &tutorial_tables[i], err)) return -1;
    if (create_table(s, o->keyspace, &alias_table, err)) return -1;
    for (size_t i = 0; o->blob_layout && i < sizeof blob_tables / sizeof blob_tables[0]; i++)
        if (create_table(s, o->keyspace, &blob_tables[i], err)) return -1;
    for (size_t i = 0; i < sizeof sai_indexes / sizeof sai_indexes[0]; i++) {
        snprintf(cql, sizeof cql,
                 "CREATE CUSTOM INDEX IF NOT EXISTS %s_%s_idx ON %s.%s (%s) "
                 "USING 'StorageAttachedIndex'",
                 sai_indexes[i].table, sai_indexes[i].column, o->keyspace, sai_indexes[i].table,
                 sai_indexes[i].column);
        if (run_ddl(s, cql, err)) return -1;
    }
    return cql_wait_schema_agreement(s, 60000, err);
}

int registry_schema_ensure_raw_table(cql_session *s, const char *keyspace, const char *table,
                                     cassnn_err *err) {
    if (!registry_valid_name(keyspace) || !registry_valid_name(table))
        return cassnn_err_set(err, "invalid keyspace or table name '%s.%s'", keyspace, table);
    size_t len = strlen(table);
    int blob = len > 5 && !strcmp(table + len - 5, "_blob");
    table_spec spec = RAW_TABLE(table, blob ? "blob" : "list<int>");
    return create_table(s, keyspace, &spec, err);
}

int registry_schema_ensure_aliases(cql_session *s, const char *keyspace, cassnn_err *err) {
    return create_table(s, keyspace, &alias_table, err);
}
