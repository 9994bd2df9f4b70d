/* topology.h - the cluster's nodes and its token ring, as the first contact
 * point that answers describes them (system.local, system.peers_v2 or, on
 * nodes without it, system.peers).
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
    char address[64];             /* its native_address, or the contact point as given
                                     (behind a proxy: its host id until discovery) */
    int port;
    uint8_t host_id[16];
    int has_host_id;
    int listed;                   /* discovery read its row (system.local / peers) */
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
    char proxy_host[256];         /* "" = nodes are dialled at their own address; else
                                     every node through this SNI proxy (Astra) */
    int proxy_port;
} cql_topology;

/* Where to connect for a node. The ONE place that decides it, for every
 * pooled and events connection. Directly: the node's own address and port,
 * the configured TLS server name (NULL: its address), which its certificate
 * must carry. Through an SNI proxy (t->proxy_host): the proxy's address and
 * port for every node, SNI = the node's host_id (so the proxy forwards the
 * stream to that node), and the certificate must name the proxy's host, as
 * the DataStax drivers check it. `sni_buf` holds a name made for the node. */
typedef struct cql_dial {
    const char *address;
    int port;
    const char *sni;              /* server name sent; NULL = the address */
    const char *verify_name;      /* name the certificate must carry; NULL = sni */
    char sni_buf[40];
} cql_dial;
void topology_dial(const cql_topology *t, const cql_config *cfg, const cql_host *h, cql_dial *out);

/* Adds one node per contact point ("a,b,c"; "host:port" is not parsed: all
 * use `port`). */
int topology_add_contacts(cql_topology *t, const char *list, int port, int conns_per_host, cassnn_err *err);
/* Behind a proxy: adds one node per host id (the metadata service's contact
 * points), named by its id until discovery reads its address. */
int topology_add_host_ids(cql_topology *t, const uint8_t (*ids)[16], int n, int conns_per_host, cassnn_err *err);

/* Reads system.local (node `first`, connected through c) and, when
 * discover_peers, system.peers_v2: fills in host ids, data centers, racks
 * and tokens, adds the peers, drops contact points the cluster does not
 * list, builds the ring and chooses the local DC (cfg->local_dc, else the
 * first node's). Behind a proxy a node is known by its host id (a peer
 * without one is left out) and its address is the one the cluster gives,
 * so that events about it find it. On return *first is that node's new
 * index. */
int topology_discover(cql_topology *t, cql_conn *c, int *first, const cql_config *cfg, int conns_per_host,
                      cassnn_err *err);

/* Index of the node with this address / host id, -1 when none. */
int topology_find_address(const cql_topology *t, const char *address);
int topology_find_id(const cql_topology *t, const uint8_t id[16]);

void topology_free(cql_topology *t);

#endif
