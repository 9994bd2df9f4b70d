/* codec_internal.h - codec pieces shared between codec.c and result.c but
 * not part of the public contract. */
#ifndef CASSNN_CQL_CODEC_INTERNAL_H
#define CASSNN_CQL_CODEC_INTERNAL_H

#include "cassnn/cql_codec.h"

/* <change_type><target><options> of a SCHEMA_CHANGE result or event. */
int cql_rd_schema_change(cql_rd *r, cql_schema_change *sc, cassnn_err *err);

#endif
