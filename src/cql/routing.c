/* routing.c - query plans and replica placement (see routing.h). Pure code:
 * everything comes in through the query, nothing is remembered. */
#include "cql/routing.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first ring entry whose token is >= t, wrapping to 0: the
 * owner of t. */
static size_t ring_position(const cql_ring_entry *ring, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring[mid].token < t) lo = mid + 1;
        else hi = mid;
    }
    return lo == n ? 0 : lo;
}

static int contains(const int *v, int n, int x) {
    for (int i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

static int same(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

/* The data center index (into r->dcs) of node h, -1 when r gives its DC no
 * replicas. */
static int dc_index(const cql_replication *r, const cql_route_host *h) {
    for (int d = 0; d < r->n_dcs; d++)
        if (same(r->dcs[d].name, h->dc)) return d;
    return -1;
}

/* SimpleStrategy (and "every node"): the first `want` distinct nodes
 * clockwise from the token. */
static int replicas_clockwise(const cql_route_query *q, size_t at, int want, int *out, int max) {
    int n = 0;
    for (size_t i = 0; i < q->n_ring && n < want && n < max; i++) {
        int h = q->ring[(at + i) % q->n_ring].host;
        if (!contains(out, n, h)) out[n++] = h;
    }
    return n;
}

/* Counts of one data center while NetworkTopologyStrategy places replicas. */
typedef struct dc_state {
    int want;   /* replicas it still may take: min(rf, its nodes) */
    int racks;  /* distinct known racks among its nodes */
    int seen;   /* racks that already hold a replica */
} dc_state;

/* 1 when a replica already chosen in out[0..n) lies in h's DC and rack. */
static int rack_taken(const cql_route_query *q, const int *out, int n, const cql_route_host *h) {
    for (int i = 0; i < n; i++) {
        const cql_route_host *o = &q->hosts[out[i]];
        if (same(o->dc, h->dc) && same(o->rack, h->rack)) return 1;
    }
    return 0;
}

static void dc_states(const cql_route_query *q, const cql_replication *r, dc_state *dcs) {
    for (int d = 0; d < r->n_dcs; d++) {
        int nodes = 0, racks = 0;
        for (int h = 0; h < q->n_hosts; h++) {
            const cql_route_host *x = &q->hosts[h];
            if (!same(x->dc, r->dcs[d].name)) continue;
            nodes++;
            int first = x->rack && *x->rack;
            for (int k = 0; k < h && first; k++)
                first = !(same(q->hosts[k].dc, x->dc) && same(q->hosts[k].rack, x->rack));
            racks += first;
        }
        dcs[d] = (dc_state){r->dcs[d].rf < nodes ? r->dcs[d].rf : nodes, racks, 0};
    }
}

/* NetworkTopologyStrategy, as Cassandra places replicas: walking clockwise,
 * each DC takes nodes of racks it has no replica in yet; a node of an
 * already used rack waits (in ring order) until every rack of its DC holds
 * a replica, then fills the remaining places. */
static int replicas_nts(const cql_route_query *q, size_t at, int *out, int max) {
    const cql_replication *r = q->replication;
    dc_state dcs[CQL_REPL_MAX_DCS];
    dc_states(q, r, dcs);
    int total = 0; /* replicas to place, all DCs */
    for (int d = 0; d < r->n_dcs; d++) total += dcs[d].want;
    int *waiting = malloc((size_t)q->n_hosts * sizeof *waiting), n_waiting = 0, n = 0;
    if (!waiting) return 0;
    for (size_t i = 0; i < q->n_ring && n < max && n < total; i++) {
        int h = q->ring[(at + i) % q->n_ring].host, d = dc_index(r, &q->hosts[h]);
        if (d < 0 || dcs[d].want == 0 || contains(out, n, h) || contains(waiting, n_waiting, h)) continue;
        const cql_route_host *x = &q->hosts[h];
        int unknown_rack = !x->rack || !*x->rack;
        if (unknown_rack || dcs[d].seen == dcs[d].racks) {
            out[n++] = h;
            dcs[d].want--;
        } else if (rack_taken(q, out, n, x)) {
            waiting[n_waiting++] = h;
        } else {
            out[n++] = h;
            dcs[d].want--;
            if (++dcs[d].seen == dcs[d].racks) /* every rack used: the waiting nodes' turn */
                for (int k = 0; k < n_waiting && dcs[d].want > 0 && n < max; k++)
                    if (waiting[k] >= 0 && same(q->hosts[waiting[k]].dc, x->dc)) {
                        out[n++] = waiting[k];
                        waiting[k] = -1;
                        dcs[d].want--;
                    }
        }
    }
    free(waiting);
    return n;
}

int cql_replicas(const cql_route_query *q, int64_t token, int *out, int max) {
    if (q->n_ring == 0 || q->n_hosts == 0) return 0;
    const cql_repl_strategy s = q->replication ? q->replication->strategy : CQL_REPL_UNKNOWN;
    size_t at = ring_position(q->ring, q->n_ring, token);
    switch (s) {
    case CQL_REPL_LOCAL: return 0;
    case CQL_REPL_SIMPLE: return replicas_clockwise(q, at, q->replication->rf, out, max);
    case CQL_REPL_NTS: return replicas_nts(q, at, out, max);
    default: return replicas_clockwise(q, at, q->n_hosts, out, max);
    }
}

static int is_local(const cql_route_query *q, int h) {
    const char *dc = q->hosts[h].dc;
    return !q->local_dc || !*q->local_dc || !dc || !*dc || !strcmp(dc, q->local_dc);
}

/* Appends the up nodes of the wanted locality: first those of `first` (in
 * their order), then every other one round-robin from q->rr. */
static int append(const cql_route_query *q, int local, const int *first, int n_first, int *out, int n,
                  int max) {
    for (int i = 0; i < n_first && n < max; i++) {
        int h = first[i];
        if (q->hosts[h].up && is_local(q, h) == local && !contains(out, n, h)) out[n++] = h;
    }
    for (int i = 0; i < q->n_hosts && n < max; i++) {
        int h = (int)((q->rr + (unsigned)i) % (unsigned)q->n_hosts);
        if (q->hosts[h].up && is_local(q, h) == local && !contains(out, n, h)) out[n++] = h;
    }
    return n;
}

int cql_route(const cql_route_query *q, int *out, int max) {
    if (q->n_hosts <= 0 || max <= 0) return 0;
    int stack[64], *replicas = q->n_hosts <= 64 ? stack : malloc((size_t)q->n_hosts * sizeof *replicas);
    if (!replicas) return 0;
    int n_replicas = q->has_token ? cql_replicas(q, q->token, replicas, q->n_hosts) : 0;
    int n = append(q, 1, replicas, n_replicas, out, 0, max);
    if (q->allow_remote_dcs) n = append(q, 0, replicas, n_replicas, out, n, max);
    if (replicas != stack) free(replicas);
    return n;
}
