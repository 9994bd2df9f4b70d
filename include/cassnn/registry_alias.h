/* registry_alias.h - names for models: KS.model_aliases (name text PRIMARY
 * KEY, model_id uuid, updated timestamp), beside the tutorial's tables.
 *
 * An alias points at one checkpoint id ("production" -> 5f0c...); moving it
 * is one upsert, so whoever follows the alias (cassnn serve) sees either the
 * old id or the new one, never anything in between. Rolling back is setting
 * it again. "best" is built in: the models_test row with the highest
 * accuracy (registry_best), never stored.
 *
 * Every function is as thread-safe as the cql_session it is given.
 */
#ifndef CASSNN_REGISTRY_ALIAS_H
#define CASSNN_REGISTRY_ALIAS_H

#include <stddef.h>
#include <stdint.h>

#include "cassnn/cql.h"

#define REGISTRY_ALIAS_BEST "best"

typedef struct registry_alias {
    char name[65];
    uint8_t model_id[16];
    int64_t updated_ms;     /* when it was last set */
} registry_alias;

/* 1 when name can be an alias: 1..64 of letters, digits, '_', '-', '.',
 * not a uuid and not "best". */
int registry_alias_valid_name(const char *name);

/* Points name at id (the model must exist in models_test or models_train).
 * Creates the table when the keyspace predates it. */
int registry_alias_set(cql_session *s, const char *keyspace, const char *name,
                       const uint8_t id[16], cassnn_err *err);

/* The id name points at. Fails (naming the alias) when there is none. */
int registry_alias_get(cql_session *s, const char *keyspace, const char *name, uint8_t id[16],
                       cassnn_err *err);

/* Removes name; fails when it does not exist. */
int registry_alias_delete(cql_session *s, const char *keyspace, const char *name,
                          cassnn_err *err);

/* Every stored alias, sorted by name, in *out (malloc'ed; the caller frees
 * it). A keyspace without the table has none. */
int registry_alias_list(cql_session *s, const char *keyspace, registry_alias **out, size_t *n,
                        cassnn_err *err);

/* What a user may write where a model is expected: a uuid, "best" or an
 * alias. Resolves it to an id. */
int registry_model_resolve(cql_session *s, const char *keyspace, const char *model,
                           uint8_t id[16], cassnn_err *err);

#endif
