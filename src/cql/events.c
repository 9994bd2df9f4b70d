/* events.c - the events connection and what each event changes (see
 * events.h). */
#include "cql/events.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cql/session.h"

static void str_copy(char *out, size_t cap, cql_str v) {
    snprintf(out, cap, "%.*s", (int)(v.len < cap ? v.len : cap - 1), v.p ? v.p : "");
}

/* A status or topology change: the node table's state follows at once. */
static void node_changed(cql_session *s, const char *change, const char *addr) {
    int i = topology_find_address(&s->topo, addr);
    if (i < 0) return; /* a node this session does not know (joined after it opened) */
    cql_pool *p = &s->topo.hosts[i]->pool;
    if (!strcmp(change, "DOWN")) pool_mark_down(p, "the cluster reported it DOWN");
    else if (!strcmp(change, "REMOVED_NODE")) pool_mark_down(p, "it was removed from the cluster");
    else if (!strcmp(change, "UP") || !strcmp(change, "NEW_NODE")) {
        pool_reconnect_soon(p);
        worker_wake(s);
    }
}

/* Runs on the events connection's reader thread: must not block. */
static void on_cluster_event(void *user, const cql_event *ev) {
    cql_session *s = user;
    char type[32], change[32], addr[64] = "", ks[256] = "", name[256] = "";
    str_copy(type, sizeof type, ev->type);
    if (!strcmp(type, "SCHEMA_CHANGE")) {
        str_copy(change, sizeof change, ev->schema.change);
        str_copy(ks, sizeof ks, ev->schema.keyspace);
        str_copy(name, sizeof name, ev->schema.name);
        if (ev->schema.target.len == 8 && !memcmp(ev->schema.target.p, "KEYSPACE", 8))
            keyspaces_mark_stale(&s->keyspaces, ks);
    } else {
        str_copy(change, sizeof change, ev->change);
        if (!inet_ntop(ev->node.addr_len == 16 ? AF_INET6 : AF_INET, ev->node.addr, addr, sizeof addr))
            addr[0] = '\0';
        node_changed(s, change, addr);
    }
    if (s->cfg.on_event)
        s->cfg.on_event(s->cfg.event_user, &(cql_cluster_event){type, change, addr, ks, name});
}

void events_maintain(cql_session *s) {
    cql_events *ev = &s->events;
    if (!s->cfg.events || cql_now_ms() < ev->check_at_ms) return;
    ev->check_at_ms = cql_now_ms() + 1000;
    if (ev->conn && !cql_conn_is_dead(ev->conn)) return;
    cql_conn_close(ev->conn);
    ev->conn = NULL;
    for (int i = 0; i < s->topo.n_hosts && !ev->conn; i++) {
        cql_host *h = s->topo.hosts[i];
        if (!pool_is_up(&h->pool)) continue;
        cql_dial d;
        cql_conn_opts o = session_conn_opts(s, h, &d);
        o.on_event = on_cluster_event;
        o.event_user = s;
        cassnn_err e = {0};
        if (cql_conn_open(&ev->conn, d.address, d.port, &o, &e)) ev->conn = NULL;
    }
}

void events_close(cql_session *s) {
    cql_conn_close(s->events.conn);
    s->events.conn = NULL;
}
