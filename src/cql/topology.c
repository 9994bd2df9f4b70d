/* topology.c - the node table and the ring (see topology.h). */
#include "cql/topology.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void topology_dial(const cql_topology *t, const cql_config *cfg, const cql_host *h, cql_dial *out) {
    memset(out, 0, sizeof *out);
    if (!t->proxy_host[0]) {
        out->address = h->address;
        out->port = h->port;
        out->sni = cfg->tls_sni;
        return;
    }
    out->address = t->proxy_host;
    out->port = t->proxy_port;
    cql_uuid_format(h->host_id, out->sni_buf);
    out->sni = out->sni_buf;
    out->verify_name = t->proxy_host;
}

static void host_free(cql_host *h) {
    if (!h) return;
    pool_destroy(&h->pool);
    free(h->tokens);
    free(h);
}

/* Appends a node (no connection yet); its index, or -1. */
static int host_add(cql_topology *t, const char *address, int port, int conns, cassnn_err *err) {
    cql_host **hs = realloc(t->hosts, (size_t)(t->n_hosts + 1) * sizeof *hs);
    if (!hs) return cassnn_err_set(err, "cql: out of memory");
    t->hosts = hs;
    cql_host *h = calloc(1, sizeof *h);
    if (!h || pool_init(&h->pool, conns)) {
        free(h);
        return cassnn_err_set(err, "cql: out of memory");
    }
    snprintf(h->address, sizeof h->address, "%s", address);
    h->port = port;
    hs[t->n_hosts] = h;
    return t->n_hosts++;
}

int topology_add_contacts(cql_topology *t, const char *list, int port, int conns, cassnn_err *err) {
    char *copy = strdup(list), *save = NULL;
    if (!copy) return cassnn_err_set(err, "cql: out of memory");
    int rc = 0;
    for (char *tok = strtok_r(copy, ", ", &save); tok && !rc; tok = strtok_r(NULL, ", ", &save))
        if (topology_find_address(t, tok) < 0 && host_add(t, tok, port, conns, err) < 0) rc = -1;
    free(copy);
    if (!rc && t->n_hosts == 0) rc = cassnn_err_set(err, "cql: no contact point given");
    return rc;
}

int topology_add_host_ids(cql_topology *t, const uint8_t (*ids)[16], int n, int conns, cassnn_err *err) {
    for (int k = 0; k < n; k++) {
        if (topology_find_id(t, ids[k]) >= 0) continue;
        char name[37];
        cql_uuid_format(ids[k], name);
        int i = host_add(t, name, t->proxy_port, conns, err);
        if (i < 0) return -1;
        memcpy(t->hosts[i]->host_id, ids[k], 16);
        t->hosts[i]->has_host_id = 1;
    }
    return t->n_hosts ? 0 : cassnn_err_set(err, "cql: no contact point given");
}

int topology_find_address(const cql_topology *t, const char *address) {
    for (int i = 0; i < t->n_hosts; i++)
        if (!strcmp(t->hosts[i]->address, address)) return i;
    return -1;
}

int topology_find_id(const cql_topology *t, const uint8_t id[16]) {
    for (int i = 0; i < t->n_hosts; i++)
        if (t->hosts[i]->has_host_id && !memcmp(t->hosts[i]->host_id, id, 16)) return i;
    return -1;
}

/* ------------------------------------------------ system table columns */

/* The cell of a column by name; a null cell when the node did not send it
 * (older nodes and test servers send fewer columns). */
static cql_cell column_cell(const cql_result *r, int32_t row, const char *name, cql_type *type) {
    int32_t col = cql_result_column_index(r, name);
    if (col < 0) return (cql_cell){NULL, -1};
    *type = cql_result_column(r, col)->type;
    return cql_result_cell(r, row, col);
}

static int read_text(const cql_result *r, int32_t row, const char *name, char *out, size_t cap, cassnn_err *err) {
    cql_type t;
    cql_cell c = column_cell(r, row, name, &t);
    out[0] = '\0';
    if (cql_cell_is_null(c)) return 0;
    cql_str s;
    if (cql_cell_text(c, t, &s, err)) return cassnn_err_wrap(err, "column %s", name);
    snprintf(out, cap, "%.*s", (int)(s.len < cap ? s.len : cap - 1), s.p);
    return 0;
}

static int read_host_id(const cql_result *r, int32_t row, cql_host *h, cassnn_err *err) {
    cql_type t;
    cql_cell c = column_cell(r, row, "host_id", &t);
    if (cql_cell_is_null(c)) return 0;
    if (cql_cell_uuid(c, t, h->host_id, err)) return cassnn_err_wrap(err, "column host_id");
    h->has_host_id = 1;
    return 0;
}

static int read_tokens(const cql_result *r, int32_t row, cql_host *h, cassnn_err *err) {
    cql_type t;
    cql_cell c = column_cell(r, row, "tokens", &t);
    if (cql_cell_is_null(c)) return 0;
    int32_t n;
    if (cql_cell_list_count(c, t, &n, err)) return -1;
    cql_cell *items = malloc((size_t)(n ? n : 1) * sizeof *items);
    int64_t *tokens = malloc((size_t)(n ? n : 1) * sizeof *tokens);
    int rc = items && tokens ? cql_cell_list_items(c, t, items, n, err) : cassnn_err_set(err, "cql: out of memory");
    cql_type elem = {t.elem, 0, 0};
    for (int32_t i = 0; i < n && !rc; i++) {
        cql_str tok;
        char buf[32];
        if ((rc = cql_cell_text(items[i], elem, &tok, err))) break;
        snprintf(buf, sizeof buf, "%.*s", (int)(tok.len < 31 ? tok.len : 31), tok.p);
        tokens[i] = strtoll(buf, NULL, 10);
    }
    free(items);
    if (rc) {
        free(tokens);
        return -1;
    }
    free(h->tokens);
    h->tokens = tokens;
    h->n_tokens = n;
    return 0;
}

/* An inet column as text ("" when null or not an address). */
static void read_inet(const cql_result *r, int32_t row, const char *name, char *out, size_t cap) {
    cql_type t;
    cql_cell c = column_cell(r, row, name, &t);
    if ((c.len != 4 && c.len != 16) || !inet_ntop(c.len == 4 ? AF_INET : AF_INET6, c.p, out, (socklen_t)cap))
        out[0] = '\0';
}

/* Behind a proxy the address is only a name: the one the cluster uses for
 * the node (in its events), from the row's `column`. */
static void read_proxied_address(const cql_topology *t, const cql_result *r, int32_t row, const char *column,
                                 cql_host *h) {
    char addr[64];
    read_inet(r, row, column, addr, sizeof addr);
    if (t->proxy_host[0] && addr[0]) snprintf(h->address, sizeof h->address, "%s", addr);
}

static int read_node(const cql_result *r, int32_t row, cql_host *h, cassnn_err *err) {
    if (read_host_id(r, row, h, err) || read_text(r, row, "data_center", h->dc, sizeof h->dc, err) ||
        read_text(r, row, "rack", h->rack, sizeof h->rack, err) || read_tokens(r, row, h, err))
        return -1;
    h->listed = 1;
    return 0;
}

/* ------------------------------------------------------------ discovery */

/* One peers_v2 row: the node it describes, added when new. */
static int add_peer(cql_topology *t, const cql_result *r, int32_t row, const cql_config *cfg, int conns,
                    cassnn_err *err) {
    cql_type pt;
    cql_cell pc = column_cell(r, row, "native_port", &pt);
    char addr[64];
    read_inet(r, row, "native_address", addr, sizeof addr);
    if (!addr[0]) return 0; /* no client address yet: the node is still joining */
    int32_t port = cfg->port;
    if (!cql_cell_is_null(pc) && cql_cell_int(pc, pt, &port, err)) return cassnn_err_wrap(err, "native_port");
    cql_host probe = {0};
    if (read_host_id(r, row, &probe, err)) return -1;
    if (t->proxy_host[0] && !probe.has_host_id) return 0; /* the proxy cannot reach it */
    int i = probe.has_host_id ? topology_find_id(t, probe.host_id) : -1;
    if (i < 0 && !t->proxy_host[0]) i = topology_find_address(t, addr);
    if (i < 0 && (i = host_add(t, addr, port, conns, err)) < 0) return -1;
    cql_host *h = t->hosts[i];
    if (!t->proxy_host[0]) h->port = port;
    read_proxied_address(t, r, row, "native_address", h);
    return read_node(r, row, h, err);
}

/* With discovery, the table holds the nodes the cluster lists: a contact
 * point it does not list (a name for one of them, or no node at all; behind
 * a proxy, a host id the cluster does not have) goes. */
static void drop_unlisted(cql_topology *t, int *first) {
    int n = 0;
    for (int i = 0; i < t->n_hosts; i++) {
        if (i != *first && !t->hosts[i]->listed) {
            host_free(t->hosts[i]);
            continue;
        }
        if (i == *first) *first = n;
        t->hosts[n++] = t->hosts[i];
    }
    t->n_hosts = n;
}

static int cmp_ring(const void *a, const void *b) {
    int64_t x = ((const cql_ring_entry *)a)->token, y = ((const cql_ring_entry *)b)->token;
    return (x > y) - (x < y);
}

static int build_ring(cql_topology *t, cassnn_err *err) {
    size_t n = 0;
    for (int i = 0; i < t->n_hosts; i++) n += (size_t)t->hosts[i]->n_tokens;
    t->ring = malloc((n ? n : 1) * sizeof *t->ring);
    t->route = calloc((size_t)t->n_hosts, sizeof *t->route);
    if (!t->ring || !t->route) return cassnn_err_set(err, "cql: out of memory");
    for (int i = 0; i < t->n_hosts; i++) {
        const cql_host *h = t->hosts[i];
        for (int k = 0; k < h->n_tokens; k++) t->ring[t->n_ring++] = (cql_ring_entry){h->tokens[k], i};
        t->route[i] = (cql_route_host){h->dc, h->rack, 0};
    }
    qsort(t->ring, t->n_ring, sizeof *t->ring, cmp_ring);
    return 0;
}

/* cfg->local_dc when it names a DC of the cluster, else the first node's. */
static int choose_local_dc(cql_topology *t, int first, const cql_config *cfg, cassnn_err *err) {
    if (!cfg->local_dc || !*cfg->local_dc) {
        snprintf(t->local_dc, sizeof t->local_dc, "%s", t->hosts[first]->dc);
        return 0;
    }
    char known[256] = "";
    for (int i = 0; i < t->n_hosts; i++) {
        const char *dc = t->hosts[i]->dc;
        if (!strcmp(dc, cfg->local_dc)) {
            snprintf(t->local_dc, sizeof t->local_dc, "%s", dc);
            return 0;
        }
        if (*dc && !strstr(known, dc))
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", *known ? ", " : "", dc);
    }
    return cassnn_err_set(err, "cql: local data center '%s' has no node (the cluster's: %s)", cfg->local_dc,
                          *known ? known : "none known");
}

int topology_discover(cql_topology *t, cql_conn *c, int *first, const cql_config *cfg, int conns,
                      cassnn_err *err) {
    cql_result *r;
    if (cql_conn_query(c, "SELECT host_id, data_center, rack, tokens, rpc_address FROM system.local WHERE key='local'",
                       NULL, 0, cfg->request_timeout_ms, &r, err))
        return cassnn_err_wrap(err, "reading system.local");
    int rc = 0;
    if (cql_result_row_count(r)) {
        read_proxied_address(t, r, 0, "rpc_address", t->hosts[*first]);
        rc = read_node(r, 0, t->hosts[*first], err);
    }
    cql_result_free(r);
    if (rc) return cassnn_err_wrap(err, "system.local");
    if (cfg->discover_peers) {
        /* Nodes older than Cassandra 4.0 (and DSE) have no peers_v2: the
         * drivers read system.peers then, whose rpc_address is the client
         * address (at the configured port). */
        if (cql_conn_query(c, "SELECT native_address, native_port, host_id, data_center, rack, tokens "
                              "FROM system.peers_v2", NULL, 0, cfg->request_timeout_ms, &r, err) &&
            (err->code != CQL_ERR_INVALID ||
             cql_conn_query(c, "SELECT rpc_address AS native_address, host_id, data_center, rack, tokens "
                               "FROM system.peers", NULL, 0, cfg->request_timeout_ms, &r, err)))
            return cassnn_err_wrap(err, "reading the node's peers");
        for (int32_t row = 0; row < cql_result_row_count(r) && !rc; row++) rc = add_peer(t, r, row, cfg, conns, err);
        cql_result_free(r);
        if (rc) return cassnn_err_wrap(err, "the node's peers");
        drop_unlisted(t, first);
    }
    return build_ring(t, err) || choose_local_dc(t, *first, cfg, err) ? -1 : 0;
}

void topology_free(cql_topology *t) {
    for (int i = 0; i < t->n_hosts; i++) host_free(t->hosts[i]);
    free(t->hosts);
    free(t->ring);
    free(t->route);
    memset(t, 0, sizeof *t);
}
