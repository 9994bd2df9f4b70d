/* kept.h - objects replaced while other threads may still read them (a
 * keyspace's old replication, a statement's old PREPARED result): they are
 * kept, and freed when the session closes. The node is allocated before
 * the swap, so that keeping cannot fail once the new object is in place. */
#ifndef CASSNN_CQL_KEPT_H
#define CASSNN_CQL_KEPT_H

#include <stdlib.h>

typedef struct cql_kept {
    void *obj;
    void (*free_fn)(void *);
    struct cql_kept *next;
} cql_kept;

static inline cql_kept *cql_kept_node(void) { return calloc(1, sizeof(cql_kept)); }

/* Keeps obj (may be NULL) with node; the caller serialises pushes. */
static inline void cql_kept_push(cql_kept **list, cql_kept *node, void *obj, void (*free_fn)(void *)) {
    node->obj = obj;
    node->free_fn = free_fn;
    node->next = *list;
    *list = node;
}

static inline void cql_kept_free_all(cql_kept **list) {
    while (*list) {
        cql_kept *k = *list;
        *list = k->next;
        if (k->obj) k->free_fn(k->obj);
        free(k);
    }
}

#endif
