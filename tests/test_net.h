/* test_net.h - the loopback addresses of the throwaway nodes some tests
 * start for themselves: $CASSNN_SUBNET.<last> (default 127.0.0.<last>), so
 * that two checkouts testing on one machine keep to their own addresses
 * (see tools/cassandra/cassandra-node). */
#ifndef CASSNN_TESTS_TEST_NET_H
#define CASSNN_TESTS_TEST_NET_H

#include <stdio.h>
#include <stdlib.h>

/* The subnet's first three octets. */
static inline const char *test_subnet(void) {
    const char *s = getenv("CASSNN_SUBNET");
    return s && *s ? s : "127.0.0";
}

/* "<subnet>.<last>" into out (at least 32 bytes); returns out. */
static inline char *test_node_addr(char out[32], int last) {
    snprintf(out, 32, "%.20s.%d", test_subnet(), last);
    return out;
}

#endif
