/* schema.h - the keyspace, tables and indexes cassnn keeps its data in.
 *
 * Exactly the reference tutorial's tables and types:
 *   raw_train, raw_test, raw_predict  (id int PRIMARY KEY, label int, pixels list<int>)
 *   models_train (id uuid PRIMARY KEY, network blob, optimizer blob,
 *                 upload_date timestamp, epoch int, batch_percent text, loss float)
 *   models_test  (id uuid PRIMARY KEY, network blob, optimizer blob,
 *                 upload_date timestamp, loss float, accuracy float)
 * plus model_aliases (name text PRIMARY KEY, model_id uuid, updated timestamp;
 * see registry_alias.h) and SAI indexes on models_train(loss), models_test(loss) and
 * models_test(accuracy). The optional blob layout adds raw_train_blob,
 * raw_test_blob, raw_predict_blob (id int PRIMARY KEY, label int, pixels blob):
 * one 784-byte cell per image instead of a 784-element collection.
 *
 * Creating is idempotent (IF NOT EXISTS) and waits for schema agreement. A
 * keyspace that exists is used as it is (its replication is not touched, and
 * no CREATE KEYSPACE is sent: DataStax Astra refuses one). A table that
 * already exists with other columns or types is reported, never altered: the
 * tool does not own data it did not create.
 */
#ifndef CASSNN_SCHEMA_H
#define CASSNN_SCHEMA_H

#include "cassnn/cql.h"

typedef struct registry_schema_options {
    const char *keyspace;    /* [A-Za-z0-9_]{1,48} */
    int replication_factor;  /* >= 1 */
    const char *datacenter;  /* NULL: SimpleStrategy; else NetworkTopologyStrategy {dc: rf} */
    int blob_layout;         /* 1: also the raw_*_blob tables */
} registry_schema_options;

/* Raw-data table names of each layout, in the order train, test, predict. */
extern const char *const registry_raw_tables[3];
extern const char *const registry_raw_blob_tables[3];

/* 1 when name is a valid unquoted CQL identifier cassnn accepts for a keyspace
 * or table (letters, digits, underscore; 1..48 characters). */
int registry_valid_name(const char *name);

/* Creates what is missing and checks what exists (see above). */
int registry_schema_create(cql_session *s, const registry_schema_options *o, cassnn_err *err);

/* Makes sure ks.table exists with the columns and types of a raw table of
 * its layout (blob when the name ends in _blob): creates it when missing (for
 * `--png DIR --table T` with a table of the user's naming), reports it when
 * it differs. The keyspace must exist. */
int registry_schema_ensure_raw_table(cql_session *s, const char *keyspace, const char *table,
                                     cassnn_err *err);

/* Creates keyspace.model_aliases when missing (a keyspace made before it
 * existed), checks it when present. */
int registry_schema_ensure_aliases(cql_session *s, const char *keyspace, cassnn_err *err);

#endif
