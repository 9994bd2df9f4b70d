/* alias.c - names for models in KS.model_aliases (see registry_alias.h). */
#include "cassnn/registry_alias.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cassnn/registry.h"
#include "cassnn/schema.h"

int registry_alias_valid_name(const char *name) {
    size_t n = 0;
    for (; name[n]; n++) {
        const char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    uint8_t id[16];
    /* a uuid would be read as a model id, never as this alias */
    return n >= 1 && n <= 64 && strcmp(name, REGISTRY_ALIAS_BEST) &&
           registry_uuid_parse(name, id, NULL) != 0;
}

static int check_name(const char *name, cassnn_err *err) {
    if (registry_alias_valid_name(name)) return 0;
    return cassnn_err_set(err, "'%s' cannot be an alias (1..64 letters, digits, '_', '-', '.'; "
                               "not a uuid, not the built-in '%s')", name, REGISTRY_ALIAS_BEST);
}

/* Cassandra's error for a table that is not there (code 0x2200, Invalid). */
static int missing_table(const cassnn_err *e) {
    return strstr(e->msg, "unconfigured table") || strstr(e->msg, "model_aliases does not exist");
}

int registry_alias_set(cql_session *s, const char *keyspace, const char *name,
                       const uint8_t id[16], cassnn_err *err) {
    if (check_name(name, err)) return -1;
    registry_model m;
    if (registry_get(s, keyspace, id, &m, err)) return cassnn_err_wrap(err, "alias %s", name);
    registry_model_free(&m);
    char query[256];
    snprintf(query, sizeof query,
             "INSERT INTO %s.model_aliases (name, model_id, updated) VALUES (?, ?, ?)", keyspace);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    cql_value v[3] = {cql_text(name), cql_uuid(id),
                      cql_timestamp((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000)};
    cassnn_err first = {0};
    if (cql_query(s, query, v, 3, NULL, &first) == 0) return 0;
    if (!missing_table(&first)) {
        *err = first;
        return cassnn_err_wrap(err, "setting alias %s", name);
    }
    if (registry_schema_ensure_aliases(s, keyspace, err) ||
        cql_query(s, query, v, 3, NULL, err))
        return cassnn_err_wrap(err, "setting alias %s", name);
    return 0;
}

int registry_alias_get(cql_session *s, const char *keyspace, const char *name, uint8_t id[16],
                       cassnn_err *err) {
    if (check_name(name, err)) return -1;
    char query[200];
    snprintf(query, sizeof query, "SELECT model_id FROM %s.model_aliases WHERE name = ?",
             keyspace);
    cql_value v = cql_text(name);
    cql_result *r;
    if (cql_query(s, query, &v, 1, &r, err)) {
        if (missing_table(err))
            return cassnn_err_set(err, "no alias '%s' in %s (it has no model_aliases table)",
                                  name, keyspace);
        return cassnn_err_wrap(err, "reading alias %s", name);
    }
    int rc = cql_result_row_count(r) == 1 ? cql_get_uuid(r, 0, 0, id, err)
                                          : cassnn_err_set(err, "no alias '%s' in %s.model_aliases",
                                                           name, keyspace);
    cql_result_free(r);
    return rc;
}

int registry_alias_delete(cql_session *s, const char *keyspace, const char *name,
                          cassnn_err *err) {
    uint8_t id[16];
    if (registry_alias_get(s, keyspace, name, id, err)) return -1;
    char query[200];
    snprintf(query, sizeof query, "DELETE FROM %s.model_aliases WHERE name = ?", keyspace);
    cql_value v = cql_text(name);
    if (cql_query(s, query, &v, 1, NULL, err)) return cassnn_err_wrap(err, "deleting alias %s", name);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const registry_alias *)a)->name, ((const registry_alias *)b)->name);
}

int registry_alias_list(cql_session *s, const char *keyspace, registry_alias **out, size_t *n,
                        cassnn_err *err) {
    *out = NULL;
    *n = 0;
    char query[200];
    snprintf(query, sizeof query, "SELECT name, model_id, updated FROM %s.model_aliases",
             keyspace);
    cql_result *r;
    cassnn_err e = {0};
    if (cql_query(s, query, NULL, 0, &r, &e)) {
        if (missing_table(&e)) return 0;
        *err = e;
        return cassnn_err_wrap(err, "listing aliases of %s", keyspace);
    }
    const int32_t rows = cql_result_row_count(r);
    registry_alias *a = calloc((size_t)(rows ? rows : 1), sizeof *a);
    int rc = a ? 0 : cassnn_err_set(err, "out of memory listing aliases");
    for (int32_t i = 0; rc == 0 && i < rows; i++) {
        cql_str name;
        rc = cql_get_text(r, i, 0, &name, err) || cql_get_uuid(r, i, 1, a[i].model_id, err);
        if (rc == 0 && !cql_cell_is_null(cql_result_cell(r, i, 2)))
            rc = cql_get_timestamp(r, i, 2, &a[i].updated_ms, err);
        snprintf(a[i].name, sizeof a[i].name, "%.*s", (int)name.len, name.p);
    }
    cql_result_free(r);
    if (rc) {
        free(a);
        return cassnn_err_wrap(err, "listing aliases of %s", keyspace);
    }
    qsort(a, (size_t)rows, sizeof *a, by_name);
    *out = a;
    *n = (size_t)rows;
    return 0;
}

int registry_model_resolve(cql_session *s, const char *keyspace, const char *model,
                           uint8_t id[16], cassnn_err *err) {
    if (!strcmp(model, REGISTRY_ALIAS_BEST)) {
        registry_model best;
        if (registry_best(s, keyspace, REGISTRY_BY_ACCURACY, NULL, NULL, &best, err)) return -1;
        memcpy(id, best.id, 16);
        return 0;
    }
    if (registry_uuid_parse(model, id, NULL) == 0) return 0;
    if (registry_alias_valid_name(model)) return registry_alias_get(s, keyspace, model, id, err);
    return cassnn_err_set(err, "'%s' is neither a model id, '%s' nor an alias name", model,
                          REGISTRY_ALIAS_BEST);
}
