/* agreement.h - schema agreement: after DDL, wait until every node that is
 * up reports the same schema_version in its own system.local. A node known
 * down is not waited for (it catches up when it comes back), as the DataStax
 * drivers do, so a keyspace can be created with a node down. The public
 * entry is cql_wait_schema_agreement (cql.h). */
#ifndef CASSNN_CQL_AGREEMENT_H
#define CASSNN_CQL_AGREEMENT_H

#include <stddef.h>
#include <stdint.h>

/* What one node said in one round. */
typedef struct cql_agreement_node {
    const char *address;
    int up;              /* 0: down (known, or its connection broke when asked) */
    int answered;        /* 1: version holds its schema_version; 0: up but no answer in time */
    uint8_t version[16];
} cql_agreement_node;

/* 1 when every node that is up answered, with the same version, and at
 * least one did (pure). */
int cql_agreement_reached(const cql_agreement_node *nodes, int n);

/* "127.0.0.1 up, schema 5a1f...; 127.0.0.2 down (not asked); 127.0.0.3 up, no answer" (pure). */
void cql_agreement_describe(const cql_agreement_node *nodes, int n, char *out, size_t cap);

#endif
