/* topology.h - the cluster's nodes and its token ring, as the first contact
 * point that answers describes them (system.local, system.peers_v2).
 *
 * The table is built while the session opens and fixed afterwards (a node
 * that joins later is not used until the next session), so reading it needs
 * no lock; only each node's pool (pool.h) changes. Nodes are identified by
 * their host_id; with discovery on, the contact points are only the way in
 * and the table holds exactly the nodes the cluster lists. */
#ifndef CASSNN_CQL_TOPOLOGY_H
#define CASSNN_CQL_TOPOLOGY_H

#include "cassnn/cql.h"
#include "cql/pool.h"
#include "cql/routing.h"

typedef struct cql_host {
    char address[64];             /* its native_address, or the contact point as given */
    int port;
    uint8_t host_id[16];
    int has_host_id;
    char dc[CQL_NAME_MAX], rack[CQL_NAME_MAX]; /* "" until known */
    int64_t *tokens;
    int n_tokens;
    cql_pool pool;
} cql_host;

typedef struct cql_topology {
    cql_host **hosts;
    int n_hosts;
    cql_ring_entry *ring;         /* every node's tokens, sorted */
    size_t n_ring;
    cql_route_host *route;        /* each node's dc and rack for routing (up: per request) */
    char local_dc[CQL_NAME_MAX];  /* "" = none */
} cql_topology;

/* Where to connect for a node. The ONE place that decides it, for every
 * pooled and events connection: today the node's own address and port, and
 * the configured TLS server name (NULL: its address). A proxy mode (Astra's
 * SNI proxy: every node through one address, SNI = the node's host_id)
 * changes only this function. `sni_buf` holds a name made for the node. */
typedef struct cql_dial {
    const char *address;
    int port;
    const char *sni;
    char sni_buf[40];
} cql_dial;
void topology_dial(const cql_config *cfg, const cql_host *h, cql_dial *out);

/* Adds one node per contact point ("a,b,c"; "host:port" is not parsed: all
 * use `port`). */
int topology_add_contacts(cql_topology *t, const char *list, int port, int conns_per_host, cassnn_err *err);

/* Reads system.local (node `first`, connected through c) and, when
 * discover_peers, system.peers_v2: fills in host ids, data centers, racks
 * and tokens, adds the peers, drops contact points the cluster does not
 * list, builds the ring and chooses the local DC (cfg->local_dc, else the
 * first node's). On return *first is that node's new index. */
int topology_discover(cql_topology *t, cql_conn *c, int *first, const cql_config *cfg, int conns_per_host,
                      cassnn_err *err);

/* Index of the node with this address / host id, -1 when none. */
int topology_find_address(const cql_topology *t, const char *address);
int topology_find_id(const cql_topology *t, const uint8_t id[16]);

void topology_free(cql_topology *t);

#endif
