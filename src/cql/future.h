/* future.h - futures: a request whose result a caller thread waits for
 * (cql_execute_async / cql_future_wait in cql.h). Private helper for the
 * other cql files that wait on requests (paging, batches). */
#ifndef CASSNN_CQL_FUTURE_H
#define CASSNN_CQL_FUTURE_H

#include "cql/request.h"

/* Submits rq (consumed either way) and returns its future; NULL (err set)
 * when it could not be sent. */
cql_future *future_submit(cql_session *s, request *rq, cassnn_err *err);

#endif
