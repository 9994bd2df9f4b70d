/* keyspace.c - keyspaces and their replication (see keyspace.h). */
#include "cql/keyspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/session.h"

/* ------------------------------------------------------ the map, parsed */

static int ends_with(cql_str s, const char *suffix) {
    size_t n = strlen(suffix);
    return s.len >= n && !memcmp(s.p + s.len - n, suffix, n) && (s.len == n || s.p[s.len - n - 1] == '.');
}

static int eq(cql_str s, const char *lit) { return s.len == strlen(lit) && !memcmp(s.p, lit, s.len); }

/* "3" or "3/1" (3 replicas, 1 of them transient): the full replicas. */
static int parse_factor(cql_str v, int *rf, cassnn_err *err) {
    int n = 0;
    size_t i = 0;
    for (; i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && n < 100000; i++) n = n * 10 + (v.p[i] - '0');
    if (i == 0 || (i < v.len && v.p[i] != '/'))
        return cassnn_err_set(err, "replication factor '%.*s' is not a number", (int)v.len, v.p);
    *rf = n;
    return 0;
}

static int rd_text(cql_rd *r, cql_str *out, cassnn_err *err) {
    const uint8_t *p;
    int32_t len;
    if (cql_rd_bytes(r, &p, &len, err)) return -1;
    *out = len < 0 ? (cql_str){"", 0} : (cql_str){(const char *)p, (size_t)len};
    return 0;
}

int cql_replication_parse(cql_cell map, cql_type type, cql_replication *out, cassnn_err *err) {
    memset(out, 0, sizeof *out);
    if (type.id != CQL_TYPE_MAP) return cassnn_err_set(err, "replication: not a map");
    if (cql_cell_is_null(map)) return cassnn_err_set(err, "replication: null");
    cql_rd r = {map.p, (size_t)map.len, 0};
    int32_t n;
    if (cql_rd_i32(&r, &n, err)) return cassnn_err_wrap(err, "replication");
    if (n < 0) return cassnn_err_set(err, "replication: %d entries", n);
    int rf = 0;
    for (int32_t i = 0; i < n; i++) {
        cql_str k, v;
        if (rd_text(&r, &k, err) || rd_text(&r, &v, err)) return cassnn_err_wrap(err, "replication entry %d", i);
        if (eq(k, "class")) {
            out->strategy = ends_with(v, "SimpleStrategy")             ? CQL_REPL_SIMPLE
                            : ends_with(v, "NetworkTopologyStrategy") ? CQL_REPL_NTS
                            : ends_with(v, "LocalStrategy")           ? CQL_REPL_LOCAL
                            : ends_with(v, "EverywhereStrategy")      ? CQL_REPL_EVERYWHERE
                                                                      : CQL_REPL_UNKNOWN;
        } else if (eq(k, "replication_factor")) {
            if (parse_factor(v, &rf, err)) return -1;
        } else {
            if (out->n_dcs == CQL_REPL_MAX_DCS)
                return cassnn_err_set(err, "replication: more than %d data centers", CQL_REPL_MAX_DCS);
            if (k.len >= CQL_NAME_MAX) return cassnn_err_set(err, "replication: data center name too long");
            memcpy(out->dcs[out->n_dcs].name, k.p, k.len);
            out->dcs[out->n_dcs].name[k.len] = '\0';
            if (parse_factor(v, &out->dcs[out->n_dcs].rf, err)) return -1;
            out->n_dcs++;
        }
    }
    if (out->strategy == CQL_REPL_SIMPLE) out->rf = rf;
    if (out->strategy != CQL_REPL_NTS) out->n_dcs = 0; /* other keys of other classes mean nothing here */
    return 0;
}

/* ------------------------------------------------------- the keyspaces */

void keyspaces_init(cql_keyspaces *k) {
    *k = (cql_keyspaces){.head = NULL};
    pthread_mutex_init(&k->lock, NULL);
}

void keyspaces_free(cql_keyspaces *k) {
    for (cql_keyspace *ks = k->head, *next; ks; ks = next) {
        next = ks->next;
        free((void *)atomic_load(&ks->replication));
        free(ks);
    }
    cql_kept_free_all(&k->replaced);
    pthread_mutex_destroy(&k->lock);
}

/* Publishes r (may be NULL) as ks's replication, keeping the old one. */
static int publish(cql_keyspaces *k, cql_keyspace *ks, cql_replication *r, cassnn_err *err) {
    cql_kept *node = cql_kept_node();
    if (!node) {
        free(r);
        return cassnn_err_set(err, "cql: out of memory");
    }
    pthread_mutex_lock(&k->lock);
    cql_kept_push(&k->replaced, node, (void *)atomic_exchange(&ks->replication, r), free);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

int keyspaces_reload(cql_session *s, cql_keyspace *ks, cassnn_err *err) {
    cql_value name = cql_text(ks->name);
    cql_result *res;
    if (session_control_query(s, "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", &name,
                              1, &res, err))
        return cassnn_err_wrap(err, "reading the replication of keyspace %s", ks->name);
    cql_replication *r = NULL;
    int rc = 0;
    if (cql_result_row_count(res) == 1) {
        if (!(r = malloc(sizeof *r))) rc = cassnn_err_set(err, "cql: out of memory");
        else if (cql_replication_parse(cql_result_cell(res, 0, 0), cql_result_column(res, 0)->type, r, err))
            rc = cassnn_err_wrap(err, "keyspace %s", ks->name);
    }
    cql_result_free(res);
    if (rc) {
        free(r);
        return -1;
    }
    return publish(&s->keyspaces, ks, r, err);
}

static cql_keyspace *find(cql_keyspaces *k, const char *name) {
    pthread_mutex_lock(&k->lock);
    cql_keyspace *ks = k->head;
    while (ks && strcmp(ks->name, name)) ks = ks->next;
    pthread_mutex_unlock(&k->lock);
    return ks;
}

cql_keyspace *keyspaces_get(cql_session *s, const char *name, cassnn_err *err) {
    cql_keyspaces *k = &s->keyspaces;
    if (strlen(name) >= CQL_NAME_MAX) {
        cassnn_err_set(err, "cql: keyspace name too long: %.80s", name);
        return NULL;
    }
    cql_keyspace *ks = find(k, name);
    if (!ks) {
        cql_keyspace *fresh = calloc(1, sizeof *fresh);
        if (!fresh) {
            cassnn_err_set(err, "cql: out of memory");
            return NULL;
        }
        strcpy(fresh->name, name);
        pthread_mutex_lock(&k->lock);
        for (ks = k->head; ks && strcmp(ks->name, name);) ks = ks->next;
        if (!ks) { /* nobody added it meanwhile */
            fresh->next = k->head;
            k->head = ks = fresh;
            fresh = NULL;
        }
        pthread_mutex_unlock(&k->lock);
        free(fresh);
    }
    if (!atomic_load(&ks->replication) && keyspaces_reload(s, ks, err)) return NULL;
    return ks;
}

void keyspaces_mark_stale(cql_keyspaces *k, const char *name) {
    cql_keyspace *ks = find(k, name);
    if (ks) atomic_store(&ks->stale, 1);
}

void keyspaces_refresh_stale(cql_session *s) {
    pthread_mutex_lock(&s->keyspaces.lock);
    cql_keyspace *ks = s->keyspaces.head; /* entries are only ever prepended */
    pthread_mutex_unlock(&s->keyspaces.lock);
    for (; ks; ks = ks->next) {
        cassnn_err e = {0};
        if (atomic_exchange(&ks->stale, 0) && keyspaces_reload(s, ks, &e)) atomic_store(&ks->stale, 1);
    }
}

int cql_keyspace_local_rf(cql_session *s, const char *keyspace, int *rf, cassnn_err *err) {
    cql_keyspace *ks = keyspaces_get(s, keyspace, err);
    if (!ks) return -1;
    const cql_replication *r = atomic_load(&ks->replication);
    if (!r) return cassnn_err_set(err, "cql: keyspace %s does not exist", keyspace);
    const char *dc = s->topo.local_dc;
    switch (r->strategy) {
    case CQL_REPL_SIMPLE: *rf = r->rf; return 0;
    case CQL_REPL_LOCAL: *rf = 1; return 0;
    case CQL_REPL_EVERYWHERE:
        *rf = 0;
        for (int i = 0; i < s->topo.n_hosts; i++) *rf += !*dc || !strcmp(s->topo.hosts[i]->dc, dc);
        return 0;
    case CQL_REPL_NTS:
        for (int d = 0; d < r->n_dcs; d++)
            if (!strcmp(r->dcs[d].name, dc) || (!*dc && r->n_dcs == 1)) {
                *rf = r->dcs[d].rf;
                return 0;
            }
        *rf = 0; /* no replica in this DC */
        return 0;
    default: return cassnn_err_set(err, "cql: keyspace %s: unknown replication class", keyspace);
    }
}
